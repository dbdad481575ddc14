/**
 * One chaos run with real processes in network namespaces: three masters (one Raft group)
 * and three agents, the chaos framework (chaos-framework.ts) keeping long tasks and a
 * stream of short ones, a bounded CPU load generator, and a sequence of faults, one at a
 * time: kill -9 of the leader, a cut of an agent shorter than the masters' ping timeout,
 * kill -9 and restart of an agent, of the framework, of both standbys for a while (quorum
 * lost: writes must be refused), of the leader again. After each fault the run measures how
 * long the cluster took to recover (a leader, every agent active, the framework subscribed,
 * every long task last heard RUNNING, and a short task queued after the fault finished).
 * At the end it checks the invariants and reports per-fault recovery times.
 */
import { readdir, readFile } from "node:fs/promises";
import { TaskState, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { isTerminal, taskStateName } from "../../src/actors/task-states.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { CpuLoad } from "../support/cpu-load.js";
import { writeLogs, type NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { ChaosFramework } from "./chaos-framework.js";
import { SystemCluster } from "./system-cluster.js";

export const FAULTS = ["leader-kill", "agent-cut", "agent-restart", "framework-restart", "standbys-down", "leader-kill-again"] as const;
export type Fault = (typeof FAULTS)[number];

export interface ChaosOptions {
  /** Network-namespace cluster id. */
  clusterId: number;
  seed: number;
  faults: readonly Fault[];
  longTasks: number;
  shortPerSecond: number;
  /** CPU-spinning processes beside the cluster (0: none). */
  loadWorkers: number;
  /** Masters' ping interval; an agent is unreachable after `maxPings` unanswered ones. */
  pingIntervalMs: number;
  maxPings: number;
  /** How long an agent is cut off (shorter than pingIntervalMs × maxPings: the masters do not notice). */
  cutMs: number;
  /** How long both standbys stay down. */
  standbysDownMs: number;
  /** Longest a fault may take to recover before the run records a violation and goes on. */
  recoverWithinMs: number;
  log?: (line: string) => void;
}

export interface FaultResult {
  fault: Fault;
  /** From the fault (the heal, the restart) to a recovered cluster; -1: not within recoverWithinMs. */
  recoveryMs: number;
  detail: string;
}

export interface ChaosResult {
  seed: number;
  loadWorkers: number;
  faults: FaultResult[];
  violations: string[];
  longTasks: number;
  shortTasks: number;
  /** Tasks the framework heard of that the leading master no longer knows (not even as completed). */
  unknownToMaster: number;
  /** Short tasks accepted by a master that died before any agent got them: TASK_UNKNOWN to reconciliation. */
  neverLaunched: number;
}

/**
 * The short version (in `npm test`) or the long one (on demand) for a seed. The cut is longer
 * than the agent's own watchdog (5 silent pings: it looks for the master again) and shorter
 * than the masters' (maxPings): the leader never notices it.
 */
export function chaosOptions(seed: number, long: boolean, loadWorkers: number, log: (line: string) => void): ChaosOptions {
  const r = new Random(seed * 31 + 7);
  return {
    clusterId: Number(process.env.CHAOS_CLUSTER ?? 20),
    seed,
    faults: long ? shuffle([...FAULTS, ...FAULTS], r) : [...FAULTS],
    longTasks: long ? 30 : 9,
    shortPerSecond: long ? 2 : 1,
    loadWorkers,
    pingIntervalMs: long ? 2_000 : 1_000,
    maxPings: long ? 15 : 30,
    cutMs: long ? 20_000 : 8_000,
    standbysDownMs: long ? 15_000 : 6_000,
    recoverWithinMs: 90_000,
    log,
  };
}

function shuffle<T>(xs: T[], r: Random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** One line of JSON for a run: seed, load, recovery time per fault, task counts, violations. */
export function chaosSummary(result: ChaosResult): string {
  return JSON.stringify({
    chaos: result.seed,
    load: result.loadWorkers,
    recoveryMs: Object.fromEntries(result.faults.map((x, i) => [`${i + 1}:${x.fault}`, x.recoveryMs])),
    longTasks: result.longTasks,
    shortTasks: result.shortTasks,
    unknownToMaster: result.unknownToMaster,
    neverLaunched: result.neverLaunched,
    violations: result.violations.length,
  });
}

interface MasterTask {
  id: string;
  state: string;
}

export async function chaosRun(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const r = new Random(o.seed);
  const masterFlags = [`--agent-ping-timeout=${o.pingIntervalMs}ms`, `--max-agent-ping-timeouts=${o.maxPings}`, "--allocation-interval=200ms", "--log-level=info"];
  const t0 = Date.now();
  const c = await SystemCluster.start(o.clusterId, 6, "chaos", 3, { masterFlags, framework: false });
  const agentHosts = [4, 5, 6];
  const load = CpuLoad.start(o.loadWorkers, 30 * 60_000);
  const f = new ChaosFramework(c.masterAddress, "chaos", agentHosts.map((h) => c.hostname(h)), o.longTasks);
  const violations: string[] = [];
  const results: FaultResult[] = [];
  /** Masters killed during the run (their logs, for evidence). */
  const killed: NodeProcess[] = [];
  const killMaster = async (i: number): Promise<void> => {
    const p = c.masters[i];
    if (p) killed.push(p);
    await c.killMaster(i);
  };
  let feeder: NodeJS.Timeout | undefined;
  const started = Date.now();
  log(`chaos seed ${o.seed}: cluster ${o.clusterId} up in ${started - t0} ms`);
  try {
    await f.start();
    feeder = setInterval(() => f.addShort(1), Math.max(50, Math.round(1000 / o.shortPerSecond)));
    await waitFor(() => f.longMissing === 0 && [...f.long.keys()].every((t) => f.latest(t)?.state === TaskState.RUNNING), `${o.longTasks} long tasks RUNNING`, 180_000, 200);
    log(`chaos seed ${o.seed}: ${o.longTasks} long tasks RUNNING ${Date.now() - started} ms after the framework started, load ${o.loadWorkers} workers; faults ${o.faults.join(", ")}`);

    /** `also`: a condition of this fault on top of the cluster's health ("" when it holds). */
    const recovered = async (fault: Fault, since: number, detail: string, also: () => string = () => ""): Promise<void> => {
      const marker = `short-probe-after-${fault}-${results.length}`;
      const shortBefore = f.short.size;
      let why = "";
      let asked = Date.now();
      // What the cluster waited for, in order, with the time each wait began (printed, for the figures).
      const phases: string[] = [];
      const ok = await waitFor(
        async () => {
          why = also() || (await unhealthy(c, f, shortBefore));
          const what = why.replace(/^long task \S+ /, "a long task ");
          if (what !== "" && what !== phases.at(-1)?.replace(/^\+\d+ ms /, "")) phases.push(`+${Date.now() - since} ms ${what}`);
          if (why !== "" && Date.now() - asked > 2_000) {
            asked = Date.now();
            await f.reconcileLong().catch(() => undefined);
          }
          return why === "";
        },
        marker,
        o.recoverWithinMs,
        250,
      ).catch(() => false);
      const recoveryMs = ok ? Date.now() - since : -1;
      if (!ok) violations.push(`${fault}: not recovered within ${o.recoverWithinMs} ms (${why})`);
      results.push({ fault, recoveryMs, detail });
      log(`${fault}: ${ok ? `recovered in ${recoveryMs} ms` : `NOT recovered: ${why}`} (${detail}); waited for: ${phases.join("; ") || "nothing"}`);
    };

    // A killed leader restarts while the next faults run (a node process takes tens of seconds
    // to start on a loaded machine); faults that need every master wait for it first.
    let restarting: Promise<unknown> = Promise.resolve();
    for (const fault of o.faults) {
      if (fault !== "agent-cut" && fault !== "agent-restart" && fault !== "framework-restart") await restarting;
      switch (fault) {
        case "leader-kill":
        case "leader-kill-again": {
          const leader = await leaderIndex(c);
          const t0 = Date.now();
          await killMaster(leader);
          await recovered(fault, t0, `kill -9 of master ${leader + 1}`);
          restarting = c.restartMaster(leader);
          break;
        }
        case "agent-cut": {
          const host = agentHosts[r.int(agentHosts.length)]!;
          // The netns commands take seconds on a loaded machine (one at a time: iptables has one
          // lock): cutMs counts from the first cut, so the first master is not cut for far longer.
          const cutFrom = Date.now();
          for (let m = 1; m <= 3; m++) await c.net.partition(host, m);
          await sleepFor(Math.max(0, o.cutMs - (Date.now() - cutFrom)));
          for (let m = 1; m <= 3; m++) await c.net.heal(host, m);
          const lasted = Date.now() - cutFrom;
          await recovered(fault, Date.now(), `agent on host ${host} cut off from every master for ${o.cutMs} ms (${lasted} ms with the netns commands; masters' ping timeout ${o.pingIntervalMs * o.maxPings} ms); time from the heal`);
          break;
        }
        case "agent-restart": {
          const host = agentHosts[r.int(agentHosts.length)]!;
          const t0 = Date.now();
          await c.killAgent(host);
          const agent = await c.startAgent(host, false);
          // Until the new process has reregistered, the master may still count the old one as active.
          await recovered(fault, t0, `kill -9 and restart of the agent on host ${host}`, () =>
            agent.count(/(Registered|Reregistered) with master/) > 0 ? "" : `the restarted agent on host ${host} has not reregistered yet`,
          );
          break;
        }
        case "framework-restart": {
          const t0 = Date.now();
          await f.kill();
          await f.start();
          await recovered(fault, t0, "kill and restart of the framework (failover with its id)");
          break;
        }
        case "standbys-down": {
          const leader = await leaderIndex(c);
          const standbys = [0, 1, 2].filter((i) => i !== leader);
          for (const i of standbys) await killMaster(i);
          const refused = await writeRefused(c.masterAddress, Math.min(o.standbysDownMs, 6_000));
          if (!refused) violations.push("standbys-down: a framework subscribed (a registry write) while the masters had no quorum");
          await sleepFor(Math.max(0, o.standbysDownMs - 6_000));
          const t0 = Date.now();
          await Promise.all(standbys.map((i) => c.restartMaster(i)));
          await recovered(fault, t0, `kill -9 of masters ${standbys.map((i) => i + 1).join(" and ")} for ${o.standbysDownMs} ms (write refused: ${refused}); time from their restart`);
          break;
        }
      }
    }
    await restarting;
    clearInterval(feeder);
    feeder = undefined;
    const { unknownToMaster, neverLaunched } = await checkInvariants(c, f, violations);
    if (violations.length > 0) violations.push(...evidence(c, violations, killed));
    return { seed: o.seed, loadWorkers: o.loadWorkers, faults: results, violations, longTasks: f.long.size, shortTasks: f.short.size, unknownToMaster, neverLaunched };
  } catch (err) {
    throw new Error(`chaos seed ${o.seed}: ${(err as Error).message}\n${c.logs()}`);
  } finally {
    if (feeder) clearInterval(feeder);
    if (process.env.CHAOS_LOGS) await keepLogs(process.env.CHAOS_LOGS, o.seed, c, killed).catch((err: unknown) => log(`could not keep the logs: ${(err as Error).message}`));
    await load.stop();
    await f.teardown().catch(() => undefined);
    await c.stop();
  }
}

/**
 * For a failing run's message: the agents' log lines about executors they gave up on or
 * refused and frameworks they shut down, and every master or agent line (killed processes'
 * too) naming a task a violation names.
 */
function evidence(c: SystemCluster, violations: readonly string[], killed: readonly NodeProcess[]): string[] {
  const telling = /did not subscribe|Destroying|Shutting down (framework|executor)|not known to this agent|Holding|Failed to|reregistration timeout/i;
  const tasks = [...new Set(violations.flatMap((v) => [...v.matchAll(/task ((?:short|long)-\d+)/g)].map((m) => m[1]!)))].slice(0, 3);
  const naming = tasks.length === 0 ? undefined : new RegExp(`[^\\w-](${tasks.join("|")})[^\\w-]`);
  const out: string[] = [];
  const line = (who: string, l: string): string => {
    const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? l;
    const time = /"time":(\d+)/.exec(l)?.[1];
    return `evidence: ${who}${time ? ` at ${new Date(Number(time)).toISOString().slice(11, 23)}` : ""}: ${msg}`;
  };
  for (const [host, p] of c.agents) for (const l of p.lines) if (telling.test(l) || naming?.test(l)) out.push(line(`agent ${host}`, l));
  const masters = [...c.masters.filter((p): p is NodeProcess => p !== undefined), ...killed];
  for (const p of masters) for (const l of p.lines) if (naming?.test(l)) out.push(line(p.name, l));
  return out.slice(0, 80);
}

/** CHAOS_LOGS=dir: every process's output (killed masters' too) as dir/seed-<seed>-<name>.log. */
async function keepLogs(dir: string, seed: number, c: SystemCluster, killed: readonly NodeProcess[]): Promise<void> {
  await writeLogs(dir, [...c.masters.filter((p): p is NodeProcess => p !== undefined), ...killed, ...c.agents.values()], `seed-${seed}-`);
}

function sleepFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The index of the master that leads now (asked over HTTP: the one whose /state names itself). */
async function leaderIndex(c: SystemCluster): Promise<number> {
  return waitFor(
    async () => {
      for (let i = 0; i < 3; i++) {
        if (!c.masters[i]) continue;
        const s = await masterState(c, i).catch(() => undefined);
        if (s && s.leader !== "" && s.leader === s.pid) return i + 1;
      }
      return undefined;
    },
    "a leading master",
    60_000,
    200,
  ).then((i) => i - 1);
}

interface MasterState {
  pid: string;
  leader: string;
  activated_slaves: number;
  frameworks: { name: string; tasks: MasterTask[]; completed_tasks: MasterTask[]; unreachable_tasks: MasterTask[] }[];
}

async function masterState(c: SystemCluster, index: number): Promise<MasterState> {
  const res = await fetch(`http://${c.masterHttp(index)}/state`, { signal: AbortSignal.timeout(3_000), redirect: "manual" });
  if (res.status !== 200) throw new Error(`/state of master ${index + 1}: HTTP ${res.status}`);
  return (await res.json()) as MasterState;
}

/** Why the cluster is not recovered yet ("" when it is). */
async function unhealthy(c: SystemCluster, f: ChaosFramework, shortBefore: number): Promise<string> {
  let state: MasterState | undefined;
  for (let i = 0; i < 3 && !state; i++) {
    if (!c.masters[i]) continue;
    const s = await masterState(c, i).catch(() => undefined);
    if (s && s.leader !== "" && s.leader === s.pid) state = s;
  }
  if (!state) return "no leading master";
  if (state.activated_slaves !== 3) return `${state.activated_slaves} of 3 agents active at the leader`;
  if (!f.subscribed) return "the framework is not subscribed";
  for (const t of f.long.keys()) {
    const latest = f.latest(t);
    if (latest?.state !== TaskState.RUNNING) return `long task ${t} last heard ${latest ? taskStateName(latest.state) : "nothing"}`;
  }
  const fresh = [...f.short].slice(shortBefore);
  if (!fresh.some((t) => f.latest(t)?.state === TaskState.FINISHED)) return "no short task queued after the fault has finished yet";
  return "";
}

/** Tries a registry write (SUBSCRIBE of a new framework) for `ms`: true when it was refused all along. */
async function writeRefused(masters: string, ms: number): Promise<boolean> {
  const probe = new SchedulerDriver({ masters, framework: { name: "chaos-quorum-probe", roles: ["*"], user: "root" }, logger: testLogger(), subscribeTimeoutMs: ms });
  const subscribed = await Promise.race([probe.start().then(() => true, () => false), sleepFor(ms).then(() => false)]);
  if (subscribed) await probe.teardown().catch(() => undefined);
  await probe.stop();
  return !subscribed;
}

/** The processes whose command line is exactly `argv`. */
async function processesRunning(argv: readonly string[]): Promise<number> {
  const wanted = `${argv.join("\0")}\0`;
  let n = 0;
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline === wanted) n++;
  }
  return n;
}

/**
 * The invariants: every long task last heard RUNNING, never terminal, one process; every
 * short task exactly one terminal state; the last state heard (second deliveries of an update
 * aside: they carry no new state, and must say what the first said) is the master's. Returns how
 * many tasks the master no longer knows, and how many short tasks were never launched.
 */
async function checkInvariants(c: SystemCluster, f: ChaosFramework, violations: string[]): Promise<{ unknownToMaster: number; neverLaunched: number }> {
  // Short tasks still in flight get their terminal update (reconciling now and then).
  let asked = 0;
  await waitFor(
    async () => {
      if (Date.now() - asked > 5_000) {
        asked = Date.now();
        await f.reconcileOpen().catch(() => undefined);
      }
      return [...f.short].every((t) => f.terminalStates(t).length > 0);
    },
    "every short task to end",
    60_000,
    250,
  ).catch(() => undefined);
  for (const [t, { argv }] of f.long) {
    const latest = f.latest(t);
    if (latest?.state !== TaskState.RUNNING) violations.push(`long task ${t} last heard ${latest ? taskStateName(latest.state) : "nothing"} (${f.describe(t)})`);
    if (f.ledger.some((e) => e.taskId === t && isTerminal(e.state))) violations.push(`long task ${t} was reported terminal: ${f.describe(t)}`);
    const n = await processesRunning(argv);
    if (n !== 1) violations.push(`long task ${t} runs as ${n} processes, not 1`);
  }
  violations.push(...f.changedDuplicates());
  let neverLaunchedCount = 0;
  for (const t of f.short) {
    const terminal = f.terminalStates(t);
    // Launched on a master that died before an agent got it: no agent or executor ever spoke
    // of it (at most the dead master's own reconciliation answers, e.g. TASK_STAGING), and the
    // master now answers TASK_UNKNOWN (as in Mesos; the framework would launch it again).
    const heard = f.ledger.filter((e) => e.taskId === t);
    const neverLaunched =
      terminal.length === 0 && heard.at(-1)?.state === TaskState.UNKNOWN && heard.every((e) => e.source === TaskStatus_Source.MASTER);
    if (neverLaunched) {
      neverLaunchedCount++;
      continue;
    }
    if (terminal.length !== 1) violations.push(`short task ${t} has ${terminal.length} terminal states: ${f.describe(t) || "none heard"}`);
  }
  // The framework and the master agree once the updates in flight have arrived: a
  // reconciliation answer (the master's latest state) may overtake an older update still
  // being retried on the task's stream, as in Mesos. Wait for that (no reconciling here: it
  // would make them agree by construction), then compare.
  let mismatches: string[] = [];
  let unknown = 0;
  await waitFor(
    async () => {
      const state = await masterState(c, await leaderIndex(c)).catch(() => undefined);
      if (!state) return false;
      const fw = state.frameworks.find((x) => x.name === "chaos");
      const master = new Map<string, string>();
      for (const t of [...(fw?.tasks ?? []), ...(fw?.unreachable_tasks ?? []), ...(fw?.completed_tasks ?? [])]) master.set(t.id, t.state);
      mismatches = [];
      unknown = 0;
      for (const t of [...f.long.keys(), ...f.short]) {
        const heard = f.latest(t);
        const known = master.get(t);
        if (known === undefined) {
          if (f.long.has(t)) mismatches.push(`long task ${t} is unknown to the leading master`);
          unknown++;
          continue;
        }
        if (heard && known !== taskStateName(heard.state)) mismatches.push(`task ${t}: the framework last heard ${taskStateName(heard.state)}, the master says ${known}; heard: ${f.describe(t)}`);
      }
      return mismatches.length === 0;
    },
    "the framework and the master to agree",
    30_000,
    1_000,
  ).catch(() => undefined);
  violations.push(...mismatches);
  return { unknownToMaster: unknown, neverLaunched: neverLaunchedCount };
}
