/**
 * One seeded randomized fault run on a SimWorld: masters (one or a replicated three), 2–4
 * agents and one or two schedulers launch and end tasks while agents crash and restart on
 * their checkpoint dirs (executors reconnecting during recovery, or starved and a minute or
 * two late), masters crash and restart, schedulers disconnect and resubscribe, agents are
 * cut off from the masters (both ways or one way) and healed, and an agent restarts with its
 * messages to the masters seconds late (reregistration retries arrive stale). Then
 * everything is healed and settles, and the invariants are checked. Every choice comes
 * from the seed.
 */
import { TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { shellExitStatus } from "../../src/isolation/containerizer.js";
import { Random } from "../../src/runtime/random.js";
import { ScriptedHost, type CommandScript } from "../support/scripted-containers.js";
import { SimWorld, type SimFramework } from "./sim-world.js";

export interface RunOptions {
  /** Random actions before the heal. */
  actions?: number;
  /**
   * How agents run command tasks: themselves (default; tasks get random scripts, and kills,
   * kills interrupted by an agent crash and crashes of a task's supervisor join the faults)
   * or in fake executors ("process": the actions of the executor mode, unchanged).
   */
  commandExecutor?: CommandExecutorMode;
}

export interface RunResult {
  seed: number;
  masters: number;
  agents: number;
  /** What happened, one line per action (printed when a run fails). */
  trace: string[];
  violations: string[];
  tasks: number;
}

const STEP_MS = 2_000;
/** The agents' (and their hosts' launchers') recovery timeout in the default mode. */
const RECOVERY_TIMEOUT_MS = 90_000;
/** Agents' registration backoff is at most 60 s and status update retries at most 10 minutes apart. */
const SETTLE_WITHIN_MS = 20 * 60_000;

export async function faultRun(seed: number, options: RunOptions = {}): Promise<RunResult> {
  const r = new Random(seed * 7919 + 17);
  const masters = seed % 3 === 0 ? 3 : 1;
  const agents = 2 + r.int(3);
  const mode = options.commandExecutor ?? "agent";
  // The default mode's hosts kill the tasks of an agent away for its recovery timeout (the warm
  // launcher's): 90 s here, so that agents crashed for a while meet it.
  const agent = mode === "agent" ? { executorRecoveryTimeoutMs: RECOVERY_TIMEOUT_MS } : {};
  const w = await SimWorld.start(seed, { masters, agents, commandExecutor: mode, agent });
  const trace: string[] = [`seed ${seed}: ${masters} master(s), ${agents} agents, command tasks run by ${mode === "agent" ? "the agent" : "executor processes"}`];
  const launched = new Map<SimFramework, string[]>();
  try {
    await w.ready();
    const frameworks = Array.from({ length: 1 + r.int(2) }, (_, i) => w.framework(`fw${i + 1}`, 3600, r.chance(0.5)));
    for (const f of frameworks) {
      await f.subscribe();
      launched.set(f, []);
    }
    const act = new Actions(w, r, trace, launched);
    for (let i = 0; i < (options.actions ?? 20); i++) {
      await act.random();
      await w.run(1_000 + r.int(15_000), STEP_MS);
      for (const f of frameworks) await f.acknowledge();
    }
    await act.healAll();
    const violations = await settleAndCheck(w, launched, trace);
    return { seed, masters, agents, trace, violations, tasks: [...launched.values()].flat().length };
  } finally {
    await w.stop();
  }
}

/** The random actions and the heal; each records a line in the trace. */
class Actions {
  private readonly masterDown = new Set<string>();

  constructor(
    private readonly w: SimWorld,
    private readonly r: Random,
    private readonly trace: string[],
    private readonly launched: Map<SimFramework, string[]>,
  ) {}

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.r.int(xs.length)];
  }

  private log(line: string): void {
    this.trace.push(`t=${this.w.c.clock.now()} ${line}`);
  }

  async random(): Promise<void> {
    const roll = this.r.int(100);
    if (roll < 30) return this.launch();
    if (roll < 45) return this.endTask();
    if (roll < 52) return this.agentCrashOrRestart();
    if (roll < 55) return this.agentRestartDuringRecovery();
    if (roll < 58) return this.agentRestartLateExecutors();
    if (roll < 66) return this.partition();
    if (roll < 70) return this.shortPartition();
    if (roll < 74) return this.slowAgentLink();
    if (roll < 80) return this.heal();
    if (roll < 88) return this.schedulerFailover();
    if (roll < 94) return this.leaderReelected();
    return this.masterCrashOrRestart();
  }

  /** kill -9 and restart of an agent whose executors reconnect while it still recovers. */
  private async agentRestartDuringRecovery(): Promise<void> {
    const host = this.pick([...this.w.hosts.values()].filter((h) => h.node))!;
    if (!host) return this.log("restart during recovery: no agent up");
    await this.w.restartAgent(host.address, true);
    this.log(`restart agent ${host.address}, executors reconnecting during its recovery`);
  }

  /** kill -9 and restart of an agent whose executors reconnect 20-120 s later (starved), past its 15 s reregistration timeout. */
  private async agentRestartLateExecutors(): Promise<void> {
    const host = this.pick([...this.w.hosts.values()].filter((h) => h.node))!;
    if (!host) return this.log("restart with late executors: no agent up");
    const lateMs = 20_000 + this.r.int(100_000);
    await this.w.restartAgentWithLateExecutors(host.address, lateMs);
    this.log(`restart agent ${host.address}, its executors reconnecting ${lateMs} ms later`);
  }

  /** A cut of an agent from every master, healed before the masters' ping timeout notices it. */
  private async shortPartition(): Promise<void> {
    const host = this.pick([...this.w.hosts.keys()])!;
    const ms = 5_000 + this.r.int(40_000);
    this.w.c.net.partition([host], this.w.c.addresses);
    this.log(`short partition of ${host} for ${ms} ms`);
    await this.w.run(ms, STEP_MS);
    this.w.c.net.heal();
    this.log(`healed ${host}`);
  }

  /**
   * A restart of an agent whose messages to the masters take seconds (a busy machine): its
   * reregistration retries pile up in flight, and the master reregisters it from the first
   * and launches a task there before the older copies, which do not list that task, arrive.
   */
  private async slowAgentLink(): Promise<void> {
    const host = this.pick([...this.w.hosts.values()].filter((h) => h.node))!;
    if (!host) return this.log("slow agent link: no agent up");
    const delayMs = 3_000 + this.r.int(7_000);
    for (const m of this.w.c.addresses) this.w.c.net.setFaults({ minDelayMs: delayMs, maxDelayMs: delayMs }, host.address, m);
    await this.w.restartAgent(host.address);
    this.log(`restart agent ${host.address} with its messages to the masters ${delayMs} ms late`);
    const node = host.node!;
    const until = this.w.c.clock.now() + 3 * delayMs;
    while (this.w.c.clock.now() < until && node.agent.agentState !== AgentPhase.RUNNING) await this.w.c.step(200);
    for (let i = 0; i < 3; i++) {
      await this.launch();
      await this.w.run(1_000, 200);
    }
    await this.w.run(2 * delayMs, STEP_MS);
    for (const m of this.w.c.addresses) this.w.c.net.setFaults({ minDelayMs: 1, maxDelayMs: 1 }, host.address, m);
    this.log(`agent ${host.address}'s link is fast again`);
  }

  /** The leader loses its quorum (both standbys crash) and wins the next term itself. */
  private async leaderReelected(): Promise<void> {
    const leader = this.w.leader();
    const standbys = this.w.c.mastersUp().filter((m) => m !== leader);
    if (!leader || this.w.c.addresses.length < 3 || this.masterDown.size > 0 || standbys.length !== 2) return this.log("re-election: needs three masters up and a leader");
    for (const m of standbys) await this.w.c.crashMaster(m.address);
    await this.w.until(() => !leader.group.master.leading, `${leader.address} stepping down without its quorum`, 10_000);
    for (const m of standbys) await this.w.c.startMaster(m.address);
    await leader.system.dispatch(leader.group.raft, (n) => n.campaign());
    this.log(`leader ${leader.address} lost its quorum and campaigned again`);
  }

  private async launch(): Promise<void> {
    const f = this.pick([...this.launched.keys()].filter((x) => x.subscribed))!;
    if (!f) return this.log("launch: no scheduler subscribed");
    // The task's id is known before the launch: its script must be there when its container starts.
    const script = this.w.direct ? this.script() : undefined;
    const taskId = await f.launch(script && ((id) => this.w.scripts.set(id, script)));
    if (taskId) this.launched.get(f)!.push(taskId);
    this.log(`launch ${f.name}: ${taskId ?? "no usable offer"}${taskId && script ? ` ${describeScript(script)}` : ""}`);
    if (!taskId || !script?.launchMs || !this.r.chance(0.6)) return;
    // kill -9 of its agent while the launch is under way (before the command's "go").
    await this.w.run(this.r.int(script.launchMs), 100);
    const host = this.w.container(taskId)?.host;
    if (!host?.node) return;
    await this.w.crashAgent(host.address);
    this.log(`crash agent ${host.address} during the launch of ${taskId}`);
  }

  /** A command task's behaviour: how long it runs and how it ends, how it takes SIGTERM, whether its supervisor dies. */
  private script(): CommandScript {
    const s: CommandScript = {};
    if (this.r.chance(0.4)) {
      s.runsMs = 2_000 + this.r.int(60_000);
      const how = this.r.int(4);
      if (how === 1) s.exitCode = 1 + this.r.int(3);
      if (how === 2) s.signal = "SIGSEGV";
    }
    if (this.r.chance(0.1)) s.launchMs = 1_000 + this.r.int(4_000);
    const term = this.r.int(10);
    if (term >= 5) s.termMs = term >= 8 ? Infinity : 500 + this.r.int(6_000);
    if (this.r.chance(0.08)) s.wrapperKilledMs = 3_000 + this.r.int(60_000);
    return s;
  }

  private async endTask(): Promise<void> {
    const taskId = this.pick([...this.w.liveTasks()].sort());
    if (!taskId) return this.log("end: no live task");
    if (this.w.direct) {
      const roll = this.r.int(10);
      if (roll < 4) return this.kill(taskId);
      if (roll < 5) {
        const where = this.w.container(taskId)!;
        (where.host.containerizer as ScriptedHost).killWrapper(where.id);
        return this.log(`the launch wrapper (supervisor) of ${taskId} on ${where.host.address} is SIGKILLed`);
      }
    }
    const state = this.r.chance(0.7) ? TaskState.FINISHED : TaskState.FAILED;
    await this.w.endTask(taskId, state);
    this.log(`end ${taskId} ${TaskState[state]}`);
  }

  /** The task's scheduler kills it (a grace of 0-8 s); sometimes its agent is kill -9ed during the grace, and restarted or left down. */
  private async kill(taskId: string): Promise<void> {
    const f = [...this.launched].find(([, tasks]) => tasks.includes(taskId))?.[0];
    if (!f?.subscribed) return this.log(`kill ${taskId}: its scheduler is not subscribed`);
    const grace = this.r.int(9);
    const asked = await f.kill(taskId, grace);
    this.log(`kill ${taskId} with a grace of ${grace} s${asked ? "" : ": refused by the master"}`);
    if (!asked || !this.r.chance(0.4)) return;
    const host = this.w.container(taskId)!.host;
    if (!host.node) return;
    await this.w.run(this.r.int(grace * 1_000 + 1), 200);
    await this.w.crashAgent(host.address);
    this.log(`crash agent ${host.address} during the kill of ${taskId}`);
    if (this.r.chance(0.5)) return;
    await this.w.run(this.r.int(20_000), STEP_MS);
    await this.w.startAgent(host.address);
    this.log(`restart agent ${host.address}`);
  }

  private async agentCrashOrRestart(): Promise<void> {
    const host = this.pick([...this.w.hosts.values()])!;
    if (host.node) {
      await this.w.crashAgent(host.address);
      this.log(`crash agent ${host.address}`);
    } else {
      await this.w.startAgent(host.address);
      this.log(`restart agent ${host.address}`);
    }
  }

  private partition(): void {
    const host = this.pick([...this.w.hosts.keys()])!;
    const masters = this.w.c.addresses;
    const how = this.r.int(3);
    if (how === 0) this.w.c.net.partition([host], masters);
    else for (const m of masters) how === 1 ? this.w.c.net.cutOneWay(m, host) : this.w.c.net.cutOneWay(host, m);
    this.log(`partition ${host} ${["both ways", "masters->agent", "agent->masters"][how]}`);
  }

  private heal(): void {
    this.w.c.net.heal();
    this.log("heal network");
  }

  private async schedulerFailover(): Promise<void> {
    const f = this.pick([...this.launched.keys()])!;
    if (f.subscribed) {
      await f.disconnect();
      this.log(`disconnect ${f.name}`);
    } else if (this.w.leader()) {
      await f.subscribe(60_000);
      this.log(`resubscribe ${f.name} (${f.s.frameworkId})`);
    } else this.log(`resubscribe ${f.name}: no leader`);
  }

  /** At most one master down at a time (a majority of three stays up). */
  private async masterCrashOrRestart(): Promise<void> {
    const down = [...this.masterDown][0];
    if (down) {
      await this.w.c.startMaster(down);
      this.masterDown.delete(down);
      return this.log(`restart master ${down}`);
    }
    const m = this.w.leader() ?? this.pick(this.w.c.mastersUp());
    if (!m) return this.log("crash master: none up");
    await this.w.c.crashMaster(m.address);
    this.masterDown.add(m.address);
    this.log(`crash master ${m.address}`);
  }

  async healAll(): Promise<void> {
    this.w.c.net.heal();
    for (const m of this.masterDown) await this.w.c.startMaster(m);
    this.masterDown.clear();
    for (const h of this.w.hosts.values()) if (!h.node) await this.w.startAgent(h.address);
    this.log("heal all: network healed, masters and agents restarted");
  }
}

