/**
 * The master's record of one agent: its info and pid, the tasks and executors it runs,
 * and its health (pings missed in a row). States: ADMITTING while the registrar admits it,
 * ACTIVE, UNREACHABLE after too many missed pings, REMOVED when it leaves for good.
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { AgentID } from "../../gen/dcos/v1/common_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { ExecutorInfo, Task, TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Timer } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import type { Pid } from "../../runtime/pid.js";
import { transitionChecker } from "../../runtime/transitions.js";

export enum AgentState {
  ADMITTING = "ADMITTING",
  ACTIVE = "ACTIVE",
  UNREACHABLE = "UNREACHABLE",
  REMOVED = "REMOVED",
}

const checkTransition = transitionChecker<AgentState>({
  [AgentState.ADMITTING]: [AgentState.ACTIVE, AgentState.REMOVED],
  [AgentState.ACTIVE]: [AgentState.UNREACHABLE, AgentState.REMOVED],
  [AgentState.UNREACHABLE]: [AgentState.ACTIVE, AgentState.REMOVED],
  [AgentState.REMOVED]: [],
}, "agent");

export function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}/${taskId}`;
}

/** An agent's tasks by taskKey; every entry and exit is reported to the master's counts. */
class TaskMap extends Map<string, Task> {
  constructor(private readonly owner: AgentRecord) {
    super();
  }
  override set(key: string, task: Task): this {
    const old = this.get(key);
    if (old === task) return this;
    if (old) this.owner.counts?.task(this.owner, old, -1);
    this.owner.tasksChanged();
    super.set(key, task);
    this.owner.counts?.task(this.owner, task, 1);
    return this;
  }
  override delete(key: string): boolean {
    const old = this.get(key);
    if (old) this.owner.counts?.task(this.owner, old, -1);
    this.owner.tasksChanged();
    return super.delete(key);
  }
  override clear(): void {
    for (const key of [...this.keys()]) this.delete(key);
  }
}

/** An agent's executors by framework id (inner maps change only through AgentRecord); exits are counted. */
class ExecutorMap extends Map<string, Map<string, ExecutorInfo>> {
  constructor(private readonly owner: AgentRecord) {
    super();
  }
  override delete(frameworkId: string): boolean {
    for (const e of this.get(frameworkId)?.values() ?? []) this.owner.counts?.executor(this.owner, frameworkId, e, -1);
    this.owner.tasksChanged();
    return super.delete(frameworkId);
  }
  override clear(): void {
    for (const key of [...this.keys()]) this.delete(key);
  }
}

/**
 * The executors of an agent that runs none (most: command tasks need none the master
 * keeps): one shared empty map, so such an agent keeps no map of its own (145 bytes each,
 * 10,000 of them after a failover at 10,000 agents). Its changes go through AgentRecord,
 * which makes the agent its own map with the first executor.
 */
class NoExecutors extends Map<string, Map<string, ExecutorInfo>> {
  override set(): this {
    throw new Error("an agent's executors are added through AgentRecord.addExecutor");
  }
}
const NO_EXECUTORS: Map<string, Map<string, ExecutorInfo>> = new NoExecutors();

/**
 * What an agent record reports its changes to while it is in the master's agents map
 * (MasterCounts, counts.ts; declared here so that the record does not depend on the counts).
 */
export interface AgentRecordWatcher {
  task(agent: AgentRecord, task: Task, sign: 1 | -1): void;
  taskState(agent: AgentRecord, task: Task, before: TaskState): void;
  executor(agent: AgentRecord, frameworkId: string, executor: ExecutorInfo, sign: 1 | -1): void;
  agentState(agent: AgentRecord, from: AgentState, to: AgentState): void;
  agentPings(agent: AgentRecord, before: number): void;
  agentTotal(agent: AgentRecord, before: readonly Resource[]): void;
}

