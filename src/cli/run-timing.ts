/**
 * Where the time of a `dcos-node run` goes: with `DCOS_NODE_RUN_TIMING=1` in its
 * environment, the CLI writes one line per phase to stderr,
 *
 *   timing <phase> <ms> <cpu ms>
 *
 * ms since the process's start (performance.now(): the time origin is the process's own
 * start, before Node boots) and the CPU this process used so far. Phases in order: main
 * (main.js runs), cli (the run command's code is loaded, bundled or not), modules (gRPC,
 * protobuf and the framework loaded), tls (client certificates read), subscribe (the call
 * goes out), subscribed, offer, accept, then one per task state (TASK_STARTING,
 * TASK_RUNNING, …). test/bench/cli-run.ts reads them. A file with no imports: main.ts
 * loads it before anything else.
 */
export type RunMark = (phase: string) => void;

export const RUN_TIMING_ENV = "DCOS_NODE_RUN_TIMING";

/** The mark function when timing is on, else undefined (nothing is written). */
export function runTiming(env: NodeJS.ProcessEnv = process.env): RunMark | undefined {
  if (!env[RUN_TIMING_ENV] || env[RUN_TIMING_ENV] === "0") return undefined;
  return (phase) => {
    const cpu = process.cpuUsage();
    process.stderr.write(`timing ${phase} ${performance.now().toFixed(1)} ${((cpu.user + cpu.system) / 1000).toFixed(1)}\n`);
  };
}

/** One timing line parsed back (test/bench/cli-run.ts), or undefined for any other line. */
export function parseTimingLine(line: string): { phase: string; ms: number; cpuMs: number } | undefined {
  const m = /^timing (\S+) ([\d.]+) ([\d.]+)$/.exec(line);
  return m ? { phase: m[1]!, ms: Number(m[2]), cpuMs: Number(m[3]) } : undefined;
}
