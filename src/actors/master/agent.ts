/**
 * The master's record of one agent: its info and pid, the tasks and executors it runs,
 * and its health (pings missed in a row). States: ADMITTING while the registrar admits it,
 * ACTIVE, UNREACHABLE after too many missed pings, REMOVED when it leaves for good.
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { ExecutorInfo, Task } from "../../gen/dcos/v1/tasks_pb.js";
import type { Timer } from "../../runtime/clock.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import type { Pid } from "../../runtime/pid.js";

export enum AgentState {
  ADMITTING = "ADMITTING",
  ACTIVE = "ACTIVE",
  UNREACHABLE = "UNREACHABLE",
  REMOVED = "REMOVED",
}

const LEGAL: Record<AgentState, readonly AgentState[]> = {
  [AgentState.ADMITTING]: [AgentState.ACTIVE, AgentState.REMOVED],
  [AgentState.ACTIVE]: [AgentState.UNREACHABLE, AgentState.REMOVED],
  [AgentState.UNREACHABLE]: [AgentState.ACTIVE, AgentState.REMOVED],
  [AgentState.REMOVED]: [],
};

export function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}/${taskId}`;
}

export class AgentRecord {
  state: AgentState;
  /** Pings sent without a pong since; reset by every pong. */
  missedPings = 0;
  /** A ping was sent and its pong has not come yet. */
  awaitingPong = false;
  pingTimer: Timer | undefined;
  /** When the agent last became ACTIVE (ms on the master's clock). */
  registeredAt = 0;
  /** Tasks by taskKey(framework, task). */
  readonly tasks = new Map<string, Task>();
  /** Executors by framework id, then executor id. */
  readonly executors = new Map<string, Map<string, ExecutorInfo>>();

  constructor(
    readonly id: string,
    public info: AgentInfo,
    public pid: Pid,
    state: AgentState,
  ) {
    this.state = state;
  }

  get active(): boolean {
    return this.state === AgentState.ACTIVE;
  }

  transition(to: AgentState, log: Logger, why: string): void {
    if (!LEGAL[this.state].includes(to)) {
      throw new DcosError(Code.INTERNAL, `Illegal transition of agent ${this.id} from ${this.state} to ${to}`);
    }
    log.info({ agent: this.id, from: this.state, to }, `Agent ${this.id} (${this.info.hostname}) ${this.state} -> ${to}: ${why}`);
    this.state = to;
  }

  executor(frameworkId: string, executorId: string): ExecutorInfo | undefined {
    return this.executors.get(frameworkId)?.get(executorId);
  }

  addExecutor(frameworkId: string, executor: ExecutorInfo): void {
    let m = this.executors.get(frameworkId);
    if (!m) this.executors.set(frameworkId, (m = new Map()));
    m.set(executor.executorId?.value ?? "", executor);
  }

  removeExecutor(frameworkId: string, executorId: string): ExecutorInfo | undefined {
    const m = this.executors.get(frameworkId);
    const e = m?.get(executorId);
    m?.delete(executorId);
    if (m && m.size === 0) this.executors.delete(frameworkId);
    return e;
  }

  stopTimers(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
  }
}
