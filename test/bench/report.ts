import { loadavg } from "node:os";

/** One figure of a benchmark, printed as one JSON line (see DESIGN.md, "Performance and benchmarks"). */
export interface Figure {
  suite: string;
  name: string;
  value: number;
  unit: string;
  better: "higher" | "lower";
  /** Free-form context: sizes, counts, the baseline a ratio compares with. */
  [extra: string]: unknown;
}

export class Reporter {
  readonly figures: Figure[] = [];
  constructor(readonly suite: string) {}

  figure(name: string, value: number, unit: string, better: "higher" | "lower", extra: Record<string, unknown> = {}): void {
    const f: Figure = { suite: this.suite, name, value: round(value), unit, better, ...extra };
    this.figures.push(f);
    process.stdout.write(JSON.stringify(f) + "\n");
  }

  /** A measured figure against its same-run baseline: prints both and their ratio. */
  compare(name: string, value: number, baselineName: string, baseline: number, unit: string, better: "higher" | "lower"): void {
    this.figure(baselineName, baseline, unit, better);
    this.figure(name, value, unit, better);
    this.figure(`${name}_vs_${baselineName}`, baseline === 0 ? 0 : value / baseline, "ratio", better);
  }
}

/**
 * Collects the figures of N repeats of a bench without printing them; `medians` then prints
 * each figure once into `report`: the median of its values (with every value, in the order
 * of the repeats, as `repeats`). On a noisy machine one run of a few seconds says little; the
 * median of several, variants interleaved, separates them better.
 */
export class RepeatReporter extends Reporter {
  private readonly values = new Map<string, { first: Figure; values: number[] }>();

  override figure(name: string, value: number, unit: string, better: "higher" | "lower", extra: Record<string, unknown> = {}): void {
    const seen = this.values.get(name);
    if (seen) seen.values.push(value);
    else this.values.set(name, { first: { suite: this.suite, name, value, unit, better, ...extra }, values: [value] });
  }

  medians(report: Reporter): void {
    for (const { first, values } of this.values.values()) {
      const { suite: _suite, name, value: _value, unit, better, ...extra } = first;
      report.figure(name, median(values), unit, better, { ...extra, repeats: values.map(round) });
    }
  }
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000;
}

/** Median of a list (the machine is noisy: quote medians). */
export function median(xs: number[]): number {
  return percentile(xs, 50);
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** `uptime` load now (1 min; 5 and 15 min beside it) as the figure uptime_load_1m_<when>. */
export function reportLoad(report: Reporter, when: string): void {
  const [l1, l5, l15] = loadavg();
  report.figure(`uptime_load_1m_${when}`, l1!, "load", "lower", { load_5m: Math.round(l5! * 100) / 100, load_15m: Math.round(l15! * 100) / 100 });
}
