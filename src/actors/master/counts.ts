/**
 * The master's gauges kept incrementally (O(1) to read at 10,000 agents): tasks per state,
 * agents and frameworks per state, and the resources of the reachable agents (total, used by
 * their live tasks and executors). The records report every change here themselves: an
 * AgentRecord or FrameworkRecord put in the master's TrackedAgents / TrackedFrameworks map
 * (tracked-records.ts) reports its state transitions, its tasks and executors entering and
 * leaving, a task's state change (MasterState.setTaskState), missed pings and a new total.
 * Per agent and per framework it also keeps what /state-summary shows (TaskTally): tasks
 * per state, the frameworks (agents) their live tasks belong to (run on), and the scalars
 * their live tasks and executors hold; so the summary costs O(agents + frameworks).
 * `recountMaster` (test/support) recounts from the records to check these.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { ExecutorInfo, Task, TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { Quantities } from "../../resources/index.js";
import { toMillis } from "../../resources/scalar.js";
import { isTerminal } from "../task-states.js";
import { AgentState, type AgentRecord, type AgentRecordWatcher } from "./agent-record.js";
import { FrameworkState, type FrameworkRecordWatcher } from "./framework-record.js";
import { SmallCounts } from "./small-counts.js";

export type Sign = 1 | -1;

export interface AgentCounts {
  active: number;
  inactive: number;
  connected: number;
  disconnected: number;
  unreachable: number;
}

export interface FrameworkCounts {
  connected: number;
  disconnected: number;
  active: number;
  inactive: number;
}

export function addResources(q: Quantities, resources: readonly Resource[], sign: Sign = 1): void {
  for (const r of resources) if (r.scalar) q.addMillis(r.name, sign * toMillis(r.scalar.value));
}

function bump<K>(m: Map<K, number>, key: K, by: number): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

/** Like bump, but forgets keys that reach zero (ids come and go). */
function bumpOrForget<K>(m: SmallCounts<K>, key: K, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}

/** One agent's or one framework's tasks and what they hold, for /state-summary. */
export class TaskTally {
  /** Tasks per state (terminal ones included while the agent's records keep them). */
  readonly states = new SmallCounts<TaskState>();
  /** Live tasks per framework id (of an agent's tally) or per agent id (of a framework's). */
  readonly peers = new SmallCounts<string>();
  /** Scalars held by the live tasks and the executors. */
  readonly used = new Quantities();
  /** Tasks and executors counted: the tally is dropped at zero. */
  items = 0;
  /** Bumped on every change (what /state-summary's kept fragments compare). */
  changes = 0;
}

function tallyIn(m: Map<string, TaskTally>, id: string): TaskTally {
  let t = m.get(id);
  if (!t) m.set(id, (t = new TaskTally()));
  return t;
}

function forgetEmpty(m: Map<string, TaskTally>, id: string, t: TaskTally): void {
  if (t.items === 0) m.delete(id);
}

/** A task enters (+1) or leaves (-1) the tally of `id` (an agent's or a framework's; `peer` the other). */
function tallyTaskIn(tallies: Map<string, TaskTally>, id: string, peer: string, task: Task, sign: Sign): void {
  const t = tallyIn(tallies, id);
  t.items += sign;
  t.changes++;
  bumpOrForget(t.states, task.state, sign);
  if (!isTerminal(task.state)) {
    bumpOrForget(t.peers, peer, sign);
    addResources(t.used, task.resources, sign);
  }
  forgetEmpty(tallies, id, t);
}

/** A task of the tally of `id` moved from `before`; `change`: +1 back to live, -1 to terminal, 0 neither. */
function tallyTaskStateIn(tallies: Map<string, TaskTally>, id: string, peer: string, task: Task, before: TaskState, change: Sign | 0): void {
  const t = tallyIn(tallies, id);
  t.changes++;
  bumpOrForget(t.states, before, -1);
  bumpOrForget(t.states, task.state, 1);
  if (change !== 0) {
    bumpOrForget(t.peers, peer, change);
    addResources(t.used, task.resources, change);
  }
}

function tallyExecutorIn(tallies: Map<string, TaskTally>, id: string, executor: ExecutorInfo, sign: Sign): void {
  const t = tallyIn(tallies, id);
  t.items += sign;
  t.changes++;
  addResources(t.used, executor.resources, sign);
  forgetEmpty(tallies, id, t);
}

export class MasterCounts implements AgentRecordWatcher, FrameworkRecordWatcher {
  private readonly tasks = new Map<TaskState, number>();
  private readonly agentStates = new Map<AgentState, number>();
  /** ACTIVE agents with at least one missed ping. */
  private activeMissing = 0;
  private readonly frameworkStates = new Map<FrameworkState, number>();
  /** Scalar resources of the ACTIVE agents. */
  readonly total = new Quantities();
  /** What live tasks and executors hold on ACTIVE agents. */
  readonly used = new Quantities();
  /** Per agent id and per framework id (agents and frameworks with tasks or executors only). */
  private readonly agentTallies = new Map<string, TaskTally>();
  private readonly frameworkTallies = new Map<string, TaskTally>();

  // ---- reads (O(1)) ---------------------------------------------------------------

  tasksIn(state: TaskState): number {
    return this.tasks.get(state) ?? 0;
  }

  agents(): AgentCounts {
    const active = this.agentStates.get(AgentState.ACTIVE) ?? 0;
    const unreachable = this.agentStates.get(AgentState.UNREACHABLE) ?? 0;
    let all = 0;
    for (const n of this.agentStates.values()) all += n;
    return { active, inactive: all - active - unreachable, connected: active - this.activeMissing, disconnected: this.activeMissing, unreachable };
  }

