/**
 * One point of the web UI's resource plots, as the master's /ui/resources answers it and
 * the browser keeps it, and the window both keep them in (shared by both sides: no imports).
 */

/** Cluster-wide resources at one time: totals of the admitted agents and what tasks and executors use. */
export interface ResourceSample {
  /** Milliseconds since the epoch. */
  time: number;
  cpusTotal: number;
  cpusUsed: number;
  memTotal: number;
  memUsed: number;
  diskTotal: number;
  diskUsed: number;
  tasksRunning: number;
  agents: number;
}

/**
 * Samples within the last `windowMs`, oldest first: a sample not newer than the last one is
 * ignored (a poll answered late), and those that leave the window are dropped.
 */
export class SampleWindow {
  protected samples: ResourceSample[] = [];

  constructor(public windowMs: number) {}

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

  values(): readonly ResourceSample[] {
    return this.samples;
  }

  latest(): ResourceSample | undefined {
    return this.samples[this.samples.length - 1];
  }
}
