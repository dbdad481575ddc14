/**
 * The resource time series behind the overview's plots: the master's last hour on load,
 * then the browser's own samples appended; samples older than the window are dropped and
 * a sample not newer than the last one is ignored (a poll answered late).
 */
import type { ResourceSample } from "./api.js";

export type ResourceKind = "cpus" | "mem" | "disk";

/** uPlot's columns: times in seconds, then used, then total. */
export type Columns = [number[], number[], number[]];

export class ResourceSeries {
  private samples: ResourceSample[] = [];

  constructor(public windowMs: number) {}

  /** Replaces everything with the master's history (oldest first). */
  load(samples: readonly ResourceSample[]): void {
    this.samples = [];
    for (const s of samples) this.add(s);
  }

  /** Appends a sample; returns whether it was kept. */
  add(sample: ResourceSample): boolean {
    const last = this.samples[this.samples.length - 1];
    if (last && sample.time <= last.time) return false;
    this.samples.push(sample);
    const oldest = sample.time - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.time < oldest) drop++;
    if (drop > 0) this.samples.splice(0, drop);
    return true;
  }

  get length(): number {
    return this.samples.length;
  }

  latest(): ResourceSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  columns(kind: ResourceKind): Columns {
    const used = `${kind}Used` as const;
    const total = `${kind}Total` as const;
    return [this.samples.map((s) => s.time / 1000), this.samples.map((s) => s[used]), this.samples.map((s) => s[total])];
  }
}