/** A script as the trace shows it. */
function describeScript(s: CommandScript): string {
  return JSON.stringify(s, (_, v: unknown) => (v === Infinity ? "never" : v));
}

/** What the schedulers must end up knowing, per task; undefined when they do. */
function unsettled(w: SimWorld, launched: Map<SimFramework, string[]>): string | undefined {
  const leader = w.leader();
  if (!leader) return "no leading master";
  if (w.c.activeAgents(leader) !== w.hosts.size) return `${w.c.activeAgents(leader)} of ${w.hosts.size} agents active at the leader`;
  const live = w.liveTasks();
  for (const [f, tasks] of launched) {
    const states = f.states();
    const terminal = f.terminal();
    for (const t of tasks) {
      if (live.has(t) && states.get(t) !== TaskState.RUNNING) return `${t} runs but ${f.name} last heard ${TaskState[states.get(t) ?? 0]}`;
      if (live.has(t) || terminal.has(t)) continue;
      if (w.container(t)) return `${t} ended but ${f.name} never heard a terminal state (last ${TaskState[states.get(t) ?? 0]})`;
      if (states.get(t) !== TaskState.UNKNOWN) return `${t} never ran but ${f.name} last heard ${TaskState[states.get(t) ?? 0]}, neither terminal nor UNKNOWN`;
    }
  }
  return undefined;
}

