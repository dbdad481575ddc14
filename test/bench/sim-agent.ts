/**
 * A simulated agent for the offers benchmark: speaks internal.proto like a real agent
 * (registers, answers pings, runs tasks, acknowledged status updates) but fakes the task:
 * RunTask makes the task RUNNING at once and queues TASK_STARTING then TASK_RUNNING; like
 * a real status update manager it sends one update per task at a time and the next only
 * when the previous one is acknowledged. A task finishes after `taskMs` (TASK_FINISHED);
 * 0 keeps it running. Many of these live in one actor system.
 */
import { create } from "@bufbuild/protobuf";
import { AgentInfoSchema, type FrameworkInfo } from "../../src/gen/dcos/v1/cluster_pb.js";
import { AgentIDSchema, TaskIDSchema, type FrameworkID } from "../../src/gen/dcos/v1/common_pb.js";
import {
  AgentPingSchema,
  AgentPongSchema,
  AgentRegisteredSchema,
  KillTaskSchema,
  RegisterAgentSchema,
  RunTaskSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  StatusUpdateSchema,
  type StatusUpdate,
} from "../../src/gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { TaskState, TaskStatusSchema, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import type { Timer } from "../../src/runtime/clock.js";
import type { Pid } from "../../src/runtime/pid.js";

interface SimTask {
  frameworkId: FrameworkID;
  state: TaskState;
  /** Updates not yet acknowledged; the head is the one sent. */
  pending: StatusUpdate[];
  timer: Timer | undefined;
}

let uuidSeq = 0;

function nextUuid(): Uint8Array {
  const u = new Uint8Array(16);
  const n = ++uuidSeq;
  for (let i = 0; i < 6; i++) u[i] = Math.floor(n / 256 ** i) % 256;
  return u;
}

export class SimAgent extends Actor {
  agentId = "";
  unexpectedAcks = 0;
  private readonly tasks = new Map<string, SimTask>();

  constructor(
    name: string,
    readonly hostname: string,
    private readonly resources: Resource[],
    private readonly master: Pid,
    private readonly taskMs: number,
  ) {
    super(name);
    this.install(AgentRegisteredSchema, (m) => (this.agentId = m.agentId?.value ?? ""));
    this.install(AgentPingSchema, () => this.send(this.master, create(AgentPongSchema)));
    this.install(RunTaskSchema, (m) => this.run(m.frameworkInfo!, m.task?.taskId?.value ?? ""));
    this.install(StatusUpdateAcknowledgementSchema, (m) => this.acknowledged(m.taskId?.value ?? "", m.uuid));
    this.install(KillTaskSchema, (m) => this.end(m.taskId?.value ?? "", TaskState.KILLED));
    this.install(ShutdownFrameworkSchema, (m) => {
      for (const [id, t] of this.tasks) if (t.frameworkId.value === m.frameworkId?.value) this.end(id, TaskState.KILLED);
    });
  }

  override initialize(): void {
    const info = create(AgentInfoSchema, { hostname: this.hostname, resources: this.resources });
    this.send(this.master, create(RegisterAgentSchema, { agentInfo: info, version: "bench" }));
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  private run(framework: FrameworkInfo, taskId: string): void {
    if (!taskId || this.tasks.has(taskId)) return;
    const task: SimTask = { frameworkId: framework.id!, state: TaskState.RUNNING, pending: [], timer: undefined };
    this.tasks.set(taskId, task);
    this.enqueue(taskId, task, TaskState.STARTING);
    this.enqueue(taskId, task, TaskState.RUNNING);
    if (this.taskMs > 0) task.timer = this.delay(this.taskMs, () => this.end(taskId, TaskState.FINISHED));
  }

  private end(taskId: string, state: TaskState): void {
    const task = this.tasks.get(taskId);
    if (!task || task.state !== TaskState.RUNNING) return;
    task.timer?.cancel();
    task.state = state;
    this.enqueue(taskId, task, state);
  }

  private enqueue(taskId: string, task: SimTask, state: TaskState): void {
    const uuid = nextUuid();
    const agentId = create(AgentIDSchema, { value: this.agentId });
    const status = create(TaskStatusSchema, { taskId: create(TaskIDSchema, { value: taskId }), state, source: TaskStatus_Source.EXECUTOR, uuid, agentId });
    task.pending.push(create(StatusUpdateSchema, { frameworkId: task.frameworkId, agentId, status, uuid, latestState: task.state }));
    if (task.pending.length === 1) this.send(this.master, task.pending[0]!);
  }

  private acknowledged(taskId: string, uuid: Uint8Array): void {
    const task = this.tasks.get(taskId);
    const head = task?.pending[0];
    if (!task || !head || !sameUuid(head.uuid, uuid)) {
      this.unexpectedAcks++;
      return;
    }
    task.pending.shift();
    const next = task.pending[0];
    if (next) {
      next.latestState = task.state;
      this.send(this.master, next);
    } else if (task.state !== TaskState.RUNNING) this.tasks.delete(taskId);
  }
}

function sameUuid(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
