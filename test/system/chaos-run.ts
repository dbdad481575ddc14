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
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { isTerminal, taskStateName } from "../../src/actors/task-states.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { CpuLoad } from "../support/cpu-load.js";
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

interface MasterTask {
  id: string;
  state: string;
}

export async function chaosRun(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const r = new Random(o.seed);
  const masterFlags = [`--agent-ping-timeout=${o.pingIntervalMs}ms`, `--max-agent-ping-timeouts=${o.maxPings}`, "--allocation-interval=200ms", "--log-level=info"];
  const c = await SystemCluster.start(o.clusterId, 6, "chaos", 3, { masterFlags, framework: false });
  const agentHosts = [4, 5, 6];
  const load = CpuLoad.start(o.loadWorkers, 30 * 60_000);
  const f = new ChaosFramework(c.masterAddress, "chaos", agentHosts.map((h) => c.hostname(h)), o.longTasks);
  const violations: string[] = [];
  const results: FaultResult[] = [];
  let feeder: NodeJS.Timeout | undefined;
  try {
    await f.start();
    feeder = setInterval(() => f.addShort(1), Math.max(50, Math.round(1000 / o.shortPerSecond)));
    await waitFor(() => f.longMissing === 0 && [...f.long.keys()].every((t) => f.latest(t)?.state === TaskState.RUNNING), `${o.longTasks} long tasks RUNNING`, 180_000, 200);
    log(`chaos seed ${o.seed}: ${o.longTasks} long tasks RUNNING, load ${o.loadWorkers} workers; faults ${o.faults.join(", ")}`);

    const recovered = async (fault: Fault, since: number, detail: string): Promise<void> => {
      const marker = `short-probe-after-${fault}-${results.length}`;
      const shortBefore = f.short.size;
      let why = "";
      let asked = Date.now();
      const ok = await waitFor(
        async () => {
          why = await unhealthy(c, f, shortBefore);
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
      log(`${fault}: ${ok ? `recovered in ${recoveryMs} ms` : `NOT recovered: ${why}`} (${detail})`);
    };

    for (const fault of o.faults) {
      switch (fault) {
        case "leader-kill":
        case "leader-kill-again": {
          const leader = await leaderIndex(c);
          const t0 = Date.now();
          await c.killMaster(leader);
          await recovered(fault, t0, `kill -9 of master ${leader + 1}`);
          await c.restartMaster(leader);
          break;
        }
        case "agent-cut": {
          const host = agentHosts[r.int(agentHosts.length)]!;
          for (let m = 1; m <= 3; m++) await c.net.partition(host, m);
          await sleepFor(o.cutMs);
          for (let m = 1; m <= 3; m++) await c.net.heal(host, m);
          await recovered(fault, Date.now(), `agent on host ${host} cut off from every master for ${o.cutMs} ms (ping timeout ${o.pingIntervalMs * o.maxPings} ms); time from the heal`);
          break;
        }
        case "agent-restart": {
          const host = agentHosts[r.int(agentHosts.length)]!;
          const t0 = Date.now();
          await c.killAgent(host);
          await c.startAgent(host, false);
          await recovered(fault, t0, `kill -9 and restart of the agent on host ${host}`);
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
          for (const i of standbys) await c.killMaster(i);
          const refused = await writeRefused(c.masterAddress, Math.min(o.standbysDownMs, 6_000));
          if (!refused) violations.push("standbys-down: a framework subscribed (a registry write) while the masters had no quorum");
          await sleepFor(Math.max(0, o.standbysDownMs - 6_000));
          const t0 = Date.now();
          for (const i of standbys) await c.restartMaster(i);
          await recovered(fault, t0, `kill -9 of masters ${standbys.map((i) => i + 1).join(" and ")} for ${o.standbysDownMs} ms (write refused: ${refused}); time from their restart`);
          break;
        }
      }
    }
    clearInterval(feeder);
    feeder = undefined;
    const { unknownToMaster, neverLaunched } = await checkInvariants(c, f, violations);
    if (violations.length > 0) violations.push(...evidence(c));
    return { seed: o.seed, loadWorkers: o.loadWorkers, faults: results, violations, longTasks: f.long.size, shortTasks: f.short.size, unknownToMaster, neverLaunched };
  } catch (err) {
    throw new Error(`chaos seed ${o.seed}: ${(err as Error).message}\n${c.logs()}`);
  } finally {
    if (feeder) clearInterval(feeder);
    await load.stop();
    await f.teardown().catch(() => undefined);
    await c.stop();
  }
}

/** The agents' log lines about executors they gave up on or refused, and frameworks they shut down (for a failing run's message). */
function evidence(c: SystemCluster): string[] {
  const telling = /did not subscribe|Destroying|Shutting down (framework|executor)|not known to this agent|Holding|Failed to|reregistration timeout/i;
  const out: string[] = [];
  for (const [host, p] of c.agents) {
    for (const line of p.lines) {
      if (!telling.test(line)) continue;
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line;
      const time = /"time":(\d+)/.exec(line)?.[1];
      out.push(`evidence: agent ${host}${time ? ` at ${new Date(Number(time)).toISOString().slice(11, 23)}` : ""}: ${msg}`);
    }
  }
  return out.slice(0, 40);
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
 * short task exactly one terminal state; the last state heard is the master's. Returns how
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
  let neverLaunchedCount = 0;
  for (const t of f.short) {
    const terminal = f.terminalStates(t);
    // Launched on a master that died before sending it: no agent ever had it, reconciliation says TASK_UNKNOWN (as in Mesos).
    const neverLaunched = terminal.length === 0 && f.ledger.some((e) => e.taskId === t) && f.ledger.every((e) => e.taskId !== t || e.state === TaskState.UNKNOWN);
    if (neverLaunched) {
      neverLaunchedCount++;
      continue;
    }
    if (terminal.length !== 1) violations.push(`short task ${t} has ${terminal.length} terminal states: ${f.describe(t) || "none heard"}`);
  }
  const leader = await leaderIndex(c);
  const state = await masterState(c, leader);
  const fw = state.frameworks.find((x) => x.name === "chaos");
  const master = new Map<string, string>();
  for (const t of [...(fw?.tasks ?? []), ...(fw?.unreachable_tasks ?? []), ...(fw?.completed_tasks ?? [])]) master.set(t.id, t.state);
  let unknown = 0;
  for (const t of [...f.long.keys(), ...f.short]) {
    const heard = f.latest(t);
    const known = master.get(t);
    if (known === undefined) {
      if (f.long.has(t)) violations.push(`long task ${t} is unknown to the leading master`);
      unknown++;
      continue;
    }
    if (heard && known !== taskStateName(heard.state)) violations.push(`task ${t}: the framework last heard ${taskStateName(heard.state)}, the master says ${known}`);
  }
  return { unknownToMaster: unknown, neverLaunched: neverLaunchedCount };
}