  /** The agent's tasks, or undefined when it has no task or executor in the records. */
  ofAgent(agentId: string): TaskTally | undefined {
    return this.agentTallies.get(agentId);
  }

  ofFramework(frameworkId: string): TaskTally | undefined {
    return this.frameworkTallies.get(frameworkId);
  }

  frameworks(): FrameworkCounts {
    const connected = this.frameworkStates.get(FrameworkState.CONNECTED) ?? 0;
    let all = 0;
    for (const n of this.frameworkStates.values()) all += n;
    return { connected, active: connected, disconnected: all - connected, inactive: all - connected };
  }

  // ---- changes the records report ---------------------------------------------------

  /** A task enters (+1) or leaves (−1) an agent's records. */
  task(agent: AgentRecord, task: Task, sign: Sign): void {
    bump(this.tasks, task.state, sign);
    if (agent.state === AgentState.ACTIVE && !isTerminal(task.state)) addResources(this.used, task.resources, sign);
    this.tallyTask(agent.id, task, sign);
  }

  /** A task of the agent's records moved from `before` to its current state. */
  taskState(agent: AgentRecord, task: Task, before: TaskState): void {
    bump(this.tasks, before, -1);
    bump(this.tasks, task.state, 1);
    this.tallyTaskState(agent.id, task, before);
    if (agent.state !== AgentState.ACTIVE || isTerminal(before) === isTerminal(task.state)) return;
    addResources(this.used, task.resources, isTerminal(task.state) ? -1 : 1);
  }

  executor(agent: AgentRecord, frameworkId: string, executor: ExecutorInfo, sign: Sign): void {
    if (agent.state === AgentState.ACTIVE) addResources(this.used, executor.resources, sign);
    this.tallyExecutor(agent.id, frameworkId, executor, sign);
  }

  /** The whole agent enters (+1) or leaves (−1) the master's records. */
  agent(agent: AgentRecord, sign: Sign): void {
    bump(this.agentStates, agent.state, sign);
    for (const t of agent.tasks.values()) {
      bump(this.tasks, t.state, sign);
      this.tallyTask(agent.id, t, sign);
    }
    for (const [frameworkId, executors] of agent.executors) for (const e of executors.values()) this.tallyExecutor(agent.id, frameworkId, e, sign);
    this.agentHealth(agent, agent.missedPings > 0, sign);
    if (agent.state === AgentState.ACTIVE) this.activeResources(agent, sign);
  }

  agentState(agent: AgentRecord, from: AgentState, to: AgentState): void {
    if (from === to) return;
    const missing = agent.missedPings > 0;
    this.agentHealth({ state: from }, missing, -1);
    bump(this.agentStates, from, -1);
    bump(this.agentStates, to, 1);
    this.agentHealth({ state: to }, missing, 1);
    if (from === AgentState.ACTIVE) this.activeResources(agent, -1);
    if (to === AgentState.ACTIVE) this.activeResources(agent, 1);
  }

  agentPings(agent: AgentRecord, before: number): void {
    if (before > 0 === agent.missedPings > 0) return;
    this.agentHealth(agent, before > 0, -1);
    this.agentHealth(agent, agent.missedPings > 0, 1);
  }

  /** The agent's total resources changed from `before` (only ACTIVE agents count). */
  agentTotal(agent: AgentRecord, before: readonly Resource[]): void {
    if (agent.state !== AgentState.ACTIVE) return;
    addResources(this.total, before, -1);
    addResources(this.total, agent.info.resources, 1);
  }

  framework(state: FrameworkState, sign: Sign): void {
    bump(this.frameworkStates, state, sign);
  }

  frameworkState(from: FrameworkState, to: FrameworkState): void {
    bump(this.frameworkStates, from, -1);
    bump(this.frameworkStates, to, 1);
  }

  // ---- per agent and per framework ------------------------------------------------------

  // The agent's tally and the framework's, each with the other as its peer: two calls, not a
  // loop over a literal of tuples (three arrays per task: garbage for every task a failover's
  // new leader adopts).
  private tallyTask(agentId: string, task: Task, sign: Sign): void {
    const frameworkId = task.frameworkId?.value ?? "";
    tallyTaskIn(this.agentTallies, agentId, frameworkId, task, sign);
    tallyTaskIn(this.frameworkTallies, frameworkId, agentId, task, sign);
  }

  private tallyTaskState(agentId: string, task: Task, before: TaskState): void {
    const frameworkId = task.frameworkId?.value ?? "";
    const change = isTerminal(before) === isTerminal(task.state) ? 0 : isTerminal(task.state) ? -1 : 1;
    tallyTaskStateIn(this.agentTallies, agentId, frameworkId, task, before, change);
    tallyTaskStateIn(this.frameworkTallies, frameworkId, agentId, task, before, change);
  }

  private tallyExecutor(agentId: string, frameworkId: string, executor: ExecutorInfo, sign: Sign): void {
    tallyExecutorIn(this.agentTallies, agentId, executor, sign);
    tallyExecutorIn(this.frameworkTallies, frameworkId, executor, sign);
  }

  private agentHealth(agent: { state: AgentState }, missing: boolean, sign: Sign): void {
    if (agent.state === AgentState.ACTIVE && missing) this.activeMissing += sign;
  }

  private activeResources(agent: AgentRecord, sign: Sign): void {
    addResources(this.total, agent.info.resources, sign);
    for (const t of agent.tasks.values()) if (!isTerminal(t.state)) addResources(this.used, t.resources, sign);
    for (const executors of agent.executors.values()) for (const e of executors.values()) addResources(this.used, e.resources, sign);
  }
}