/**
 * Updates no task may get: two different terminal states (one of them is false), TASK_DROPPED
 * for a task whose container was launched (DROPPED says it never ran), or an end because a
 * live executor was slow to reconnect after an agent restart.
 *
 * A framework that is not partition-aware hears TASK_LOST from the master where a
 * partition-aware one hears TASK_UNREACHABLE (its agent is unreachable, Mesos's meaning of
 * that LOST): the task may still run and end later, so that LOST is not counted as its end.
 */
function contradictions(w: SimWorld, launched: Map<SimFramework, string[]>): string[] {
  const out: string[] = [];
  const ran = w.startedTasks();
  for (const f of launched.keys()) {
    const terminal = new Map<string, Set<string>>();
    for (const u of f.updates()) {
      if (!isTerminal(u.state)) continue;
      if (!f.s.partitionAware && u.state === TaskState.LOST && u.source === TaskStatus_Source.MASTER) continue;
      const id = u.taskId!.value;
      let states = terminal.get(id);
      if (!states) terminal.set(id, (states = new Set()));
      states.add(TaskState[u.state]);
    }
    for (const u of f.updates()) {
      if (u.reason === TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT) out.push(`task ${u.taskId!.value} of ${f.name} ended ${TaskState[u.state]} because its executor was slow to reconnect (every executor here reconnects within 2 min)`);
    }
    for (const [id, states] of terminal) {
      if (states.size > 1) out.push(`task ${id} of ${f.name} heard ${states.size} terminal states: ${[...states].join(", ")}`);
      if (states.has("DROPPED") && ran.has(id)) out.push(`task ${id} of ${f.name} heard TASK_DROPPED although its ${w.direct ? "command started" : "container was launched"}`);
    }
    if (w.direct) out.push(...misreportedEnds(w, f));
  }
  return out;
}

