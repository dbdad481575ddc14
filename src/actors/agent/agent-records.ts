/**
 * What the agent knows about the frameworks, executors and tasks it runs. Plain records;
 * only the agent actor changes them. An executor's life is an enum with checked transitions.
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { ExecutorInfo, TaskGroupInfo, TaskInfo, TaskStatus_Reason } from "../../gen/dcos/v1/tasks_pb.js";
import type { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { ContainerState } from "../../isolation/containerizer.js";
import type { Logger } from "../../runtime/log.js";
import type { Timer } from "../../runtime/clock.js";
import type { ExecutorLink } from "./executor-link.js";
import { isTerminal } from "../task-states.js";
import { transitionChecker } from "../../runtime/transitions.js";

export enum ExecutorPhase {
  /** The sandbox is being made and the container started. */
  LAUNCHING = "LAUNCHING",
  /** The container runs; the executor has not subscribed yet. */
  REGISTERING = "REGISTERING",
  /** Subscribed: tasks go to it as events. */
  RUNNING = "RUNNING",
  /** Asked to shut down (or its container is being destroyed). */
  TERMINATING = "TERMINATING",
  /** The container ended. */
  TERMINATED = "TERMINATED",
}

const checkTransition = transitionChecker<ExecutorPhase>({
  [ExecutorPhase.LAUNCHING]: [ExecutorPhase.REGISTERING, ExecutorPhase.TERMINATING, ExecutorPhase.TERMINATED],
  [ExecutorPhase.REGISTERING]: [ExecutorPhase.RUNNING, ExecutorPhase.TERMINATING, ExecutorPhase.TERMINATED],
  [ExecutorPhase.RUNNING]: [ExecutorPhase.TERMINATING, ExecutorPhase.TERMINATED],
  [ExecutorPhase.TERMINATING]: [ExecutorPhase.TERMINATED],
  [ExecutorPhase.TERMINATED]: [],
}, "executor");

/**
 * Which program the executor is. "command": the per-task node command executor
 * (`--command-executor=process`); "direct": a command task the agent runs itself in its
 * container, no executor process (command-task.ts, the default); "docker": a command task
 * in a Docker container, with the agent as its executor (docker-task.ts).
 */
export type ExecutorKind = "command" | "default" | "custom" | "docker" | "direct";

/** What the agent needs of a direct task's health checker (command-task-health.ts). */
export interface TaskHealth {
  start(): void;
  stop(): void;
}

export interface TaskRecord {
  info: TaskInfo;
  role: string;
  state: TaskState;
  /** Sent to the executor (LAUNCH / LAUNCH_GROUP); false while queued. */
  launched: boolean;
  /** A kill was asked for; if the executor dies now the task is KILLED, not FAILED. */
  killRequested: boolean;
}

/** Work waiting for the executor to subscribe, in order. */
export type QueuedLaunch = { task: TaskInfo } | { group: TaskGroupInfo };

export class ExecutorRecord {
  phase = ExecutorPhase.LAUNCHING;
  link: ExecutorLink | undefined;
  readonly tasks = new Map<string, TaskRecord>();
  queue: QueuedLaunch[] = [];
  registrationTimer: Timer | undefined;
  shutdownTimer: Timer | undefined;
  /** Shut down on purpose (kill, framework shutdown): unfinished tasks end KILLED. */
  shuttingDown = false;
  /** The container's checkpointable state, once launched. */
  container: ContainerState | undefined;
  /** Rebuilt from checkpoints after an agent restart. */
  recovered = false;
  /** A checkpoint of it was written (or asked for) by this agent. */
  checkpointed = false;
  /** Serializes this executor's checkpoint writes. */
  io: Promise<void> = Promise.resolve();
  /** Why its unfinished tasks failed, when the agent knows better than "executor terminated". */
  failureReason: TaskStatus_Reason | undefined;
  /** A direct task's health checker, while it runs. */
  health: TaskHealth | undefined;
  /** Why a direct task's health checker had it killed. */
  healthFailure: string | undefined;

  constructor(
    readonly info: ExecutorInfo,
    readonly frameworkId: string,
    readonly kind: ExecutorKind,
    readonly containerId: string,
    readonly sandbox: string,
  ) {}

  get id(): string {
    return this.info.executorId?.value ?? "";
  }

  transition(to: ExecutorPhase, log: Logger): void {
    checkTransition(this.phase, to, `executor ${this.id} of framework ${this.frameworkId}`);
    // Debug: an executor passes four phases per task; its launch and its end are logged at info where they happen.
    log.debug({ executorId: this.id, frameworkId: this.frameworkId, from: this.phase, to }, `Executor ${this.id} of framework ${this.frameworkId}: ${this.phase} -> ${to}`);
    this.phase = to;
  }

  /** Tasks that have not reached a terminal state. */
  liveTasks(): TaskRecord[] {
    return [...this.tasks.values()].filter((t) => !isTerminal(t.state));
  }
}

export class FrameworkOnAgent {
  readonly executors = new Map<string, ExecutorRecord>();
  /** Being shut down: it is removed once its last executor is gone. */
  terminating = false;

  constructor(public info: FrameworkInfo) {}

  get id(): string {
    return this.info.id?.value ?? "";
  }

  /** The executor running the task, if any. */
  executorOfTask(taskId: string): ExecutorRecord | undefined {
    for (const e of this.executors.values()) if (e.tasks.has(taskId)) return e;
    return undefined;
  }
}
