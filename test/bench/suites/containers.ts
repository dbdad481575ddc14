/**
 * `npm run bench -- containers [-- --count=100 --window=20 --hold=100 --runs=5 --modes=posix,cgroups+namespaces,docker --launchers=warm,inline]`:
 * an agent (real agent node: its containerizer, the built-in command executor, gRPC
 * ExecutorService) is sent `count` RunTask messages for `true` command tasks, at most
 * `window` unfinished at a time, once per mode: posix; cgroups,namespaces (root); docker
 * (a running dockerd and the test image `dcos-test/busybox`, which the docker tests build).
 *
 * Figures per mode (`agent_<mode>_…`): tasks launched per second (first RunTask → last
 * TASK_RUNNING) and its ratio to the baseline; RunTask → TASK_RUNNING p50/p99; CPU per task
 * on our side, split into `agent_cpu` (this process, which the agent shares with the bench:
 * process.cpuUsage) and `supervisor_cpu` (this process's descendants, live or reaped: the
 * launch wrappers, executors and the tasks' own `true`; see process-tree.ts), and their sum
 * `cpu_ms_per_task`. dockerd's and containerd's CPU is in neither.
 *
 * Baselines in the same run: child_process.spawn of the same command through /bin/sh -c
 * with the same window (spawn → 'spawn' event), and for docker `docker run -d --rm` of the
 * same image from the CLI with the same window (the CLI returns once the container started;
 * `docker_cli_run_per_s`) and `docker run --rm` attached (it returns once the container ended
 * and was removed, the whole life the agent gives a task's container; `_attached_per_s`).
 *
 * Hold (`--hold=N`, 0 to skip; posix): N `sleep` tasks launched and kept running on the
 * agent, then killed: the agent's RSS growth per task, the PSS per task of whatever
 * supervises them (every descendant that is not the `sleep` itself) and of the tasks, and
 * the time to kill them all. Launching stops early, saying so, when the host's available
 * memory falls under `--min-free-mib` (default 2048).
 *
 * `dcos-node run` (`--runs=N`, default 5, 0 skips it; cli-run.ts): an embedded dev cluster
 * (one agent) and N runs of `dcos-node run -- true` per variant (through the run service and
 * as a one-off framework), each a new CLI process, medians of the ms from its spawn to
 * "Subscribed", "Launching task", TASK_RUNNING and its exit, beside the same run's
 * `node -e 0` and `dcos-node --version` (the floor, and the CLI's module loading).
 * `--cli=<entry>` times another build's CLI against this build's cluster.
 *
 * `--launchers=warm,inline` runs each isolation mode once per launcher: `warm` (default) forks
 * the launch wrappers in the warm launcher process (posix.ts, launcher-server.ts), `inline`
 * in the agent itself as before; the inline figures are named `agent_<mode>_inline_…`.
 *
 * `--stages` adds, per isolation mode, the p50/p99 of each stage of a launch (ms from the
 * bench's RunTask: received, sandbox made, spawn asked, pid known, cgroups placed, go sent,
 * launch returned, container checkpointed, STARTING/RUNNING asked, durable and sent, the first
 * acknowledgement received, RUNNING seen by the bench), from the agent's LaunchTrace
 * (src/actors/agent/launch-trace.ts; off without the flag).
 *
 * `--gates=0,16` runs each isolation mode (warm launcher) once per number of launch wrappers the
 * warm launcher keeps forked ahead of need (src/isolation/launcher-gates.ts; 0: forked on demand,
 * one at a time, as before), named `…_gates<N>_…`.
 *
 * `--agent-fs=agent,node` runs each isolation mode with the agent's default disk
 * (src/actors/agent/agent-file-system.ts: every call but the flushes synchronous) and with
 * NodeFileSystem (every call through the libuv thread pool, as before), named `…_nodefs_…`.
 *
 * `--lane=0,100` runs each isolation mode once per value of the agent's launchLaneMaxWaitMs
 * (src/actors/agent/launch-lane.ts; 0: containers' ends never wait behind launches), named
 * `…_lane<N>_…`.
 *
 * `--runtime=default,work` runs each isolation mode with the containers' runtime directories where
 * the agent puts them by default (a directory on tmpfs linked from `<work dir>/containers` when the
 * machine has a tmpfs it may use: src/isolation/runtime-root.ts) and on the work dir's disk (as
 * before), named `…_runtime_<place>_…`. Without the flag: the default.
 *
 * `--running=beside,after` runs each isolation mode with an agent-run task's RUNNING record written
 * beside its container's checkpoint (the default; sent once the checkpoint is durable) and after
 * it (AgentOptions.runningBesideCheckpoint false), named `…_running_<when>_…`.
 *
 * `--starting=early,late` runs each isolation mode with an agent-run task's STARTING asked for as its RunTask is
 * handled, before its sandbox is made (the default), and after whatever the agent had queued meanwhile
 * (AgentOptions.startingBeforeSandbox false, as before), named `…_starting_<when>_…`.
 *
 * `--update-log=journal,files` runs each isolation mode with the agent's status update streams in
 * one journal (the default, src/actors/agent/update-journal.ts) and in a file per task
 * (AgentOptions.statusUpdateLog "files", before session 9), named `…_log_<layout>_…`.
 *
 * `--spares=on,off` runs each isolation mode with ended executors' checkpoint files kept for the
 * next launches (the default, src/actors/agent/spare-files.ts) and made and deleted per task
 * (AgentOptions.spareCheckpoints false, before session 10), named `…_spares_<on|off>_…`.
 *
 * `--repeat=N` runs the bare spawn and every variant N times, interleaved (A, B, A, B, …), and
 * prints each figure once: the median of the N, with every value in `repeats`. One run of a
 * variant is a few seconds of launching; on a shared machine only the medians of several runs,
 * interleaved, tell two variants apart.
 *
 * `--work-dirs=remove` removes each run's work dir as the run ends (before session 10); by
 * default they are all removed at the end of the bench, so that no run makes its sandboxes
 * among the inodes the previous run's removal just freed (see `keptWorkDirs`).
 *
 * `--command-executor=process` runs the command tasks in the per-task node command executor
 * (the agent's flag of that name) instead of the agent itself, for comparison.
 *
 * `uptime` load (1/5/15 min) is printed before and after: the machine is shared.
 * (The `containerizer` suite measures the containerizer alone.)
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { ContainerInfoSchema, ContainerInfo_DockerInfo_Network, ContainerInfo_Type, type TaskInfo } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { removeCgroup } from "../../../src/isolation/cgroup-files.js";
import { readCgroupMounts } from "../../../src/isolation/cgroup-mounts.js";
import { CompositeContainerizer } from "../../../src/isolation/composite-containerizer.js";
import { DockerContainerizer } from "../../../src/isolation/docker.js";
import { isolatorsFor } from "../../../src/isolation/isolation-flag.js";
import type { CommandExecutorMode } from "../../../src/actors/agent/agent-options.js";
import { PosixContainerizer } from "../../../src/isolation/posix.js";
import { chooseRuntimeRoot } from "../../../src/isolation/runtime-root.js";
import { LaunchTrace } from "../../../src/actors/agent/launch-trace.js";
import { NodeFileSystem } from "../../../src/runtime/file-system.js";
import { startCluster, task, type Cluster } from "../../executor/cluster.js";
import { holdTasks, throughAgent, windowed, type Run } from "../agent-launches.js";
import { cliRuns, reportCliRuns } from "../cli-run.js";
import { percentile, RepeatReporter, reportLoad, type Reporter } from "../report.js";

const DOCKER_IMAGE = "dcos-test/busybox:latest";
const CGROUP_ROOT = `dcos-bench-containers-${process.pid}`;

function arg(args: string[], name: string): string | undefined {
  return args.find((x) => x.startsWith(`--${name}=`))?.split("=")[1];
}

function numberArg(args: string[], name: string, fallback: number): number {
  const v = Number(arg(args, name));
  return Number.isInteger(v) && v >= 0 && arg(args, name) !== undefined ? v : fallback;
}

/**
 * The work dirs of the runs so far, removed at the end of the bench (`--work-dirs=keep`, the
 * default), or undefined: each removed as its run ends (`--work-dirs=remove`, as before session
 * 10). On this machine's journal-less ext4 each new inode is looked for past every inode of
 * its group deleted in the last minutes (docs/task-launch.md, "Session 10"): removing a run's
 * ~2,000 files just before the next run makes its sandboxes charged the next run's agent for
 * the harness's deletions. An agent deletes old sandboxes a few at a time, after its GC delay.
 */
