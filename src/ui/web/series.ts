/**
 * The resource time series behind the overview's plots: the master's last hour on load,
 * then the browser's own samples appended (see SampleWindow), as uPlot's columns.
 */
import { SampleWindow, type ResourceSample } from "../resource-sample.js";

export type ResourceKind = "cpus" | "mem" | "disk";

/** uPlot's columns: times in seconds, then used, then total. */
export type Columns = [number[], number[], number[]];

export class ResourceSeries extends SampleWindow {
  /** Replaces everything with the master's history (oldest first). */
  load(samples: readonly ResourceSample[]): void {
    this.samples = [];
    for (const s of samples) this.add(s);
  }

  get length(): number {
    return this.samples.length;
  }

  columns(kind: ResourceKind): Columns {
    const used = `${kind}Used` as const;
    const total = `${kind}Total` as const;
    return [this.samples.map((s) => s.time / 1000), this.samples.map((s) => s[used]), this.samples.map((s) => s[total])];
  }
}
