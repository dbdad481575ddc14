/**
 * A simulated agent for the offers benchmark: speaks internal.proto like a real agent
 * (registers, answers pings, runs tasks, acknowledged status updates) but fakes the task:
 * RunTask makes the task RUNNING at once and queues TASK_STARTING then TASK_RUNNING (healthy
 * if the task has a health check); like
 * a real status update manager it sends one update per task at a time and the next only
 * when the previous one is acknowledged. A task finishes after `taskMs` (TASK_FINISHED);
 * 0 keeps it running. Many of these live in one actor system.
 *
 * Given several masters it follows the leader as a real agent does (MasterDetector): a
 * registration unanswered for a second goes to the next master, a LeadingMaster moves it
 * to the leader, and a registered agent then reregisters there with its running tasks and
 * resends its unacknowledged updates (the failover benchmark).
 */
import { create } from "@bufbuild/protobuf";
import { AgentInfoSchema, type FrameworkInfo } from "../../src/gen/dcos/v1/cluster_pb.js";
import { AgentIDSchema, TaskIDSchema, type FrameworkID } from "../../src/gen/dcos/v1/common_pb.js";
import {
  AgentPingSchema,
  AgentReregisteredSchema,
  LeadingMasterSchema,
  ReregisterAgentSchema,
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
import { TaskSchema, TaskState, TaskStatusSchema, TaskStatus_Source, type Task, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { MasterDetector } from "../../src/actors/agent/master-detector.js";
import { Actor } from "../../src/runtime/actor.js";
import type { Timer } from "../../src/runtime/clock.js";
import type { Pid } from "../../src/runtime/pid.js";

interface SimTask {
  framework: FrameworkInfo;
  info: TaskInfo;
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
  /** Times it reregistered (with a new leader). */
  reregistrations = 0;
  private readonly tasks = new Map<string, SimTask>();
  private readonly detector: MasterDetector;
  /** Waiting for AgentRegistered / AgentReregistered. */
  private registering = false;
  /** Sent (re)registrations not answered yet. */
  private retry: Timer | undefined;

  constructor(
    name: string,
    readonly hostname: string,
    private readonly resources: Resource[],
    masters: Pid | readonly Pid[],
    private readonly taskMs: number,
  ) {
    super(name);
    this.detector = new MasterDetector(Array.isArray(masters) ? masters : [masters as Pid]);
    this.install(AgentRegisteredSchema, (m) => this.registered(m.agentId?.value ?? ""));
    this.install(AgentReregisteredSchema, () => {
      this.reregistrations++;
      this.registered(this.agentId);
      for (const t of this.tasks.values()) if (t.pending[0]) this.send(this.master, t.pending[0]);
    });
    this.install(LeadingMasterSchema, (m, from) => {
      const a = this.detector.announced(from, m.pid, Number(m.term));
      if ("follow" in a && (a.changed || this.registering)) this.register();
    });
    this.install(AgentPingSchema, () => this.send(this.master, create(AgentPongSchema)));
    this.install(RunTaskSchema, (m) => this.run(m.frameworkInfo!, m.task!));
    this.install(StatusUpdateAcknowledgementSchema, (m) => this.acknowledged(m.taskId?.value ?? "", m.uuid));
    this.install(KillTaskSchema, (m) => this.end(m.taskId?.value ?? "", TaskState.KILLED));
    this.install(ShutdownFrameworkSchema, (m) => {
      for (const [id, t] of this.tasks) if (t.frameworkId.value === m.frameworkId?.value) this.end(id, TaskState.KILLED);
    });
  }

  override initialize(): void {
    this.register();
  }

  private get master(): Pid {
    return this.detector.current;
  }

  /** Registers (no id yet) or reregisters with the current master; unanswered for 1 s, with the next. */
  private register(): void {
    this.registering = true;
    this.retry?.cancel();
    this.retry = this.delay(1_000, () => {
      this.detector.next();
      this.register();
    });
    const info = create(AgentInfoSchema, { hostname: this.hostname, resources: this.resources, ...(this.agentId ? { id: { value: this.agentId } } : {}) });
    if (!this.agentId) {
      this.send(this.master, create(RegisterAgentSchema, { agentInfo: info, version: "bench" }));
      return;
    }
    const running = [...this.tasks.values()];
    const frameworks = new Map(running.map((t) => [t.frameworkId.value, t.framework]));
    const tasks = running.map((t) => this.taskProto(t));
    this.send(this.master, create(ReregisterAgentSchema, { agentInfo: info, version: "bench", tasks, frameworks: [...frameworks.values()] }));
  }

  private registered(agentId: string): void {
    this.agentId = agentId;
    this.registering = false;
    this.retry?.cancel();
    this.retry = undefined;
  }

  private taskProto(t: SimTask): Task {
    const { name, taskId, resources } = t.info;
    return create(TaskSchema, { name, taskId, resources, frameworkId: t.frameworkId, agentId: { value: this.agentId }, state: t.state, role: t.framework.roles[0] ?? "*" });
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  private run(framework: FrameworkInfo, info: TaskInfo): void {
    const taskId = info.taskId?.value ?? "";
    if (!taskId || this.tasks.has(taskId)) return;
    const task: SimTask = { framework, info, frameworkId: framework.id!, state: TaskState.RUNNING, pending: [], timer: undefined };
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
    // A task with a health check is reported healthy once RUNNING (the check "passes" at once).
    const healthy = state === TaskState.RUNNING && task.info.healthCheck ? true : undefined;
    const status = create(TaskStatusSchema, { taskId: create(TaskIDSchema, { value: taskId }), state, source: TaskStatus_Source.EXECUTOR, uuid, agentId, healthy });
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