let keptWorkDirs: string[] | undefined;

async function isolationCluster(mode: string, commandExecutor: CommandExecutorMode, launcher: "warm" | "inline", launchTrace?: LaunchTrace, agentFs: "agent" | "node" = "agent", launcherGates?: number, launchLaneMaxWaitMs?: number, runtime: RuntimePlace = "default", running?: RunningRecord, starting?: StartingWhen, updateLog?: UpdateLog, spares?: boolean): Promise<Cluster> {
  // The agent of startCluster has cpus:2; its containers together weigh as 2 CPUs (rootCpus).
  const isolators = await isolatorsFor(mode, { root: CGROUP_ROOT, rootCpus: 2 });
  const trace = launchTrace && ((id: string, stage: string): void => launchTrace.container(id, stage));
  // The agent's own choice (runtime-root.ts: tmpfs when there is one), or `work`: on the work dir's disk as before.
  const runtimeRoot = (workDir: string): string => chooseRuntimeRoot(workDir, runtime === "work" ? { runtimeDir: join(workDir, "containers") } : {}).path;
  return startCluster((workDir) => new PosixContainerizer({ runtimeRoot: runtimeRoot(workDir), isolators, launcher, ...(launcherGates === undefined ? {} : { launcherGates }), ...(trace ? { trace } : {}) }), { commandExecutor, ...(launchTrace ? { launchTrace } : {}), ...(agentFs === "node" ? { fs: new NodeFileSystem() } : {}), ...(launchLaneMaxWaitMs === undefined ? {} : { launchLaneMaxWaitMs }), ...(running === undefined ? {} : { runningBesideCheckpoint: running === "beside" }), ...(starting === undefined ? {} : { startingBeforeSandbox: starting === "early" }), ...(updateLog === undefined ? {} : { statusUpdateLog: updateLog }), ...(spares === undefined ? {} : { spareCheckpoints: spares }) }, keptWorkDirs);
}

