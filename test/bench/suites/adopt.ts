/**
 * `npm run bench -- adopt [-- --agents=10000 --tasks-per-agent=5 --runs=5 --base=DIR --snapshot=FILE --event-listeners=1]`:
 * what a new leader's adoption of reregistering agents costs in the master itself — its
 * reregistration handler, the allocator's books and the cluster events, on the manual clock
 * (adoption-run.ts has the setup) — per agent and per task: wall and CPU time (the CPU
 * includes V8's GC helper threads; `main_thread_cpu_us_per_agent` is the event loop's thread
 * alone, from its schedstat), GC pauses and their count, and the heap the adoption
 * keeps. Not measured: the transport (the messages are decoded before), the announcements,
 * pings, the frameworks' questions; a real failover (`scale` with a kill) has those.
 * Each run is a fresh process (`node --expose-gc`), so no run inherits another's heap or
 * JIT state; figures are medians over `--runs` (default 5) with every run's value.
 * `--base=DIR` (a built worktree, e.g. main's) runs the same in DIR's code, alternating base
 * and this tree run by run, and prints the base's figures (`base_…`) and each ratio
 * (`…_vs_base`, new / base). `--snapshot=FILE` writes a heap snapshot after this tree's first
 * run (to see what the kept bytes are). `--event-listeners=1` gives the master's event bus the
 * listeners a running master has (the web UI's recent events, the NATS tap's buffer): without
 * them the master builds no cluster event, so the events' cost is left out.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AdoptionFigures } from "../adoption-run.js";
import { RepeatReporter, reportLoad, type Reporter } from "../report.js";
import type { Suite } from "../run.js";

const RUN = fileURLToPath(new URL("../adoption-run.js", import.meta.url));
const THIS_TREE = fileURLToPath(new URL("../../../../", import.meta.url)).replace(/\/$/, "");

async function once(tree: string, agents: number, perAgent: number, listeners: boolean, snapshot?: string): Promise<AdoptionFigures> {
  const args = ["--expose-gc", RUN, tree, String(agents), String(perAgent), ...(snapshot ? [snapshot] : [])];
  const env = { ...process.env, ADOPT_EVENT_LISTENERS: listeners ? "1" : "0" };
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20, env });
  const line = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as AdoptionFigures;
}

function record(into: Reporter, prefix: string, f: AdoptionFigures): void {
  const tasks = f.agents * f.tasksPerAgent;
  const extra = { agents: f.agents, tasks_per_agent: f.tasksPerAgent };
  into.figure(`${prefix}cpu_us_per_agent`, (f.cpuMs * 1000) / f.agents, "us", "lower", extra);
  into.figure(`${prefix}main_thread_cpu_us_per_agent`, (f.mainCpuMs * 1000) / f.agents, "us", "lower", extra);
  into.figure(`${prefix}wall_us_per_agent`, (f.wallMs * 1000) / f.agents, "us", "lower", extra);
  into.figure(`${prefix}cpu_ms`, f.cpuMs, "ms", "lower", extra);
  into.figure(`${prefix}wall_ms`, f.wallMs, "ms", "lower", extra);
  into.figure(`${prefix}gc_ms`, f.gcMs, "ms", "lower", extra);
  into.figure(`${prefix}gc_count`, f.gcs, "count", "lower", extra);
  into.figure(`${prefix}kept_bytes_per_task`, f.keptBytes / tasks, "bytes", "lower", extra);
  into.figure(`${prefix}kept_bytes_per_agent`, f.keptBytes / f.agents, "bytes", "lower", extra);
}

const RATIOS = ["cpu_us_per_agent", "main_thread_cpu_us_per_agent", "wall_us_per_agent", "gc_ms", "kept_bytes_per_task"];

export const run: Suite = async (report: Reporter, args: string[]) => {
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const agents = Number(opt("agents") ?? 10_000);
  const perAgent = Number(opt("tasks-per-agent") ?? 5);
  const runs = Number(opt("runs") ?? 5);
  const base = opt("base");
  const snapshot = opt("snapshot");
  const listeners = opt("event-listeners") === "1";
  if (![agents, perAgent, runs].every((n) => Number.isInteger(n) && n > 0)) throw new Error("--agents, --tasks-per-agent and --runs take positive integers");
  reportLoad(report, "start");
  const repeats = new RepeatReporter(report.suite);
  for (let r = 0; r < runs; r++) {
    if (base) record(repeats, "base_", await once(base, agents, perAgent, listeners));
    record(repeats, "", await once(THIS_TREE, agents, perAgent, listeners, r === 0 ? snapshot : undefined));
  }
  repeats.medians(report);
  if (base) {
    const m = new Map(report.figures.map((f) => [f.name, f.value]));
    for (const name of RATIOS) report.figure(`${name}_vs_base`, m.get(`${name}`)! / m.get(`base_${name}`)!, "ratio", "lower", { agents, tasks_per_agent: perAgent });
  }
  reportLoad(report, "end");
};
