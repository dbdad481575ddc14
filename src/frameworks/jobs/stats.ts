/** A bounded window of numbers (run durations) with percentiles, newest replacing oldest. */
export class Window {
  private values: number[] = [];
  private next = 0;
  constructor(readonly capacity: number) {}

  add(v: number): void {
    if (this.values.length < this.capacity) this.values.push(v);
    else this.values[this.next] = v;
    this.next = (this.next + 1) % this.capacity;
  }

  get count(): number {
    return this.values.length;
  }

  toArray(): number[] {
    return this.values.length < this.capacity ? [...this.values] : [...this.values.slice(this.next), ...this.values.slice(0, this.next)];
  }

  static from(capacity: number, values: readonly number[]): Window {
    const w = new Window(capacity);
    for (const v of values) w.add(v);
    return w;
  }
}

/** Nearest-rank percentile p (0..100) of values; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Chronos's statistic names for GET /v1/scheduler/stats/{name}. */
export const STAT_NAMES = { "99thPercentile": 99, "95thPercentile": 95, "75thPercentile": 75, median: 50, mean: -1 } as const;
export type StatName = keyof typeof STAT_NAMES;

export function statOf(values: readonly number[], name: StatName): number | undefined {
  const p = STAT_NAMES[name];
  return p < 0 ? mean(values) : percentile(values, p);
}