/** Why docker cannot be benched here, or undefined when dockerd answers and the image is there. */
async function dockerMissing(): Promise<string | undefined> {
  const present = await new Docker().getImage(DOCKER_IMAGE).inspect().then(() => true, (e: unknown) => (e as Error).message);
  if (present === true) return undefined;
  return `${DOCKER_IMAGE} is not there (${present}); start dockerd (deploy/setup-host.sh) and run the docker tests once (test/isolation/docker.test.ts) to build it`;
}

async function dockerMode(count: number, window: number): Promise<Run> {
  const owner = await mkdtemp(join(tmpdir(), "dcos-bench-docker-"));
  const cluster = await startCluster(
    (workDir) => new CompositeContainerizer([new DockerContainerizer({ owner }), new PosixContainerizer({ runtimeRoot: `${workDir}/containers` })]),
  );
  const dockerTask = (id: string): TaskInfo => {
    const t = task(id, "true");
    t.container = create(ContainerInfoSchema, { type: ContainerInfo_Type.DOCKER, docker: { image: DOCKER_IMAGE, network: ContainerInfo_DockerInfo_Network.HOST } });
    return t;
  };
  return throughAgent(cluster, "docker", dockerTask, count, window);
}

/**
 * The baselines for docker, the same image and command from the CLI: `docker run -d --rm`
 * (detached: a slot is free once the container started) and `docker run --rm` (attached: a
 * slot is held until the container ended and was removed, the whole life the agent gives a
 * task's container).
 */