/**
 * Tasks the agent runs itself: what their frameworks heard from the agent must be how the
 * command really ended on its host (ScriptedHost.ends). An end from the task (source
 * EXECUTOR): FINISHED for status 0, KILLED when it was being killed, else FAILED, with the
 * exact exit status (128 + the signal's number for a signal). A supervisor (launch wrapper)
 * killed under a task it was not killing: FAILED with REASON_EXECUTOR_TERMINATED, never a
 * clean end. And no task is reported ended while its command still runs.
 */
function misreportedEnds(w: SimWorld, f: SimFramework): string[] {
  const out: string[] = [];
  const live = w.liveTasks();
  for (const u of f.updates()) {
    if (!isTerminal(u.state)) continue;
    const id = u.taskId!.value;
    const heard = `${TaskState[u.state]} (${TaskStatus_Reason[u.reason]}, source ${TaskStatus_Source[u.source]}, exit ${u.exitCode ?? "-"}: ${u.message})`;
    if (live.has(id) && u.source !== TaskStatus_Source.MASTER) out.push(`task ${id} of ${f.name} heard ${heard} from its agent while its command still runs`);
    const where = w.container(id);
    const host = where?.host.containerizer;
    const end = host instanceof ScriptedHost ? host.ends.get(where!.id) : undefined;
    if (!end) continue;
    const what = `its command ended ${end.wrapperKilled ? "with its supervisor killed" : JSON.stringify(end.status)}${end.destroyed ? " while being killed" : ""}`;
    if (u.source === TaskStatus_Source.EXECUTOR) {
      const expected = end.destroyed ? TaskState.KILLED : end.status?.exitCode === 0 ? TaskState.FINISHED : TaskState.FAILED;
      const status = end.status ? shellExitStatus(end.status.exitCode, end.status.signal) : undefined;
      if (u.state !== expected || (status !== undefined && u.exitCode !== status) || (end.wrapperKilled && !end.destroyed)) out.push(`task ${id} of ${f.name} heard ${heard} but ${what}`);
    } else if (u.source === TaskStatus_Source.AGENT && end.wrapperKilled && !end.destroyed) {
      if (u.state !== TaskState.FAILED || u.reason !== TaskStatus_Reason.EXECUTOR_TERMINATED) out.push(`task ${id} of ${f.name} heard ${heard} but ${what}`);
    }
  }
  return out;
}

