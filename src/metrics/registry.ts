import { Counter as PromCounter, Gauge as PromGauge, Registry } from "prom-client";

/**
 * One registry, two views: `snapshot()` gives the flat JSON that Mesos operators know
 * (`master/tasks_running`, `runtime/dropped_messages`), and `prometheus` is a prom-client
 * registry exposing the same values in the Prometheus text format.
 *
 * Counters are plain numbers on the hot path; prom-client reads them when scraped.
 */
export class Counter {
  value = 0;
  constructor(readonly key: string) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** A rolling window of samples (e.g. allocation round times) with percentiles. */
export class Samples {
  private readonly window: number[] = [];
  private next = 0;
  count = 0;
  sum = 0;
  constructor(readonly key: string, private readonly size = 1000) {}

  observe(v: number): void {
    if (this.window.length < this.size) this.window.push(v);
    else {
      this.window[this.next] = v;
      this.next = (this.next + 1) % this.size;
    }
    this.count++;
    this.sum += v;
  }

  percentile(p: number): number {
    if (this.window.length === 0) return 0;
    const sorted = [...this.window].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }
}

export function prometheusName(key: string): string {
  return "dcos_" + key.replace(/[^a-zA-Z0-9_]/g, "_");
}

export class Metrics {
  readonly prometheus = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, () => number>();
  private readonly samples = new Map<string, Samples>();

  /** The counter named key, created on first use (idempotent). */
  counter(key: string, help = key): Counter {
    let c = this.counters.get(key);
    if (c) return c;
    c = new Counter(key);
    this.counters.set(key, c);
    const counter = c;
    new PromCounter({
      name: prometheusName(key) + "_total",
      help,
      registers: [this.prometheus],
      collect() {
        this.reset();
        this.inc(counter.value);
      },
    });
    return c;
  }

  /** A gauge whose value is read when a snapshot or scrape asks for it. */
  gauge(key: string, read: () => number, help = key): void {
    if (this.gauges.has(key)) {
      this.gauges.set(key, read);
      return;
    }
    this.gauges.set(key, read);
    const gauges = this.gauges;
    new PromGauge({
      name: prometheusName(key),
      help,
      registers: [this.prometheus],
      collect() {
        this.set(gauges.get(key)!());
      },
    });
  }

  /** A rolling sample window, reported as key/count, key/p50, key/p90, key/p99, key/max. */
  sampled(key: string, help = key): Samples {
    let s = this.samples.get(key);
    if (s) return s;
    s = new Samples(key);
    this.samples.set(key, s);
    const samples = s;
    for (const [suffix, read] of Object.entries(Metrics.sampleViews)) {
      new PromGauge({
        name: prometheusName(`${key}_${suffix}`),
        help: `${help} (${suffix})`,
        registers: [this.prometheus],
        collect() {
          this.set(read(samples));
        },
      });
    }
    return s;
  }

  private static readonly sampleViews: Record<string, (s: Samples) => number> = {
    count: (s) => s.count,
    p50: (s) => s.percentile(50),
    p90: (s) => s.percentile(90),
    p99: (s) => s.percentile(99),
    max: (s) => s.percentile(100),
  };

  /** Current value of one key (counter or gauge), or undefined. */
  value(key: string): number | undefined {
    const c = this.counters.get(key);
    if (c) return c.value;
    const g = this.gauges.get(key);
    return g ? g() : undefined;
  }

  /** Flat JSON in the Mesos /metrics/snapshot shape. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, g] of this.gauges) out[k] = g();
    for (const [k, s] of this.samples) {
      out[k] = s.count === 0 ? 0 : s.percentile(100);
      for (const [suffix, read] of Object.entries(Metrics.sampleViews)) out[`${k}/${suffix}`] = read(s);
    }
    return out;
  }

  /** The same values in the Prometheus text exposition format. */
  async prometheusText(): Promise<string> {
    return this.prometheus.metrics();
  }
}