async function dockerCli(count: number, window: number, detached: boolean): Promise<Run> {
  return windowed(count, window, async () => {
    const t0 = performance.now();
    const child = spawn("docker", ["run", ...(detached ? ["-d"] : []), "--rm", "--network", "host", DOCKER_IMAGE, "true"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    if (code !== 0) throw new Error(`docker run exited with ${code}: ${stderr.trim()}`);
    return performance.now() - t0;
  });
}

/** The bench's (empty by now) root cgroups, in every hierarchy that has one. */
async function removeCgroupRoots(): Promise<void> {
  const mounts = await readCgroupMounts().catch(() => undefined);
  if (!mounts) return;
  for (const dir of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) {
    await removeCgroup(join(dir, CGROUP_ROOT)).catch((e: unknown) => process.stderr.write(`${(e as Error).message}\n`));
  }
}

async function plainSpawn(count: number, window: number): Promise<Run> {
  return windowed(count, window, async () => {
    const t0 = performance.now();
    const child = spawn("/bin/sh", ["-c", "true"], { stdio: "ignore", detached: true });
    await once(child, "spawn");
    const latency = performance.now() - t0;
    await once(child, "exit");
    return latency;
  });
}

function reportRun(report: Reporter, name: string, r: Run, extra: Record<string, unknown>): void {
  report.figure(`${name}_run_task_to_running_p50_ms`, percentile(r.latencies, 50), "ms", "lower", extra);
  report.figure(`${name}_run_task_to_running_p99_ms`, percentile(r.latencies, 99), "ms", "lower", extra);
  report.figure(`${name}_agent_cpu_ms_per_task`, r.selfCpuMsPerJob, "ms", "lower", extra);
  report.figure(`${name}_supervisor_cpu_ms_per_task`, r.descendantsCpuMsPerJob, "ms", "lower", extra);
  report.figure(`${name}_cpu_ms_per_task`, r.selfCpuMsPerJob + r.descendantsCpuMsPerJob, "ms", "lower", extra);
}

/** Per stage of a launch (--stages), in the order of their medians: ms from the bench's RunTask, p50 and p99. */
function reportStages(report: Reporter, name: string, r: Run, extra: Record<string, unknown>): void {
  const rows = [...(r.stages ?? new Map<string, number[]>())].map(([stage, ms]) => ({ stage, ms, p50: percentile(ms, 50) })).sort((x, y) => x.p50 - y.p50);
  for (const { stage, ms, p50 } of rows) {
    const key = stage.toLowerCase().replace(/[^a-z0-9]+/g, "_");
    report.figure(`${name}_stage_${key}_p50_ms`, p50, "ms", "lower", { ...extra, stage, tasks: ms.length });
    report.figure(`${name}_stage_${key}_p99_ms`, percentile(ms, 99), "ms", "lower", { ...extra, stage, tasks: ms.length });
  }
}

/** Where the containers' runtime directories go (`--runtime=default,work`): the agent's default (tmpfs when there is one) or the work dir's disk. */
type RuntimePlace = "default" | "work";
/** When an agent-run task's RUNNING record is written (`--running=beside,after`): beside its container's checkpoint (the default) or after it. */
type RunningRecord = "beside" | "after";
/** When an agent-run task's STARTING is asked for (`--starting=early,late`): as its RunTask is handled (the default) or after what the agent had queued. */
type StartingWhen = "early" | "late";
/** Where the agent's status update streams go (`--update-log=journal,files`): one journal (the default) or a file per task. */
type UpdateLog = "journal" | "files";

interface Variants {
  count: number;
  window: number;
  modes: string[];
  commandExecutor: CommandExecutorMode;
  launchers: ("warm" | "inline")[];
  stages: boolean;
  agentFses: ("agent" | "node")[];
  gateCounts: (number | undefined)[];
  laneWaits: (number | undefined)[];
  runtimes: (RuntimePlace | undefined)[];
  runnings: (RunningRecord | undefined)[];
  startings: (StartingWhen | undefined)[];
  updateLogs: (UpdateLog | undefined)[];
  spareses: (boolean | undefined)[];
}

/** The bare spawn, then every isolation mode and variant through the agent, once. */
async function launches(report: Reporter, { count, window, modes, commandExecutor, launchers, stages, agentFses, gateCounts, laneWaits, runtimes, runnings, startings, updateLogs, spareses }: Variants): Promise<void> {
  const baseline = await plainSpawn(count, window);
  report.figure("spawn_per_s", baseline.perSecond, "launches/s", "higher", { count, window });
  report.figure("spawn_to_running_p50_ms", percentile(baseline.latencies, 50), "ms", "lower", { count, window });
  report.figure("spawn_to_running_p99_ms", percentile(baseline.latencies, 99), "ms", "lower", { count, window });
  report.figure("spawn_cpu_ms_per_task", baseline.selfCpuMsPerJob + baseline.descendantsCpuMsPerJob, "ms", "lower", { count, window });
  for (const mode of modes) {
    if (mode !== "posix" && process.getuid?.() !== 0) {
      process.stderr.write(`skipping ${mode}: it needs root\n`);
      continue;
    }
    if (mode === "docker") {
      const name = `agent_${mode}`;
      const extra = { count, window, mode, commandExecutor };
      const missing = await dockerMissing();
      if (missing) {
        process.stderr.write(`skipping docker: ${missing}\n`);
        continue;
      }
      const cli = await dockerCli(count, window, true);
      const r = await dockerMode(count, window);
      const attached = await dockerCli(count, window, false);
      report.figure("docker_cli_run_per_s", cli.perSecond, "launches/s", "higher", extra);
      report.figure("docker_cli_run_p50_ms", percentile(cli.latencies, 50), "ms", "lower", extra);
      report.figure("docker_cli_run_attached_per_s", attached.perSecond, "launches/s", "higher", extra);
      report.figure(`${name}_launches_per_s`, r.perSecond, "launches/s", "higher", extra);
      report.figure(`${name}_launches_per_s_vs_docker_cli_run_per_s`, r.perSecond / cli.perSecond, "ratio", "higher", extra);
      report.figure(`${name}_launches_per_s_vs_docker_cli_run_attached_per_s`, r.perSecond / attached.perSecond, "ratio", "higher", extra);
      report.figure(`${name}_launches_per_s_vs_spawn_per_s`, r.perSecond / baseline.perSecond, "ratio", "higher", extra);
      reportRun(report, name, r, extra);
      continue;
    }
    for (const launcher of launchers) for (const agentFs of agentFses) for (const gates of launcher === "warm" ? gateCounts : [undefined]) for (const lane of laneWaits) for (const runtime of runtimes) for (const running of runnings) for (const starting of startings) for (const updateLog of updateLogs) for (const spares of spareses) {
      const name = `agent_${mode.replace(",", "_")}${launcher === "inline" ? "_inline" : ""}${agentFs === "node" ? "_nodefs" : ""}${gates === undefined ? "" : `_gates${gates}`}${lane === undefined ? "" : `_lane${lane}`}${runtime === undefined ? "" : `_runtime_${runtime}`}${running === undefined ? "" : `_running_${running}`}${starting === undefined ? "" : `_starting_${starting}`}${updateLog === undefined ? "" : `_log_${updateLog}`}${spares === undefined ? "" : `_spares_${spares ? "on" : "off"}`}`;
      const extra = { count, window, mode, commandExecutor, launcher, agentFs, ...(gates === undefined ? {} : { gates }), ...(lane === undefined ? {} : { lane }), ...(runtime === undefined ? {} : { runtime }), ...(running === undefined ? {} : { running }), ...(starting === undefined ? {} : { starting }), ...(updateLog === undefined ? {} : { updateLog }), ...(spares === undefined ? {} : { spares }) };
      const trace = stages ? new LaunchTrace() : undefined;
      const r = await throughAgent(await isolationCluster(mode, commandExecutor, launcher, trace, agentFs, gates, lane, runtime, running, starting, updateLog, spares), name, (id) => task(id, "true"), count, window, trace);
      report.figure(`${name}_launches_per_s`, r.perSecond, "launches/s", "higher", extra);
      report.figure(`${name}_launches_per_s_vs_spawn_per_s`, r.perSecond / baseline.perSecond, "ratio", "higher", extra);
      reportRun(report, name, r, extra);
      reportStages(report, name, r, extra);
    }
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const count = numberArg(args, "count", 100);
  const window = numberArg(args, "window", 20);
  const hold = numberArg(args, "hold", 100);
  const minFree = numberArg(args, "min-free-mib", 2048) * 2 ** 20;
  const modes = (arg(args, "modes") ?? "posix,cgroups+namespaces,docker").split(",").map((m) => m.replace("+", ","));
  // --command-executor=process: command tasks in the per-task node executor, as before issue 15 (for comparison).
  const commandExecutor: CommandExecutorMode = arg(args, "command-executor") === "process" ? "process" : "agent";
  // --launchers=warm,inline: who forks the launch wrappers (the warm launcher process, or the agent itself), one run each.
  const launchers = (arg(args, "launchers") ?? "warm").split(",").map((l) => (l === "inline" ? "inline" : "warm") as "warm" | "inline");
  // --stages: per-stage timestamps of each launch (the agent's LaunchTrace), as figures per stage.
  const stages = args.includes("--stages");
  // --agent-fs=agent,node: the agent's disk, its default (agent-file-system.ts: synchronous but for the flushes) or
  // runtime/file-system.ts's NodeFileSystem (everything through the thread pool, as before), one run each; `node` runs are named `…_nodefs_…`.
  const agentFses = (arg(args, "agent-fs") ?? "agent").split(",").map((f) => (f === "node" ? "node" : "agent") as "agent" | "node");
  // --gates=0,16: how many launch wrappers the warm launcher keeps forked ahead of need (launcher-gates.ts), one run
  // each, named `…_gates<N>_…`; without the flag, the containerizer's default.
  const gateCounts = arg(args, "gates")?.split(",").map(Number).filter((n) => Number.isInteger(n) && n >= 0) ?? [undefined];
  // --lane=0,100: the agent's launchLaneMaxWaitMs (launch-lane.ts; 0: containers' ends never wait behind launches), one run each, named `…_lane<N>_…`.
  const laneWaits = arg(args, "lane")?.split(",").map(Number).filter((n) => Number.isInteger(n) && n >= 0) ?? [undefined];
  // --runtime=default,work: the containers' runtime directories where the agent puts them by default (tmpfs when there is
  // one, src/isolation/runtime-root.ts) or on the work dir's disk (as before), one run each, named `…_runtime_<place>_…`.
  const runtimes = arg(args, "runtime")?.split(",").filter((r): r is RuntimePlace => r === "default" || r === "work") ?? [undefined];
  // --running=beside,after: an agent-run task's RUNNING record written beside its container's checkpoint (the default)
  // or after it (the agent's runningBesideCheckpoint), one run each, named `…_running_<when>_…`.
  const runnings = arg(args, "running")?.split(",").filter((r): r is RunningRecord => r === "beside" || r === "after") ?? [undefined];
  // --starting=early,late: an agent-run task's STARTING asked for as its RunTask is handled (the default) or after what the
  // agent had queued meanwhile (the agent's startingBeforeSandbox), one run each, named `…_starting_<when>_…`.
  const startings = arg(args, "starting")?.split(",").filter((r): r is StartingWhen => r === "early" || r === "late") ?? [undefined];
  // --update-log=journal,files: the agent's status update streams in one journal (the default) or a file per task (the
  // agent's statusUpdateLog), one run each, named `…_log_<layout>_…`.
  const updateLogs = arg(args, "update-log")?.split(",").filter((r): r is UpdateLog => r === "journal" || r === "files") ?? [undefined];
  // --spares=on,off: ended executors' checkpoint files kept for the next launches (the default) or made and deleted per task.
  const spareses = arg(args, "spares")?.split(",").filter((r) => r === "on" || r === "off").map((r) => r === "on") ?? [undefined];
  // --repeat=N: the bare spawn and every variant N times, interleaved (variant A, B, A, B, …), each figure the median of the N.
  const repeat = Math.max(1, numberArg(args, "repeat", 1));
  // --work-dirs=keep|remove: the runs' work dirs removed at the end of the bench (the default) or each as its run ends.
  keptWorkDirs = arg(args, "work-dirs") === "remove" ? undefined : [];
  reportLoad(report, "start");
  const collect = repeat > 1 ? new RepeatReporter(report.suite) : undefined;
  for (let i = 0; i < repeat; i++) await launches(collect ?? report, { count, window, modes, commandExecutor, launchers, stages, agentFses, gateCounts, laneWaits, runtimes, runnings, startings, updateLogs, spareses });
  collect?.medians(report);
  if (hold > 0) {
    const h = await holdTasks(await isolationCluster("posix", commandExecutor, launchers[0]!), (id) => task(id, "sleep 3600"), "sleep", hold, window, minFree);
    const extra = { asked: hold, window, mode: "posix", commandExecutor, ...(h.stoppedBecause ? { stopped_because: h.stoppedBecause } : {}) };
    report.figure("hold_running_tasks", h.running, "tasks", "higher", extra);
    report.figure("hold_launches_per_s", h.running / h.launchSeconds, "launches/s", "higher", extra);
    report.figure("hold_agent_rss_kib_per_task", h.agentRssBytesPerTask / 1024, "KiB", "lower", extra);
    report.figure("hold_supervisor_pss_kib_per_task", h.supervisorPssBytesPerTask / 1024, "KiB", "lower", extra);
    report.figure("hold_task_pss_kib_per_task", h.taskPssBytesPerTask / 1024, "KiB", "lower", extra);
    report.figure("hold_kill_all_s", h.killSeconds, "s", "lower", extra);
  }
  const runs = numberArg(args, "runs", 5);
  if (runs > 0) {
    const cli = arg(args, "cli");
    reportCliRuns(report, await cliRuns(runs, cli), { runs, ...(cli ? { cli } : {}) });
  }
  await removeCgroupRoots();
  for (const dir of keptWorkDirs ?? []) await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
  reportLoad(report, "end");
}
