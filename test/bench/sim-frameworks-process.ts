/**
 * Frameworks of the scale harness in their own process, each on its own real SchedulerDriver
 * (scale-framework.ts):
 *
 *   node dist/test/bench/sim-frameworks-process.js --masters=a:p,b:p,c:p [--frameworks=5] [--first=0]
 *     [--long-tasks=10] [--launches-per-s=10] [--short-ms=2000] [--refuse-s=5] [--tasks-per-offer=1] [--hold-offers=0]
 *     [--idle-refuse-s=120] [--min-revive-ms=5000] [--max-launch-calls=0] [--reconcile-retry-ms=1000] [--seed=N] [--stats-ms=500]
 *     [--preload=agents,frameworks,tasks]
 *
 * `--long-tasks` and `--launches-per-s` are per framework. Prints `stats {json}` every
 * --stats-ms: the frameworks' summed counters, the latency samples taken since the last line
 * (ms), the latest resubscription's wall time, this process's CPU time and RSS. Commands on
 * stdin, one per line: `quiet` (stop launching short tasks), `mark` (count resubscriptions and
 * long tasks heard RUNNING from now on), `steady` (start launching short tasks; none before),
 * `adopt` (with --preload: reconcile the preloaded tasks, preload-layout.ts, until each is heard
 * RUNNING). Once every framework has subscribed it prints `framework-ids id,…` (in the order
 * of their index: what the agents' --framework-ids takes). Stops on SIGTERM (each driver tears down).
 */
import { createInterface } from "node:readline";
import { Random } from "../../src/runtime/random.js";
import { IDLE_REFUSE_S, MIN_REVIVE_INTERVAL_MS, ScaleFramework, type ScaleFrameworkCounts } from "./scale-framework.js";
import { frameworkTasks, parsePreload } from "./preload-layout.js";

const opt = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const masters = opt("masters", "");
if (masters === "") throw new Error("--masters=host:port,… is required");
const count = Number(opt("frameworks", "5"));
const first = Number(opt("first", "0"));
const seed = Number(opt("seed", String(Random.fromOs().seed)));
const statsMs = Number(opt("stats-ms", "500"));
// Short tasks wait for `steady`: the long tasks fill the cluster first, undisturbed.
const launchesPerS = Number(opt("launches-per-s", "10"));
const preloadText = opt("preload", "");
const layout = preloadText ? parsePreload(preloadText) : undefined;
process.stderr.write(`sim frameworks ${first}..${first + count - 1}: seed ${seed}\n`);

const frameworks = Array.from(
  { length: count },
  (_, i) =>
    new ScaleFramework({
      masters,
      name: `scale-${first + i}`,
      longTasks: Number(opt("long-tasks", "10")),
      launchesPerS: 0,
      shortMs: Number(opt("short-ms", "2000")),
      refuseS: Number(opt("refuse-s", "5")),
      tasksPerOffer: Number(opt("tasks-per-offer", "1")),
      holdOffers: opt("hold-offers", "0") === "1",
      idleRefuseS: Number(opt("idle-refuse-s", String(IDLE_REFUSE_S))),
      minReviveIntervalMs: Number(opt("min-revive-ms", String(MIN_REVIVE_INTERVAL_MS))),
      maxLaunchCalls: Number(opt("max-launch-calls", "0")),
      reconcileRetryMs: Number(opt("reconcile-retry-ms", "1000")),
      ...(layout ? { preloaded: frameworkTasks(layout, first + i) } : {}),
      random: new Random(seed + first + i),
    }),
);
for (const f of frameworks) void f.driver.start().catch((err: unknown) => process.stderr.write(`${f.driver.frameworkId ?? "framework"}: ${String(err)}\n`));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "steady") for (const f of frameworks) f.launchesPerS = launchesPerS;
  else if (command === "quiet") for (const f of frameworks) f.launchesPerS = 0;
  else if (command === "mark") for (const f of frameworks) f.mark();
  else if (command === "adopt") for (const f of frameworks) f.adopt();
});

let toldIds = false;
const timer = setInterval(() => {
  if (!toldIds && frameworks.every((f) => f.driver.frameworkId)) {
    toldIds = true;
    process.stdout.write(`framework-ids ${frameworks.map((f) => f.driver.frameworkId).join(",")}\n`);
  }
  const sum: Record<string, number> = {};
  const acceptToRunning: number[] = [];
  const offerToRunning: number[] = [];
  const acceptToStarting: number[] = [];
  const offerToFramework: number[] = [];
  const legs = { legToAgent: [] as number[], legStartingBack: [] as number[], legAck: [] as number[], legRunningBack: [] as number[] };
  let resubscribedAt = 0;
  let lastRunningSinceAt = 0;
  let outstanding = 0;
  for (const f of frameworks) {
    for (const [k, v] of Object.entries(f.counts) as [keyof ScaleFrameworkCounts, number][]) sum[k] = (sum[k] ?? 0) + v;
    acceptToRunning.push(...f.acceptToRunning.map(Math.round));
    offerToRunning.push(...f.offerToRunning.map(Math.round));
    acceptToStarting.push(...f.acceptToStarting.map(Math.round));
    offerToFramework.push(...f.offerToFramework.map(Math.round));
    f.acceptToStarting = [];
    f.offerToFramework = [];
    f.acceptToRunning = [];
    f.offerToRunning = [];
    for (const k of Object.keys(legs) as (keyof typeof legs)[]) {
      for (const v of f[k]) legs[k].push(Math.round(v * 10) / 10);
      f[k] = [];
    }
    resubscribedAt = Math.max(resubscribedAt, f.resubscribedAt);
    lastRunningSinceAt = Math.max(lastRunningSinceAt, f.lastRunningSinceAt);
    outstanding += f.outstanding;
  }
  const cpu = process.cpuUsage();
  const line = { frameworks: count, ...sum, outstanding, resubscribedAt, lastRunningSinceAt, acceptToRunning, offerToRunning, acceptToStarting, offerToFramework, ...legs, cpuMs: Math.round((cpu.user + cpu.system) / 1000), rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20) };
  process.stdout.write(`stats ${JSON.stringify(line)}\n`);
}, statsMs);

process.on("SIGTERM", () => {
  clearInterval(timer);
  void Promise.all(frameworks.map((f) => f.stop().catch(() => undefined))).finally(() => process.exit(0));
});