async function settleAndCheck(w: SimWorld, launched: Map<SimFramework, string[]>, trace: string[]): Promise<string[]> {
  const violations: string[] = [];
  const leader = await w.c.waitForLeader("a leader after the heal").catch((e: unknown) => (violations.push((e as Error).message), undefined));
  if (!leader) return violations;
  const deadline = w.c.clock.now() + SETTLE_WITHIN_MS;
  let last: string | undefined = "not checked";
  while (w.c.clock.now() < deadline) {
    for (const f of launched.keys()) {
      if (!w.leader()) continue;
      if (!f.subscribed) await f.subscribe(60_000);
      await f.acknowledge();
      await f.reconcile(launched.get(f));
      await f.reconcile();
    }
    await w.run(10_000, 2_000);
    last = unsettled(w, launched);
    if (!last) break;
  }
  trace.push(`t=${w.c.clock.now()} settled: ${last ?? "yes"}`);
  if (last) violations.push(`status updates lost or views not converged after ${SETTLE_WITHIN_MS} ms: ${last}`);
  for (const [task, n] of w.launchesPerTask()) if (n > 1) violations.push(`task ${task} launched ${n} times`);
  violations.push(...contradictions(w, launched));
  violations.push(...w.c.splitBrains().map((s) => `more than one master acted in ${s}`));
  violations.push(...w.c.executorDeaths);
  const registry = w.leader()?.group.raft.machine.registry;
  for (const f of launched.keys()) {
    if (registry && !registry.frameworks.has(f.s.frameworkId)) violations.push(`framework ${f.s.frameworkId} (subscribed, so acknowledged) is missing from the registry`);
  }
  for (const h of w.hosts.values()) {
    const id = h.node?.agent.agentInfo().id?.value;
    if (registry && id && !registry.agents.has(id)) violations.push(`agent ${id} (${h.address}, admitted) is missing from the registry`);
  }
  traceOutcome(w, launched, trace);
  return violations;
}

/**
 * The run's outcome in the trace, ids included: the containers each agent launched (their
 * ids come from the agent's seeded source) and every status update each framework heard,
 * with its uuid. Two runs of one seed must give the same trace (fault-sim.test.ts).
 */
function traceOutcome(w: SimWorld, launched: Map<SimFramework, string[]>, trace: string[]): void {
  for (const h of w.hosts.values()) trace.push(`agent ${h.address} containers: ${h.containerizer.launched.map((l) => l.id).join(" ")}`);
  for (const f of launched.keys()) {
    const heard = f.updates().map((u) => `${u.taskId?.value}:${TaskState[u.state]}:${Buffer.from(u.uuid).toString("hex")}`);
    trace.push(`framework ${f.s.frameworkId} heard: ${heard.join(" ")}`);
  }
}
