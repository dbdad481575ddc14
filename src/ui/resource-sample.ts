/**
 * One point of the web UI's resource plots, as the master's /ui/resources answers it and
 * the browser keeps it (shared by both sides: no imports here).
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
