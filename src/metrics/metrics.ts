import type { Registry } from "prom-client";

/**
 * One registry, two views: `snapshot()` gives the flat JSON that Mesos operators know
 * (`master/tasks_running`, `runtime/dropped_messages`, `allocator/allocation_run_ms/p99`),
 * and `prometheus` is a prom-client registry exposing the same counters and gauges in the
 * Prometheus text format. A sampled value (a latency) is a Prometheus histogram there
 * (`_bucket`/`_sum`/`_count`, which add up across nodes, unlike percentiles), and the text
 * also carries the process's own metrics (event-loop lag, heap, CPU, GC, handles), once per
 * process whichever node's endpoint is scraped.
 *
 * Counters are plain numbers on the hot path and a sample is a bucket count; the text is
 * written when scraped. prom-client (a twentieth of a second to load, which every process,
 * the CLI and executors included, would pay at start) loads only then, for the process's
 * own metrics.
 */
export class Counter {
  value = 0;
  constructor(readonly key: string) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** A rolling window of samples (e.g. allocation round times) with percentiles, and a histogram of all of them. */
export class Samples {
  private readonly window: number[] = [];
  private next = 0;
  count = 0;
  sum = 0;
  /** Observations per histogram bucket (`bounds[i]` is its upper bound; the last is +Inf), not cumulative. */
  readonly bucketCounts: number[];
  constructor(
    readonly key: string,
    private readonly size = 1000,
    readonly bounds: readonly number[] = key.endsWith("_ms") ? LATENCY_MS_BUCKETS : COUNT_BUCKETS,
  ) {
    this.bucketCounts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    let b = 0;
    while (b < this.bounds.length && v > this.bounds[b]!) b++;
    this.bucketCounts[b]!++;
    if (this.window.length < this.size) this.window.push(v);
    else {
      this.window[this.next] = v;
      this.next = (this.next + 1) % this.size;
    }
    this.count++;
    this.sum += v;
  }

  percentile(p: number): number {
    return this.percentiles([p])[0]!;
  }

  /** Several percentiles from one sort of the window (a snapshot reads five per sample). */
  percentiles(ps: readonly number[]): number[] {
    if (this.window.length === 0) return ps.map(() => 0);
    const sorted = Float64Array.from(this.window).sort();
    return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
  }
}

export function prometheusName(key: string): string {
  return "dcos_" + key.replace(/[^a-zA-Z0-9_]/g, "_");
}

/** Histogram buckets for milliseconds (keys ending in _ms): 0.1 ms to 10 s. */
export const LATENCY_MS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
/** Histogram buckets for counts (records per batch, …): powers of two to 4096. */
export const COUNT_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

let processRegistry: Promise<Registry> | undefined;

/** The process's default metrics (prefix dcos_process_… / dcos_nodejs_…), collected once per process from the first scrape. */
function processMetrics(): Promise<Registry> {
  processRegistry ??= import("prom-client").then(({ collectDefaultMetrics, Registry }) => {
    const r = new Registry();
    collectDefaultMetrics({ register: r, prefix: "dcos_" });
    return r;
  });
  return processRegistry;
}

/** The Prometheus text format's content type (version 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function helpText(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Metrics {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, () => number>();
  private readonly samples = new Map<string, Samples>();
  private readonly help = new Map<string, string>();

  /** The counter named key, created on first use (idempotent). */
  counter(key: string, help = key): Counter {
    let c = this.counters.get(key);
    if (c) return c;
    c = new Counter(key);
    this.counters.set(key, c);
    this.help.set(key, help);
    return c;
  }

  /** A gauge whose value is read when a snapshot or scrape asks for it. */
  gauge(key: string, read: () => number, help = key): void {
    if (!this.gauges.has(key)) this.help.set(key, help);
    this.gauges.set(key, read);
  }

  /** Forgets a gauge (a role's quota was removed); a no-op for an unknown key. */
  remove(key: string): void {
    if (this.gauges.delete(key)) this.help.delete(key);
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
    this.help.set(key, help);
    return s;
  }


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
      const [p50, p90, p99, max] = s.percentiles([50, 90, 99, 100]);
      out[k] = s.count === 0 ? 0 : max!;
      out[`${k}/count`] = s.count;
      out[`${k}/p50`] = p50!;
      out[`${k}/p90`] = p90!;
      out[`${k}/p99`] = p99!;
      out[`${k}/max`] = max!;
    }
    return out;
  }

  /** The same values in the Prometheus text exposition format, then the process's metrics. */
  async prometheusText(): Promise<string> {
    const lines: string[] = [];
    const head = (name: string, key: string, type: string): void => {
      lines.push(`# HELP ${name} ${helpText(this.help.get(key) ?? key)}`, `# TYPE ${name} ${type}`);
    };
    for (const [k, c] of this.counters) {
      const name = prometheusName(k) + "_total";
      head(name, k, "counter");
      lines.push(`${name} ${valueText(c.value)}`);
    }
    for (const [k, g] of this.gauges) {
      const name = prometheusName(k);
      head(name, k, "gauge");
      lines.push(`${name} ${valueText(g())}`);
    }
    for (const [k, s] of this.samples) {
      const name = prometheusName(k);
      head(name, k, "histogram");
      let cumulative = 0;
      s.bounds.forEach((le, i) => {
        cumulative += s.bucketCounts[i]!;
        lines.push(`${name}_bucket{le="${le}"} ${cumulative}`);
      });
      lines.push(`${name}_bucket{le="+Inf"} ${s.count}`, `${name}_sum ${valueText(s.sum)}`, `${name}_count ${s.count}`);
    }
    const processText = await (await processMetrics()).metrics();
    return `${lines.join("\n")}\n\n${processText}`;
  }
}
