/**
 * `npm run bench -- scale [-- --agents=1000 --frameworks=10 --tasks=2000 --tasks-per-offer=1 --hold-offers=1 --work-root=/dev/shm --cpu-prof-dir=DIR --failover=0 …]`: the whole system
 * at scale (issue 18), in one run: three `dcos-node --role=master` processes on Raft with the
 * NATS event tap on a real nats-server, `--agents` simulated agents in `--agent-procs`
 * processes (many per process, each its own pid and agent id, the real agent↔master
 * protocol over the real gRPC transport; sim-agents-process.ts), `--frameworks` frameworks on
 * the real SchedulerDriver in `--framework-procs` processes (sim-frameworks-process.ts). The
 * frameworks first launch `--tasks` long-running tasks in all, then short tasks (`--short-ms`)
 * at `--launches-per-s` in all.
 *
 * Figures (JSON lines; each carries the sizes and the 1-minute load):
 * - agents_register_ms: from starting the agent processes to every agent registered (cold);
 * - master_rss_mb, master_rss_per_agent_kb, master_rss_per_task_kb (the leader's RSS empty,
 *   with the agents, with the tasks);
 * - ping_master_cpu_share: the leader's CPU time / wall time over `--ping-window-s` with every
 *   agent registered and nothing else happening (pings at the default 15 s interval), and the
 *   agent processes' share beside it;
 * - tasks_fill_per_s: the long tasks launched to RUNNING as fast as offers come;
 * - allocation_round_ms p50/p99 (the live leader's allocator/allocation_run_ms, agents × frameworks);
 * - launches_per_s (short tasks reaching RUNNING per second over `--seconds`, sustained;
 *   the leader's and the simulators' CPU shares over the window), offer_to_framework_ms
 *   (Offer.offered_at_ms to the framework's callback), offer_to_running_ms and
 *   accept_to_running_ms p50/p99 (goal p99 < 500 ms);
 * - master_work_dir_*_mb: the leader's Raft log, snapshots and registry on disk;
 *   sim_agents_rss_mb: the simulators' memory;
 * - tap_events_per_s and tap_dropped over the same window;
 * - state_summary_ms, metrics_snapshot_ms (median of 5 GETs) with every task running;
 * - failover_*_ms: kill -9 of the leader → a new leader, every agent reregistered, every
 *   framework resubscribed, every long task reconciled RUNNING; failover_new_leader_cpu_ms
 *   (and per agent); failover_reregister_messages_per_agent (the copies agents sent again
 *   while the new leader had not answered: 1 is none);
 * - the harness's checks: agents registered exactly once, status updates made = acknowledged,
 *   nothing failed or unexpected, the masters' and runtime's drop counters.
 *
 * `--preload=1` (the failover at 250,000 tasks without the fill): the frameworks subscribe
 * first, then the agents start ALREADY RUNNING the `--tasks` (preload-layout.ts: ids and
 * places known to both sides) and reregister with them at the first leader, which admits
 * them (its registry did not hold them) and adopts their tasks through its real
 * reregistration path; the frameworks then reconcile every task until heard RUNNING. In place
 * of agents_register_ms and the fill: agents_restore_ms (agents and tasks at the first leader)
 * and tasks_adopt_ms (the frameworks' reconciliation); no steady window. The failover that
 * follows is the real one: kill -9 of that leader, every agent reregisters with its tasks at
 * the next, every framework resubscribes and reconciles.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "../../support/nats-server.js";
import { ScaleCluster, processUsage, type ScaleSettings, type Stats } from "../../support/scale-cluster.js";
import { waitFor } from "../../support/wait.js";
import { runDelayMs } from "../process-tree.js";
import { sampleThreads } from "../thread-sampler.js";
import { median, percentile, type Reporter } from "../report.js";

/** accept->RUNNING's legs: to the agent, TASK_STARTING back, the acknowledgement to the agent, TASK_RUNNING back. */
const LAUNCH_LEGS = ["legToAgent", "legStartingBack", "legAck", "legRunningBack"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => Math.round(loadavg()[0]! * 10) / 10;

export async function run(report: Reporter, args: string[]): Promise<void> {
  const get = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const agents = get("agents", 1000);
  const frameworks = get("frameworks", 10);
  const tasks = get("tasks", 2000);
  const settings: ScaleSettings = {
    agents,
    agentProcesses: get("agent-procs", Math.max(1, Math.min(4, Math.ceil(agents / 5000)))),
    agentResources: "cpus:8;mem:16384;disk:100000",
    frameworks,
    frameworkProcesses: get("framework-procs", 1),
    longTasks: Math.ceil(tasks / frameworks),
    launchesPerS: get("launches-per-s", 100) / frameworks,
    shortMs: get("short-ms", 2000),
    seed: get("seed", Math.floor(Math.random() * 2 ** 30)),
    // Raft at 300 ms ticks / 3 s elections: 1,000-2,000 agents keep their leader at the
    // masters' defaults (100 ms / 1 s, --raft-tick-ms=100 --raft-election-timeout-ms=1000)
    // even at load 15-30, but 10,000 lost terms during the fill at load 11-15 (docs/scale.md).
    masterFlags: [
      `--allocation-interval=${get("allocation-interval-ms", 1000)}ms`,
      `--raft-tick=${get("raft-tick-ms", 300)}ms`,
      `--raft-election-timeout=${get("raft-election-timeout-ms", 3000)}ms`,
    ],
  };
  // The leader's admission control of launches (its defaults unless given; 0 turns a limit off).
  for (const flag of ["max-launching-tasks", "max-call-queue-ms", "max-loop-lag-ms"]) {
    // The loop-lag check is off in the masters by default; the bench turns it on at 1 s.
    const v = get(flag, flag === "max-loop-lag-ms" ? 1000 : -1);
    if (v >= 0) settings.masterFlags.push(flag.endsWith("-ms") ? `--${flag.slice(0, -3)}=${v}ms` : `--${flag}=${v}`);
  }
  // Outstanding offers a framework may hold before its offers pause (the masters' default is
  // no limit): without it every scheduler subscribing to a large cluster was offered agents by
  // the hundred before it had read its first offers, and declined them (docs/scale.md). Twice
  // a framework's share of the agents, at least 100: the frameworks hold the offers they have
  // no token for (--hold-offers=1), and at a cap below their share (100 at 10,000 agents × 50
  // frameworks) every one of them sat paused at the cap through the steady window, launching
  // on offers tens of seconds old, so no new offer reached them (no offer->framework sample).
  // Above their share they hold what DRF gives them and the rest of each agent they launch on
  // comes back at once as a new offer: offers follow the launches, measured on those. A
  // framework that declined instead (Marathon, 120 s filters) would first be offered every
  // agent once: agents × frameworks offers (500,000 at 10,000 × 50), the flood the cap is for.
  const offerCap = get("max-offers-per-framework", Math.max(100, 2 * Math.ceil(agents / frameworks)));
  settings.masterFlags.push(`--max-offers-per-framework=${offerCap}`);
  // How a new leader paces its announcements (the masters' defaults unless given: a window of
  // 1,000 agents, no rate cap; --agent-reregistration-window=0 --agent-reregistration-rate=5000
  // is the fixed 5,000/s of sessions 5-6).
  // --gc-threads-nice=0 runs the masters with V8's helper threads at their priority (before session 12).
  for (const flag of ["--agent-reregistration-window=", "--agent-reregistration-rate=", "--max-queued-retried-messages=", "--gc-threads-nice="]) {
    const given = args.find((a) => a.startsWith(flag));
    if (given) settings.masterFlags.push(given);
  }
  const tasksPerOffer = get("tasks-per-offer", 1);
  if (tasksPerOffer > 1) settings.tasksPerOffer = tasksPerOffer;
  // Frameworks hold the offers they cannot use yet (1, the default) or decline them for 5 s (0, as before).
  settings.holdOffers = get("hold-offers", 1) !== 0;
  // How the frameworks decline and revive (their defaults unless given: 120 s idle filter, a REVIVE at most every 5 s).
  // ... and how soon they ask again about tasks a reconciliation has not answered (--reconcile-retry-ms, 1,000 doubling to 8,000 unless given).
  settings.frameworkFlags = args.filter((a) => a.startsWith("--idle-refuse-s=") || a.startsWith("--min-revive-ms=") || a.startsWith("--reconcile-retry-ms="));
  // Launch calls of the fill a framework keeps in flight (4 unless given; 0: one per offer as
  // it comes, as before session 8): 200 frameworks × 100 held offers fired at once had most
  // of their calls refused by admission control and retried (docs/scale.md).
  settings.frameworkFlags.push(`--max-launch-calls=${get("max-launch-calls", 4)}`);
  const profileDir = args.find((a) => a.startsWith("--cpu-prof-dir="))?.split("=")[1];
  if (profileDir) settings.cpuProfileDir = profileDir;
  // --master-node-flags=--max-semi-space-size=16,...: node/V8 flags for the master processes only (A/B of V8 settings).
  const masterNodeFlags = args.find((a) => a.startsWith("--master-node-flags="))?.slice("--master-node-flags=".length);
  if (masterNodeFlags) settings.masterNodeFlags = masterNodeFlags.split(",").filter((f) => /^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/.test(f));
  // --thread-trace=DIR: the masters run with --trace-gc, the leader's threads are sampled every
  // 50 ms (threads.jsonl: on-CPU and run_delay ms per thread, the wall clock, how many output
  // lines the leader had printed), and each master's output is written to DIR/master-N.log
  // at the end: what a stall of the leader's loop was made of (docs/scale.md, "Session 12").
  const threadTrace = args.find((a) => a.startsWith("--thread-trace="))?.split("=")[1];
  if (threadTrace) settings.masterNodeFlags = [...(settings.masterNodeFlags ?? []), "--trace-gc"];
  const failover = get("failover", 1) !== 0;
  const preload = get("preload", 0) !== 0;
  if (preload) {
    // The tasks are the agents' from the start: the frameworks launch none.
    settings.preloadTasks = tasks;
    settings.longTasks = 0;
  }
  // The agents start at this rate in all (agents/s), not at once.
  const startPerS = get("agent-start-per-s", 0);
  if (startPerS > 0) settings.agentStartPerS = startPerS;
  // The niceness of the simulated agents' processes (--harness-nice, 10 unless given; the
  // masters stay at 0): they stand for other machines, and at 0 (the setting before session
  // 11) they took the 2 cores from the leader as often as it from them: its event loop waited
  // runnable 327-607 ms per s of a failover, 252 at 10 (docs/scale.md, "Session 11: the
  // harness's processes and the leader's CPU"). The frameworks' processes run at
  // --framework-nice (0 unless given): at 10 they fell seconds behind the offers of a fill.
  settings.harnessNice = get("harness-nice", 10);
  settings.frameworkNice = get("framework-nice", 0);
  const seconds = get("seconds", 20);
  const pingWindowS = get("ping-window-s", 30);
  const scaleS = Math.max(1, agents / 1000);
  process.stderr.write(`scale: ${JSON.stringify(settings)}\n`);

  const nats = await NatsServer.start();
  settings.masterFlags.push(`--nats=${nats.url}`);
  // --work-root=/dev/shm keeps the masters' Raft logs in memory: on a host whose disk other
  // work saturates, fsyncs of seconds cost the leader its term again and again (a 50,000-agent
  // registration never finished so); the Raft bench measures the disk, this one the master.
  const workRoot = args.find((a) => a.startsWith("--work-root="))?.split("=")[1] ?? tmpdir();
  const dir = mkdtempSync(join(workRoot, "scale-bench-"));
  // A cluster that does not start (a bad flag, a master that exits) takes NATS and the directory with it.
  const cluster = await ScaleCluster.start(dir, settings).catch(async (err: unknown) => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  // Stopped from outside (SIGTERM, Ctrl-C): stop the masters, simulators and NATS too, not leave them running.
  const interrupted = () => {
    process.stderr.write("scale: interrupted; stopping the cluster\n");
    void Promise.allSettled([cluster.stop(), nats.stop()]).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once("SIGTERM", interrupted);
  process.once("SIGINT", interrupted);
  const shape = { agents, frameworks, tasks: preload ? tasks : settings.longTasks * frameworks, preload: preload ? 1 : 0, agent_procs: settings.agentProcesses, seed: settings.seed, hold_offers: settings.holdOffers ? 1 : 0, max_offers_per_framework: offerCap, harness_nice: settings.harnessNice, framework_nice: settings.frameworkNice };
  const fig = (name: string, value: number, unit: string, better: "higher" | "lower", extra: Record<string, unknown> = {}) =>
    report.figure(name, value, unit, better, { ...shape, load1: load(), ...extra });
  const explained = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      throw new Error(`${(err as Error).message}\nagents: ${JSON.stringify(cluster.agentStats())}\nframeworks: ${JSON.stringify(cluster.frameworkStats())}\n${cluster.describe()}`);
    }
  };
  // Where a long run is (stderr, every 15 s): how far registration and the fill got, the leader's RSS and CPU.
  const progressStart = performance.now();
  // --master-diag=1: every 15 s, each master's term, role, event-loop delay, Raft snapshots and new leader lines.
  const masterDiag = get("master-diag", 0) !== 0;
  let toldWhyLaunchesFailed = false;
  const leaderOrNone = () => {
    try {
      return cluster.leaderPid();
    } catch {
      return -1;
    }
  };
  const threads = threadTrace
    ? (mkdirSync(threadTrace, { recursive: true }),
      sampleThreads(join(threadTrace, "threads.jsonl"), leaderOrNone, 50, () => cluster.masters.processes.find((p) => p?.pid === leaderOrNone())?.lines.length ?? 0))
    : undefined;
  const progress = setInterval(() => {
    const a = cluster.agentStats();
    const f = cluster.frameworkStats();
    let leader = "";
    try {
      const u = processUsage(cluster.leaderPid());
      leader = ` leader rss ${Math.round(u.rssBytes / 2 ** 20)} MiB cpu ${Math.round(u.cpuMs / 1000)} s`;
    } catch {
      leader = " no leader";
    }
    const at = Math.round((performance.now() - progressStart) / 1000);
    // Why launch calls fail, once (each framework process prints each reason once).
    if (!toldWhyLaunchesFailed && (f?.launchErrors ?? 0) > 0) {
      toldWhyLaunchesFailed = true;
      for (const fw of cluster.frameworks) process.stderr.write(`${fw.name}:\n${fw.tail()}\n`);
    }
    process.stderr.write(
      `progress ${at} s load ${load()}: agents registered ${a?.registered ?? "-"} tasks received ${a?.tasksReceived ?? "-"}; frameworks subscribed ${f?.subscribed ?? "-"} resubscriptions ${f?.resubscriptions ?? "-"} long running ${f?.longRunning ?? "-"} launched ${f?.launched ?? "-"} launch errors ${f?.launchErrors ?? "-"} refused+retried ${f?.launchRetries ?? "-"} timed out ${f?.launchTimeouts ?? "-"}; offers ${f?.offers ?? "-"} declined ${f?.declined ?? "-"} (while suppressed ${f?.offersWhileSuppressed ?? "-"}) suppresses ${f?.suppresses ?? "-"} revives ${f?.revives ?? "-"};${leader}\n`,
    );
    if (masterDiag) void printMasterDiag(cluster, at);
  }, 15_000);
  try {
    await waitFor(() => cluster.leaderHttp(), "the leader's HTTP address", 30_000).catch(() => undefined);
    const empty = processUsage(cluster.leaderPid());

    const longTotal = preload ? tasks : settings.longTasks * frameworks;
    if (preload) {
      // The frameworks first: the agents' tasks are theirs (the agents need their ids).
      cluster.startFrameworks();
      await explained(waitFor(() => (cluster.frameworkStats()?.subscribed ?? 0) >= frameworks && cluster.frameworks.every((f) => f.frameworkIds), `${frameworks} frameworks subscribed`, 60_000 * Math.max(1, frameworks / 50)));
      const startedAt = performance.now();
      cluster.startAgents();
      await explained(waitFor(() => (cluster.agentStats()?.registered ?? 0) >= agents, `${agents} agents back with their tasks`, 120_000 * scaleS, 50));
      const restoreMs = performance.now() - startedAt;
      fig("agents_restore_ms", restoreMs, "ms", "lower", { note: "agents starting with their tasks, admitted by the first leader, tasks adopted through its reregistration path" });
      const adoptStart = performance.now();
      for (const f of cluster.frameworks) f.command("adopt");
      await explained(waitFor(() => (cluster.frameworkStats()?.longRunning ?? 0) >= longTotal, `${longTotal} preloaded tasks reconciled RUNNING`, Math.max(120_000, longTotal * 2), 100));
      fig("tasks_adopt_ms", performance.now() - adoptStart, "ms", "lower", { note: "the frameworks' explicit reconciliation of every preloaded task until heard RUNNING" });
    } else {
      // Registration from cold.
      const startedAt = performance.now();
      cluster.startAgents();
      await explained(waitFor(() => (cluster.agentStats()?.registered ?? 0) >= agents, `${agents} agents registered`, 120_000 * scaleS, 50));
      const registerMs = performance.now() - startedAt;
      fig("agents_register_ms", registerMs, "ms", "lower");
      fig("agents_registered_per_s", (agents / registerMs) * 1000, "agents/s", "higher");
    }
    const withAgents = processUsage(cluster.leaderPid());

    // Ping load: nothing but pings for a window.
    await sleep(2_000);
    const pingStart = { master: processUsage(cluster.leaderPid()), agents: cluster.agents.map((a) => processUsage(a.pid).cpuMs), at: performance.now() };
    await sleep(pingWindowS * 1000);
    const pingWall = performance.now() - pingStart.at;
    const pingMaster = (processUsage(cluster.leaderPid()).cpuMs - pingStart.master.cpuMs) / pingWall;
    const pingAgents = cluster.agents.reduce((sum, a, i) => sum + processUsage(a.pid).cpuMs - pingStart.agents[i]!, 0) / pingWall;
    fig("ping_master_cpu_share", pingMaster, "cpu", "lower", { window_s: pingWindowS, ping_interval_s: 15, agent_procs_cpu_share: Math.round(pingAgents * 1000) / 1000 });
    fig("master_rss_with_agents_mb", withAgents.rssBytes / 2 ** 20, "MiB", "lower", { empty_mb: Math.round(empty.rssBytes / 2 ** 20), ...(preload ? { note: "with the preloaded tasks" } : {}) });
    if (!preload) fig("master_rss_per_agent_kb", (withAgents.rssBytes - empty.rssBytes) / agents / 1024, "KiB", "lower");
    fig("master_work_dir_with_agents_mb", cluster.leaderWorkDirBytes() / 2 ** 20, "MiB", "lower", { note: "the leader's Raft log, snapshots and registry" });
    fig(
      "sim_agents_rss_mb",
      cluster.agents.reduce((sum, a) => sum + (a.latest?.rssMb ?? 0), 0),
      "MiB",
      "lower",
      { per_process: cluster.agents.map((a) => a.latest?.rssMb), per_agent_kb: Math.round((cluster.agents.reduce((sum, a) => sum + (a.latest?.rssMb ?? 0), 0) * 1024) / agents) },
    );

    if (!preload) await fillAndSteady();
    /**
     * The steady window's warm-up: at least 10 s, then until the leader's outstanding offers
     * grow no faster than the launches make them (settledChange: over the last 4 s, at most 2
     * offers a launch, 1% or 200), at most 120 s. The
     * frameworks REVIVE at "steady" after sitting suppressed since the fill, and at 50,000
     * agents × 200 frameworks (the cap 500 a framework) the offers of every agent's free
     * resources, 30,000-40,000 of them, came at ~2,000/s in the 20 s after the old fixed 5-s
     * warm-up, in the window (docs/scale.md, "Session 10"): it measured the leader under that
     * flood, not a steady load. The metrics GETs cost the leader ~50 ms each, one per 2 s,
     * in the warm-up only.
     */
    async function settledOffers(): Promise<{ ms: number; outstanding: number[] }> {
      const started = performance.now();
      const outstanding = async (): Promise<number> => (await cluster.metrics())["master/outstanding_offers"] ?? 0;
      // What launches alone add in 4 s: the rest of each launch's agent and each finished task's
      // resources come back as offers (at most 2 a launch); below the cap the frameworks hold
      // them, so the count grows at that pace until the cap (10,000 × 50: ~100/s for 100 s).
      const settledChange = (now: number): number => Math.max(200, 0.01 * now, 2 * 4 * settings.launchesPerS * frameworks);
      await sleep(6_000);
      const seen = [await outstanding()];
      for (;;) {
        await sleep(2_000);
        seen.push(await outstanding());
        const ms = Math.round(performance.now() - started);
        const now = seen.at(-1)!;
        const before = seen.at(-3);
        if (ms >= 120_000 || (ms >= 10_000 && before !== undefined && Math.abs(now - before) <= settledChange(now))) return { ms, outstanding: seen };
      }
    }

    /** Registration from cold was measured; the frameworks subscribe, fill the cluster, launch at a steady rate, go quiet. */
    async function fillAndSteady(): Promise<void> {
      // Frameworks subscribe and fill the cluster with the long tasks.
      const fillStart = performance.now();
      cluster.startFrameworks();
      // As long as the fill may take: each driver opens its own connection, and at 50,000 agents
      // the last frameworks subscribed minutes into a fill already under way (190 of 200 in 240 s).
      await explained(
        waitFor(() => (cluster.frameworkStats()?.subscribed ?? 0) >= frameworks, `${frameworks} frameworks subscribed`, Math.max(60_000 * Math.max(1, frameworks / 50), longTotal * 60)),
      );
      await explained(waitFor(() => (cluster.frameworkStats()?.longRunning ?? 0) >= longTotal, `${longTotal} long tasks RUNNING`, Math.max(120_000, longTotal * 60), 100));
      const fillMs = performance.now() - fillStart;
      const filled = cluster.frameworkStats()!;
      const fillMetrics = await cluster.metrics();
      fig("tasks_fill_per_s", (longTotal / fillMs) * 1000, "tasks/s", "higher", {
        fill_ms: Math.round(fillMs),
        tasks_per_offer: tasksPerOffer,
        // The offers the fill cost: made (heard by the frameworks), declined, and the calls that steer them.
        offers: filled.offers,
        declined: filled.declined,
        offers_while_suppressed: filled.offersWhileSuppressed,
        suppresses: filled.suppresses,
        revives: filled.revives,
        allocation_runs: fillMetrics["allocator/allocation_runs"],
        allocation_slices: fillMetrics["allocator/allocation_slices"],
        offer_filters_active: fillMetrics["allocator/offer_filters/active"],
      });

      // Offer -> framework over the fill (under the heaviest launch load of the run). In the
      // steady window below frameworks that hold offers (--hold-offers=1) launch on the ones
      // they hold and get the rest of each agent they launch on as a new offer (below the
      // cap, see above); at a --max-offers-per-framework below their share: few or no samples.
      const fillOffers = cluster.takeSamples("offerToFramework");
      fig("offer_to_framework_fill_p50_ms", percentile(fillOffers, 50), "ms", "lower", { samples: fillOffers.length, note: "over the fill" });
      fig("offer_to_framework_fill_p99_ms", percentile(fillOffers, 99), "ms", "lower", { samples: fillOffers.length });

      // Steady launch load: a warm-up, then the window.
      for (const f of cluster.frameworks) f.command("steady");
      const warmUp = await settledOffers();
      process.stderr.write(`steady warm-up ${warmUp.ms} ms (the leader's outstanding offers every 2 s from 6 s: ${warmUp.outstanding.join(" ")})\n`);
      cluster.takeSamples("acceptToRunning");
      cluster.takeSamples("offerToRunning");
      cluster.takeSamples("acceptToStarting");
      cluster.takeSamples("offerToFramework");
      for (const leg of LAUNCH_LEGS) cluster.takeSamples(leg);
      const m0 = await cluster.metrics();
      const f0 = cluster.frameworkStats()!;
      const cpu0 = processUsage(cluster.leaderPid()).cpuMs;
      const simCpu = () => ({
        agents: cluster.agents.reduce((sum, a) => sum + processUsage(a.pid).cpuMs, 0),
        frameworks: cluster.frameworks.reduce((sum, f) => sum + processUsage(f.pid).cpuMs, 0),
      });
      const sim0 = simCpu();
      const bench0 = process.cpuUsage();
      const delay0 = runDelayMs(cluster.leaderPid());
      const w0 = performance.now();
      const monoStart = process.hrtime.bigint() / 1000n;
      await sleep(seconds * 1000);
      // The window on the monotonic clock a master's CPU profile is stamped with (--cpu-prof-dir;
      // cpu-profile-top.js FROM_MS/TO_MS = these minus the profile's startTime, in ms).
      process.stderr.write(`steady window monotonic_us ${monoStart} ${process.hrtime.bigint() / 1000n} wall_ms ${Math.round(Date.now() - performance.now() + w0)} ${Date.now()}\n`);
      const wall = performance.now() - w0;
      const f1 = cluster.frameworkStats()!;
      const m1 = await cluster.metrics();
      const cpu1 = processUsage(cluster.leaderPid()).cpuMs;
      const delay1 = runDelayMs(cluster.leaderPid());
      const bench1 = process.cpuUsage(bench0);
      const sim1 = simCpu();
      // What the leader counted in the window (messages by kind, Raft entries, tap events, ...): the work behind the latencies.
      const deltas = Object.keys(m1)
        .filter((k) => !k.includes("/p") && m1[k] !== m0[k])
        .map((k) => [k, Math.round(((m1[k] ?? 0) - (m0[k] ?? 0)) * 100) / 100]);
      process.stderr.write(`steady window metric deltas ${JSON.stringify(Object.fromEntries(deltas))}\n`);
      const offerToFramework = cluster.takeSamples("offerToFramework");
      const acceptToRunning = cluster.takeSamples("acceptToRunning");
      const offerToRunning = cluster.takeSamples("offerToRunning");
      const acceptToStarting = cluster.takeSamples("acceptToStarting");
      const share = (ms: number) => Math.round((ms / wall) * 1000) / 1000;
      const steady = {
        window_s: seconds,
        warm_up_ms: warmUp.ms,
        target_launches_per_s: settings.launchesPerS * frameworks,
        master_cpu_share: share(cpu1 - cpu0),
        sim_agents_cpu_share: share(sim1.agents - sim0.agents),
        sim_frameworks_cpu_share: share(sim1.frameworks - sim0.frameworks),
        bench_cpu_share: share((bench1.user + bench1.system) / 1000),
        // Its threads' time runnable but not running, per second of the window.
        leader_run_delay_ms_per_s: Math.round(share(delay1.allMs - delay0.allMs) * 1000),
        leader_main_thread_run_delay_ms_per_s: Math.round(share(delay1.mainMs - delay0.mainMs) * 1000),
      };
      fig("launches_per_s", ((f1.shortRunning! - f0.shortRunning!) / wall) * 1000, "tasks/s", "higher", steady);
      fig("steady_leader_run_delay_ms_per_s", (delay1.allMs - delay0.allMs) / wall * 1000, "ms/s", "lower", { note: "the leader's threads runnable and waiting for a CPU (schedstat run_delay, summed over its threads), per second of the window; main_thread: its event loop's thread alone", main_thread_ms_per_s: steady.leader_main_thread_run_delay_ms_per_s, master_cpu_share: steady.master_cpu_share });
      fig("accept_to_running_p50_ms", percentile(acceptToRunning, 50), "ms", "lower", { samples: acceptToRunning.length });
      fig("accept_to_running_p99_ms", percentile(acceptToRunning, 99), "ms", "lower", { samples: acceptToRunning.length, goal_ms: 500 });
      fig("accept_to_starting_p50_ms", percentile(acceptToStarting, 50), "ms", "lower", { samples: acceptToStarting.length, note: "the first leg of accept->RUNNING" });
      fig("accept_to_starting_p99_ms", percentile(acceptToStarting, 99), "ms", "lower");
      // accept->RUNNING leg by leg (scale-framework.ts "legs"; the agent's send time against the framework's clock).
      for (const leg of LAUNCH_LEGS) {
        const samples = cluster.takeSamples(leg);
        const name = leg.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        fig(`${name}_p50_ms`, percentile(samples, 50), "ms", "lower", { samples: samples.length });
        fig(`${name}_p99_ms`, percentile(samples, 99), "ms", "lower", { samples: samples.length });
      }
      // The agent -> leader part of STARTING back and RUNNING back (the leader's own sample of the
      // agent's send stamp to handling the update; its last 1,000 updates, the window's end):
      // what is left of those legs is leader -> framework (docs/scale.md, "Session 9").
      fig("update_agent_to_master_p50_ms", m1["master/status_update_age_ms/p50"] ?? -1, "ms", "lower", { note: "the leader's last 1,000 updates" });
      fig("update_agent_to_master_p99_ms", m1["master/status_update_age_ms/p99"] ?? -1, "ms", "lower");
      fig("offer_to_framework_p50_ms", percentile(offerToFramework, 50), "ms", "lower", { samples: offerToFramework.length, note: "Offer.offered_at_ms (the master's clock) to the framework's callback, same machine" });
      fig("offer_to_framework_p99_ms", percentile(offerToFramework, 99), "ms", "lower", { samples: offerToFramework.length });
      fig("offer_to_running_p50_ms", percentile(offerToRunning, 50), "ms", "lower", { samples: offerToRunning.length });
      fig("offer_to_running_p99_ms", percentile(offerToRunning, 99), "ms", "lower", { samples: offerToRunning.length, goal_ms: 500 });
      fig("allocation_round_p50_ms", m1["allocator/allocation_run_ms/p50"] ?? -1, "ms", "lower", { rounds: m1["allocator/allocation_run_ms/count"] });
      fig("allocation_round_p99_ms", m1["allocator/allocation_run_ms/p99"] ?? -1, "ms", "lower");
      const published = (m1["events/tap_published"] ?? 0) - (m0["events/tap_published"] ?? 0);
      fig("tap_events_per_s", (published / wall) * 1000, "events/s", "higher", { dropped_in_window: (m1["events/tap_dropped"] ?? 0) - (m0["events/tap_dropped"] ?? 0) });

      // Quiet: the short tasks end; the long ones stay.
      for (const f of cluster.frameworks) f.command("quiet");
      await explained(waitFor(() => cluster.frameworkStats()!.outstanding === 0, "every short task finished", 60_000 * scaleS, 100));
      const withTasks = processUsage(cluster.leaderPid());
      fig("master_rss_mb", withTasks.rssBytes / 2 ** 20, "MiB", "lower");
      fig("master_rss_per_task_kb", (withTasks.rssBytes - withAgents.rssBytes) / longTotal / 1024, "KiB", "lower", { note: "RSS with the long tasks minus RSS with the agents only (GC-dependent)" });
      fig("master_work_dir_with_tasks_mb", cluster.leaderWorkDirBytes() / 2 ** 20, "MiB", "lower");
    }

    // Operator endpoints at this size.
    for (const [name, path] of [["state_summary_ms", "/state-summary"], ["metrics_snapshot_ms", "/metrics/snapshot"]] as const) {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 5; i++) {
        const r = await cluster.get(path);
        times.push(r.ms);
        bytes = r.bytes;
      }
      fig(name, median(times), "ms", "lower", { bytes, all: times.map(Math.round) });
    }

    // Checks before the failover.
    const a = cluster.agentStats()!;
    const f = cluster.frameworkStats()!;
    const m = await cluster.metrics();
    const drops = Object.fromEntries(Object.entries(m).filter(([k, v]) => /drop/.test(k) && v > 0));
    // Why the master dropped them (master/invalid_offers, …: each also counts in master/dropped_messages).
    const reasons = Object.fromEntries(Object.entries(m).filter(([k, v]) => /^master\/(invalid|unauthorized)_/.test(k) && v > 0));
    fig("check_agent_ids_per_agent", a.ids! / agents, "ratio", "lower", { admitted_by_master: m["master/slave_registrations"], registered_messages: a.registrations, reregistrations: a.reregistrations });
    fig("check_updates_unacknowledged", a.updatesMade! - a.updatesAcknowledged!, "updates", "lower", { made: a.updatesMade, unexpected_acks: a.unexpectedAcks });
    fig("check_tasks_failed", f.failed!, "tasks", "lower", { unexpected_updates: f.unexpected, launched: f.launched, finished: f.finished, launch_call_errors: f.launchErrors, launch_calls_refused_and_retried: f.launchRetries, launch_calls_timed_out: f.launchTimeouts, master_launches_refused: m["master/launches_refused"], master_expired_calls: m["master/expired_calls"] });
    fig("check_master_drops", Object.values(drops).reduce((s, v) => s + v, 0), "messages", "lower", { drops, reasons });
    if ((f.launchErrors ?? 0) > 0) for (const fw of cluster.frameworks) process.stderr.write(`${fw.name}:\n${fw.tail()}\n`);
    // A leader whose event loop stalls longer than the election timeout loses its term.
    fig("leader_event_loop_delay_max_ms", m["runtime/event_loop_delay_max_ms"] ?? -1, "ms", "lower", {
      p99_ms: m["runtime/event_loop_delay_p99_ms"],
      leader_terms_won: m["master/leadership_elections"],
      leader_stand_downs: m["master/leadership_stand_downs"],
      spurious_elections: m["raft/spurious_elections"],
      raft_timing: settings.masterFlags.filter((f) => f.startsWith("--raft")).join(" "),
    });

    if (!failover) return;
    // kill -9 of the leader.
    await cluster.mark();
    const old = cluster.leader();
    // The standbys' CPU before the kill: the new leader's CPU over the failover is its cost.
    const standbyCpu = new Map(cluster.masters.processes.map((p, i) => [i, i === old || !p ? 0 : processUsage(p.pid).cpuMs]));
    const standbyDelay = new Map(cluster.masters.processes.map((p, i) => [i, i === old || !p ? { allMs: 0, mainMs: 0, mainCpuMs: 0 } : runDelayMs(p.pid)]));
    // What the harness's processes spend over the failover, beside the new leader.
    const harnessCpu = () => [...cluster.agents, ...cluster.frameworks].map((c) => processUsage(c.pid).cpuMs);
    const harness0 = harnessCpu();
    const bench0 = process.cpuUsage();
    const killedAt = performance.now();
    const killedWall = Date.now();
    await cluster.masters.kill9(old);
    const at = { leader: 0, agents: 0, frameworks: 0, reconciled: 0 };
    await explained(
      waitFor(
        () => {
          const now = performance.now() - killedAt;
          const l = cluster.leader();
          if (!at.leader && l >= 0 && l !== old) at.leader = now;
          const as: Stats | undefined = cluster.agentStats();
          const fs: Stats | undefined = cluster.frameworkStats();
          // Each when it happened on its process's clock (the stats lines come every 500 ms).
          if (!at.agents && as && as.backSinceMark! >= agents) at.agents = Math.max(1, as.reregisteredAt! - killedWall);
          if (!at.frameworks && fs && fs.resubscribed! >= frameworks) at.frameworks = fs.resubscribedAt! - killedWall;
          if (!at.reconciled && fs && fs.longRunningSinceMark! >= longTotal) at.reconciled = Math.max(1, fs.lastRunningSinceAt! - killedWall);
          return at.leader > 0 && at.agents > 0 && at.frameworks > 0 && at.reconciled > 0;
        },
        "a new leader, every agent reregistered, every framework resubscribed, every long task reconciled",
        120_000 * scaleS,
        20,
      ),
    );
    const foWall = performance.now() - killedAt;
    const harness1 = harnessCpu();
    const bench1 = process.cpuUsage(bench0);
    const leaderDelay = runDelayMs(cluster.leaderPid());
    const foDelay = leaderDelay.allMs - (standbyDelay.get(cluster.leader())?.allMs ?? 0);
    const foLoopDelay = leaderDelay.mainMs - (standbyDelay.get(cluster.leader())?.mainMs ?? 0);
    const foMainCpu = leaderDelay.mainCpuMs - (standbyDelay.get(cluster.leader())?.mainCpuMs ?? 0);
    const foCpu = processUsage(cluster.leaderPid()).cpuMs - (standbyCpu.get(cluster.leader()) ?? 0);
    const foShare = (ms: number) => Math.round((ms / foWall) * 1000) / 1000;
    const harnessProcs = [...cluster.agents, ...cluster.frameworks].map((c, i) => ({ name: c.name, cpu_share: foShare(harness1[i]! - harness0[i]!) }));
    fig("failover_leader_run_delay_ms_per_s", (foDelay / foWall) * 1000, "ms/s", "lower", {
      window_ms: Math.round(foWall),
      run_delay_ms: Math.round(foDelay),
      main_thread_ms_per_s: Math.round((foLoopDelay / foWall) * 1000),
      new_leader_cpu_share: foShare(foCpu),
      harness_cpu_share: foShare(harnessProcs.reduce((sum, p) => sum + p.cpu_share * foWall, 0)),
      bench_cpu_share: foShare((bench1.user + bench1.system) / 1000),
      harness: harnessProcs,
      note: "from the kill to every task reconciled: the new leader's threads runnable and waiting for a CPU (schedstat run_delay, summed over its threads; main_thread: its event loop's thread alone) per second, and the CPU shares of it, the harness's processes and the bench",
    });
    fig("failover_new_leader_ms", at.leader, "ms", "lower");
    fig("failover_agents_reregistered_ms", at.agents, "ms", "lower");
    fig("failover_frameworks_resubscribed_ms", at.frameworks, "ms", "lower");
    fig("failover_tasks_reconciled_ms", at.reconciled, "ms", "lower", { goal_ms: 10_000 });
    const fAfter = cluster.frameworkStats()!;
    fig("failover_reconcile_calls", fAfter.reconcileCalls! - f.reconcileCalls!, "calls", "lower", { failed: fAfter.reconcileErrors! - f.reconcileErrors!, tasks_asked: fAfter.reconcileAsked! - f.reconcileAsked!, answers_heard: fAfter.reconcileAnswers! - f.reconcileAnswers!, note: "the frameworks' explicit reconciliation calls from the kill until every task was heard RUNNING" });
    // How the new leader paced its announcements (registry-recovery.ts: its line once every agent was announced).
    const pacing = cluster.masters.processes[cluster.leader()]?.lines.filter((l) => /Announced term \d+|Every agent the registry held/.test(l)).map((l) => l.slice(0, 400));
    if (pacing?.length) process.stderr.write(`new leader:\n  ${pacing.join("\n  ")}\n`);
    const after = processUsage(cluster.leaderPid());
    fig("failover_new_leader_rss_mb", after.rssBytes / 2 ** 20, "MiB", "lower");
    const failoverCpu = after.cpuMs - (standbyCpu.get(cluster.leader()) ?? 0);
    fig("failover_new_leader_cpu_ms", failoverCpu, "ms", "lower", {
      per_agent_ms: failoverCpu / agents,
      main_thread_ms: Math.round(foMainCpu),
      main_thread_per_agent_ms: foMainCpu / agents,
      note: "the new leader's CPU from the kill until every task was reconciled: reregistrations, resubscriptions, reconciliation, events; per agent is all of it over the agents; main_thread: its event loop's thread alone until the last task was reconciled (the rest is V8's collector helpers, the libuv pool and the log's thread)",
    });
    // The tap of the new leader: every event of the failover published, none dropped.
    let tapped: Record<string, number> = {};
    await waitFor(
      async () => {
        tapped = await cluster.metrics();
        return (tapped["events/tap_buffered"] ?? 0) === 0;
      },
      "the new leader's event tap to publish what it buffered",
      60_000 * scaleS,
      200,
    ).catch(() => undefined);
    // Reregistrations the new leader handled (copies included: an agent not answered within its backoff sends again).
    fig("failover_reregister_messages_per_agent", (tapped["master/messages_reregister_agent"] ?? 0) / agents, "ratio", "lower", {
      messages: tapped["master/messages_reregister_agent"],
      note: "ReregisterAgent messages the new leader handled over the agents (1 = no copies; counted since it started)",
    });
    fig("failover_tap_dropped", tapped["events/tap_dropped"] ?? -1, "events", "lower", {
      published: tapped["events/tap_published"],
      nats_messages: tapped["events/tap_messages"],
      buffered: tapped["events/tap_buffered"],
      peak_events: tapped["events/tap_buffered_peak"],
      peak_bytes: tapped["events/tap_buffered_peak_bytes"],
    });
    const procs = [...cluster.agents, ...cluster.frameworks].map((c) => ({ name: c.name, cpu_ms: c.latest?.cpuMs, rss_mb: c.latest?.rssMb }));
    fig("harness_processes_cpu_ms", procs.reduce((s, p) => s + (p.cpu_ms ?? 0), 0), "ms", "lower", { procs });
  } finally {
    if (masterDiag) await printMasterDiag(cluster, Math.round((performance.now() - progressStart) / 1000));
    process.off("SIGTERM", interrupted);
    process.off("SIGINT", interrupted);
    clearInterval(progress);
    threads?.stop();
    if (threadTrace) for (const [i, p] of cluster.masters.processes.entries()) if (p) writeFileSync(join(threadTrace, `master-${i + 1}.log`), `${p.lines.join("\n")}\n`);
    await cluster.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per master: Raft term and role, the event loop's recent delay, snapshots, and its Raft leader lines since the last call. */
const diagLinesSeen = new Map<number, number>();
async function printMasterDiag(cluster: ScaleCluster, at: number): Promise<void> {
  const out: string[] = [];
  for (const [i, p] of cluster.masters.processes.entries()) {
    if (!p) continue;
    const line = p.lines.find((l) => l.includes("Master HTTP on http://"));
    const addr = line ? /Master HTTP on http:\/\/([^ )"]+)/.exec(line)?.[1] : undefined;
    let figures = "no HTTP";
    if (addr) {
      try {
        const m = (await (await fetch(`http://${addr}/metrics/snapshot`, { signal: AbortSignal.timeout(5_000) })).json()) as Record<string, number>;
        const k = (key: string) => m[key] ?? "-";
        figures = `term ${k("raft/term")} leader ${k("raft/is_leader")} elections ${k("raft/elections_started")} pre-votes ${k("raft/pre_votes_started")} loop delay max ${k("runtime/event_loop_delay_max_ms")} p99 ${k("runtime/event_loop_delay_p99_ms")} ms; leader silent max ${k("raft/leader_silence_max_ms")} ms; snapshots ${k("raft/snapshot_ms/count")} max ${k("raft/snapshot_ms/max")} ms; applied ${k("raft/applied_index")}` +
          `\n    gc pause max ${k("runtime/gc_pause_max_ms")} major max ${k("runtime/gc_major_pause_max_ms")} ms, ${k("runtime/gc_major_count")} major, ${k("runtime/gc_ms_total")} ms in all; rss ${k("runtime/rss_mb")} heap ${k("runtime/heap_used_mb")}/${k("runtime/heap_total_mb")} external ${k("runtime/external_mb")} buffers ${k("runtime/array_buffers_mb")} MiB` +
          `\n    mailbox ${k("runtime/event_queue_messages")} msgs (shed ${k("runtime/dropped/mailbox_shed")}, stalls ${k("runtime/loop_stalls")} ${k("runtime/loop_stall_ms")} ms, GC ${k("runtime/loop_stall_gc_ms")} ms of it); to nodes ${k("runtime/transport_queued_kb")} KiB (max peer ${k("runtime/transport_queued_max_peer_kb")}); scheduler streams blocked ${k("master/scheduler_streams_blocked")} queued ${k("master/scheduler_stream_queued_events")} events (max ${k("master/scheduler_stream_queued_events_max")}); launch queue ${k("master/launch_queue_tasks")} tasks, call queue ${k("master/framework_call_queue_ms")} ms; tasks staging ${k("master/tasks_staging")} running ${k("master/tasks_running")}`;
      } catch (e) {
        figures = `metrics: ${(e as Error).message}`;
      }
    }
    const from = diagLinesSeen.get(i) ?? 0;
    const leaderLines = p.lines.slice(from).filter((l) => /Raft leader is now|stepped down|check.?quorum|Snapshot at|Event loop held/i.test(l)).map((l) => l.slice(0, 300));
    diagLinesSeen.set(i, p.lines.length);
    out.push(`  master-${i + 1}: ${figures}${leaderLines.map((l) => `\n    ${l}`).join("")}`);
  }
  process.stderr.write(`masters at ${at} s:\n${out.join("\n")}\n`);
}