export class AgentRecord {
  private state_: AgentState;
  private missedPings_ = 0;
  private info_: AgentInfo;
  /** The master's counts while the record is in its agents map (set by TrackedAgents). */
  counts: AgentRecordWatcher | undefined;
  /** A ping was sent and its pong has not come yet. */
  awaitingPong = false;
  pingTimer: Timer | undefined;
  /** When the agent last became ACTIVE (ms on the master's clock). */
  registeredAt = 0;
  /** Tasks by taskKey(framework, task). */
  readonly tasks: Map<string, Task> = new TaskMap(this);
  private executors_: ExecutorMap | undefined;
  /**
   * Bumped whenever a task or executor enters or leaves, or a task's state or statuses
   * change (MasterState.setTaskState, after a status is added): /state reads again only
   * the tasks of agents whose version moved (operator/state-fragments.ts).
   */
  tasksVersion = 0;
  /** Its id as a message, shared by the tasks adopted from its reregistrations (as FrameworkRecord.idMessage). */
  readonly idMessage: AgentID;

  constructor(
    readonly id: string,
    info: AgentInfo,
    public pid: Pid,
    state: AgentState,
  ) {
    this.state_ = state;
    this.info_ = info;
    this.idMessage = { $typeName: "dcos.v1.AgentID", value: id };
  }

  get state(): AgentState {
    return this.state_;
  }

  /** Pings sent without a pong since; reset by every pong. */
  get missedPings(): number {
    return this.missedPings_;
  }

  set missedPings(n: number) {
    const before = this.missedPings_;
    this.missedPings_ = n;
    this.counts?.agentPings(this, before);
  }

  /** Executors by framework id, then executor id (a shared empty map until the first: see NoExecutors). */
  get executors(): Map<string, Map<string, ExecutorInfo>> {
    return this.executors_ ?? NO_EXECUTORS;
  }

  get info(): AgentInfo {
    return this.info_;
  }

  set info(info: AgentInfo) {
    const before = this.info_.resources;
    this.info_ = info;
    this.counts?.agentTotal(this, before);
  }

  /**
   * New total resources (UpdateAgent, operations): set here so the master's counts follow.
   * A new info: the one replaced may be the registry's too (a reregistration after a
   * failover keeps one AgentInfo for both), which only the registrar changes.
   */
  setTotalResources(resources: Resource[]): void {
    const before = this.info_.resources;
    this.info_ = { ...this.info_, resources };
    this.counts?.agentTotal(this, before);
  }

  tasksChanged(): void {
    this.tasksVersion++;
  }

  /** A task of this agent changed state (MasterState.setTaskState); counted if it is this agent's record. */
  taskStateChanged(key: string, task: Task, before: TaskState): void {
    this.tasksChanged();
    if (this.tasks.get(key) === task) this.counts?.taskState(this, task, before);
  }

  get active(): boolean {
    return this.state === AgentState.ACTIVE;
  }

  /** Moves to `to`, logged at info (debug for the routine moves of a storm: the caller says). */
  transition(to: AgentState, log: Logger, why: string, level: "info" | "debug" = "info"): void {
    checkTransition(this.state, to, `agent ${this.id}`);
    if (level === "info" || log.isLevelEnabled(level)) log[level]({ agent: this.id, from: this.state, to }, `Agent ${this.id} (${this.info.hostname}) ${this.state} -> ${to}: ${why}`);
    const from = this.state_;
    this.state_ = to;
    this.counts?.agentState(this, from, to);
  }

  executor(frameworkId: string, executorId: string): ExecutorInfo | undefined {
    return this.executors.get(frameworkId)?.get(executorId);
  }

  addExecutor(frameworkId: string, executor: ExecutorInfo): void {
    const executors = (this.executors_ ??= new ExecutorMap(this));
    let m = executors.get(frameworkId);
    if (!m) executors.set(frameworkId, (m = new Map()));
    const key = executor.executorId?.value ?? "";
    const old = m.get(key);
    if (old) this.counts?.executor(this, frameworkId, old, -1);
    this.tasksChanged();
    m.set(key, executor);
    this.counts?.executor(this, frameworkId, executor, 1);
  }

  removeExecutor(frameworkId: string, executorId: string): ExecutorInfo | undefined {
    const m = this.executors.get(frameworkId);
    const e = m?.get(executorId);
    if (e) this.counts?.executor(this, frameworkId, e, -1);
    this.tasksChanged();
    m?.delete(executorId);
    if (m && m.size === 0) this.executors.delete(frameworkId);
    return e;
  }

  stopTimers(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
  }
}
