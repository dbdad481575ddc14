import { collectDefaultMetrics, Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from "prom-client";

/**
 * One registry, two views: `snapshot()` gives the flat JSON that Mesos operators know
 * (`master/tasks_running`, `runtime/dropped_messages`, `allocator/allocation_run_ms/p99`),
 * and `prometheus` is a prom-client registry exposing the same counters and gauges in the
 * Prometheus text format. A sampled value (a latency) is a Prometheus histogram there
 * (`_bucket`/`_sum`/`_count`, which add up across nodes, unlike percentiles), and the text
 * also carries the process's own metrics (event-loop lag, heap, CPU, GC, handles), once per
 * process whichever node's endpoint is scraped.
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
  /** The Prometheus histogram fed with every observation. */
  histogram: PromHistogram | undefined;
  constructor(readonly key: string, private readonly size = 1000) {}

  observe(v: number): void {
    this.histogram?.observe(v);
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

/** Histogram buckets for milliseconds (keys ending in _ms): 0.1 ms to 10 s. */
export const LATENCY_MS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
/** Histogram buckets for counts (records per batch, …): powers of two to 4096. */
export const COUNT_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

let processRegistry: Registry | undefined;

/** The process's default metrics (prefix dcos_process_… / dcos_nodejs_…), collected once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: "dcos_" });
  }
  return processRegistry;
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

  /** Forgets a gauge (a role's quota was removed); a no-op for an unknown key. */
  remove(key: string): void {
    if (!this.gauges.delete(key)) return;
    this.prometheus.removeSingleMetric(prometheusName(key));
  }

  /**
   * A rolling sample window, reported in the snapshot as key/count, key/p50, key/p90,
   * key/p99, key/max, and to Prometheus as a histogram (milliseconds buckets for a key
   * ending in _ms, powers of two otherwise).
   */
  sampled(key: string, help = key): Samples {
    let s = this.samples.get(key);
    if (s) return s;
    s = new Samples(key);
    this.samples.set(key, s);
    s.histogram = new PromHistogram({
      name: prometheusName(key),
      help,
      buckets: key.endsWith("_ms") ? LATENCY_MS_BUCKETS : COUNT_BUCKETS,
      registers: [this.prometheus],
    });
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

  /** The same values in the Prometheus text exposition format, then the process's metrics. */
  async prometheusText(): Promise<string> {
    const [own, processText] = await Promise.all([this.prometheus.metrics(), processMetrics().metrics()]);
    return `${own}\n${processText}`;
  }
}
