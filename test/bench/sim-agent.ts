/**
 * A simulated agent for the offers benchmark: speaks internal.proto like a real agent
 * (registers, answers pings, runs tasks, acknowledged status updates) but fakes the task:
 * RunTask makes the task RUNNING at once and queues TASK_STARTING then TASK_RUNNING (healthy
 * if the task has a health check); like
 * a real status update manager it sends one update per task at a time and the next only
 * when the previous one is acknowledged, and sends an unacknowledged one again after 10 s. A task finishes after `taskMs` (TASK_FINISHED),
 * or after its label `sim_duration_ms`; 0 keeps it running. Many of these live in one actor system.
 *
 * Given several masters it follows the leader as a real agent does (MasterDetector): a
 * registration unanswered within a jittered backoff (the runtime's Backoff with the real agent's
 * defaults, 1 s doubling up to 60 s as in Mesos, drawn from the agent's seeded Random: a
 * short cap made 50,000 agents resend about 19 registrations each to a leader slowed by the
 * storm; thousands of agents cut off by one failover
 * do not come back in lockstep) goes to the next master, a LeadingMaster moves it
 * to the leader (a new leader's announcement spreads the first attempts over its
 * reregister_within_ms; its first retry waits the leader's patience more, retry_after_ms), and a registered agent then reregisters there with its running tasks and
 * resends its unacknowledged updates (the failover and scale benchmarks).
 *
 * It counts what the scale harness checks: registrations answered, updates sent and
 * acknowledged, acknowledgements that matched nothing.
 *
 * Preloaded (`preload`, the harness's --preload mode, preload-layout.ts): it starts with an
 * agent id and tasks already RUNNING (their updates acknowledged), and its first message
 * is a ReregisterAgent listing them, as an agent that outlived its master sends.
 */
import { create } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { AgentInfoSchema, FrameworkInfoSchema, type FrameworkInfo } from "../../src/gen/dcos/v1/cluster_pb.js";
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
  ReconcileAgentTasksSchema,
  UpdateFrameworkSchema,
  type StatusUpdate,
} from "../../src/gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { TaskInfoSchema, TaskSchema, TaskState, TaskStatusSchema, TaskStatus_Source, type Task, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { MasterDetector } from "../../src/actors/agent/master-detector.js";
import { Actor } from "../../src/runtime/actor.js";
import { AGENT_DEFAULTS } from "../../src/actors/agent/agent-options.js";
import { Backoff } from "../../src/runtime/backoff.js";
import { Random } from "../../src/runtime/random.js";
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
  /** The update last sent and when (for the retry). */
  sentHead?: StatusUpdate;
  sentAt?: number;
}

/** A task label that overrides the agent's task duration for that task (ms; 0: runs until killed). */
export const DURATION_LABEL = "sim_duration_ms";
/** An unacknowledged update is sent again after this long (the status update manager's first retry). */
const UPDATE_RETRY_MS = 10_000;

let uuidSeq = 0;
/** Ten random bytes per process: uuids of different processes never collide. */
const PROCESS_UUID_TAIL = randomBytes(10);

function nextUuid(): Uint8Array {
  const u = new Uint8Array(16);
  const n = ++uuidSeq;
  for (let i = 0; i < 6; i++) u[i] = Math.floor(n / 256 ** i) % 256;
  u.set(PROCESS_UUID_TAIL, 6);
  return u;
}

/** An agent's starting state in the harness's preload mode: its id and the tasks it already runs. */
export interface SimAgentPreload {
  agentId: string;
  tasks: ReadonlyArray<{ framework: FrameworkInfo; taskId: string; resources: Resource[] }>;
}

export class SimAgent extends Actor {
  agentId = "";
  /** A master answered its (re)registration at least once (a preloaded agent has an id before that). */
  accepted = false;
  /** Wall time (Date.now()) of the first AgentReregistered since mark(): the harness's "every agent back" is the latest of these. */
  reregisteredAt = 0;
  /** Reregistered since mark() (a retry answered again counts once). */
  backSinceMark = false;
  unexpectedAcks = 0;
  /** Updates sent again for want of an acknowledgement. */
  updatesResent = 0;
  /** Times it reregistered (with a new leader). */
  reregistrations = 0;
  /** AgentRegistered messages received (a retried registration may be answered twice, with the same id). */
  registrations = 0;
  /** Agent ids it was given (the harness checks: exactly one per agent). */
  ids = 0;
  /** Distinct status updates made (each is sent until acknowledged) and acknowledged. */
  updatesMade = 0;
  updatesAcknowledged = 0;
  /** Tasks received (RunTask) and ended (FINISHED/KILLED and fully acknowledged). */
  tasksReceived = 0;
  tasksEnded = 0;
  private readonly backoff: Backoff;
  private readonly random: Random;
  private readonly tasks = new Map<string, SimTask>();
  /** Tasks the master asked about that this agent never received (ReconcileAgentTasks). */
  private readonly answered = new Set<string>();
  private readonly detector: MasterDetector;
  /** Waiting for AgentRegistered / AgentReregistered. */
  private registering = false;
  /** Sent (re)registrations not answered yet. */
  private retry: Timer | undefined;
  /** Added to the wait before the next retry once (a new leader's patience, LeadingMaster.retry_after_ms). */
  private retryFloorMs = 0;

  constructor(
    name: string,
    readonly hostname: string,
    private readonly resources: Resource[],
    masters: Pid | readonly Pid[],
    private readonly taskMs: number,
    random: Random = Random.fromOs(),
    preload?: SimAgentPreload,
  ) {
    super(name);
    this.random = random;
    this.backoff = new Backoff({ initialMs: AGENT_DEFAULTS.registrationBackoffMs, maxMs: AGENT_DEFAULTS.maxRegistrationBackoffMs }, random);
    this.detector = new MasterDetector(Array.isArray(masters) ? masters : [masters as Pid]);
    this.install(AgentRegisteredSchema, (m) => {
      this.registrations++;
      const id = m.agentId?.value ?? "";
      if (id !== this.agentId) this.ids++;
      this.registered(id);
    });
    this.install(AgentReregisteredSchema, () => {
      this.reregistrations++;
      if (!this.backSinceMark) {
        this.backSinceMark = true;
        this.reregisteredAt = Date.now();
      }
      // A preloaded agent's id, taken by the master: counted as the one id it was given.
      if (!this.accepted) this.ids++;
      this.registered(this.agentId);
      for (const t of this.tasks.values()) if (t.pending[0]) this.sendHead(t);
    });
    this.install(LeadingMasterSchema, (m, from) => {
      const a = this.detector.announced(from, m.pid, Number(m.term));
      if (!("follow" in a) || !(a.changed || this.registering)) return;
      // The leader's own announcement (a new term) starts registering over with the backoff
      // reset (as the real agent's MasterLink.start), the first attempt at once or, when the
      // leader asks for a spread, at a random point in it: an agent that had backed off to
      // tens of seconds while the old leader or an election did not answer comes back when
      // told. A standby naming the leader (a redirect in a registration storm) keeps the
      // backoff growing, so a slow leader is not sent every agent's copy again each second.
      // The leader's patience (retry_after_ms) is added to the first retry's wait, as MasterLink does.
      if (from.toString() === m.pid) this.registerAfter(m.reregisterWithinMs > 0 && this.agentId ? this.random.int(m.reregisterWithinMs + 1) : 0, m.retryAfterMs);
      else {
        this.retryFloorMs = Math.min(Math.max(0, m.retryAfterMs), this.backoff.maxMs);
        this.register();
      }
    });
    this.install(AgentPingSchema, (m) => {
      // A master that does not know this agent (connected=false) wants it to (re)register.
      if (!m.connected) {
        if (!this.registering) this.register();
        return;
      }
      this.send(this.master, create(AgentPongSchema));
    });
    this.install(RunTaskSchema, (m) => this.run(m.frameworkInfo!, m.task!));
    this.install(StatusUpdateAcknowledgementSchema, (m) => this.acknowledged(m.taskId?.value ?? "", m.uuid));
    // The master asks about tasks a (stale) reregistration did not list: one never received
    // is reported in the state it names, and refused should its RunTask still come.
    this.install(ReconcileAgentTasksSchema, (m) => {
      const frameworkId = m.frameworkId!;
      for (const id of m.taskIds) {
        if (this.tasks.has(id.value) || this.answered.has(id.value)) continue;
        this.answered.add(id.value);
        const task: SimTask = { framework: create(FrameworkInfoSchema, { id: frameworkId }), info: create(TaskInfoSchema, { taskId: id }), frameworkId, state: m.unknownState, pending: [], timer: undefined };
        this.tasks.set(id.value, task);
        this.enqueue(id.value, task, m.unknownState);
      }
    });
    // A framework's new info (it resubscribed): nothing a simulated task needs.
    this.install(UpdateFrameworkSchema, () => undefined);
    this.install(KillTaskSchema, (m) => this.end(m.taskId?.value ?? "", TaskState.KILLED));
    this.install(ShutdownFrameworkSchema, (m) => {
      for (const [id, t] of this.tasks) if (t.frameworkId.value === m.frameworkId?.value) this.end(id, TaskState.KILLED);
    });
    if (preload) {
      this.agentId = preload.agentId;
      for (const t of preload.tasks) {
        const info = create(TaskInfoSchema, { name: t.taskId, taskId: { value: t.taskId }, resources: t.resources });
        this.tasks.set(t.taskId, { framework: t.framework, info, frameworkId: t.framework.id!, state: TaskState.RUNNING, pending: [], timer: undefined });
      }
    }
  }

  /** Counts reregistrations from now on (before a failover). */
  mark(): void {
    this.backSinceMark = false;
    this.reregisteredAt = 0;
  }

  override initialize(): void {
    this.register();
    this.resendUnacknowledged();
  }

  /**
   * As the status update manager does: an update not acknowledged within its retry time
   * (10 s here, one sweep per agent) is sent again; the master and the framework take a
   * copy by its uuid (delivery is at least once).
   */
  private resendUnacknowledged(): void {
    this.delay(UPDATE_RETRY_MS, () => {
      if (this.agentId && !this.registering) {
        for (const t of this.tasks.values()) {
          const head = t.pending[0];
          if (head && head === t.sentHead && this.clock.now() - (t.sentAt ?? 0) >= UPDATE_RETRY_MS) {
            this.updatesResent++;
            this.sendHead(t);
          }
        }
      }
      this.resendUnacknowledged();
    });
  }

  private sendHead(t: SimTask): void {
    t.sentHead = t.pending[0];
    t.sentAt = this.clock.now();
    // When the agent sent it (wall seconds, the system clock every process reads alike): the
    // frameworks split a launch's latency into its legs with it (scale-framework.ts, "legs").
    // Not performance.timeOrigin + now(): each process's origin is taken once at its start
    // and the two drift apart (a quiet run showed a leg of -89 ms).
    t.pending[0]!.status!.timestamp = Date.now() / 1000;
    this.send(this.master, t.pending[0]!);
  }

  private get master(): Pid {
    return this.detector.current;
  }

  /** (Re)registers with the backoff reset, at once or after `ms` (waiting counts as registering: updates are not resent meanwhile). */
  private registerAfter(ms: number, retryAfterMs = 0): void {
    this.registering = true;
    this.backoff.reset();
    this.retryFloorMs = Math.min(Math.max(0, retryAfterMs), this.backoff.maxMs);
    this.retry?.cancel();
    if (ms <= 0) return this.register();
    this.retry = this.delay(ms, () => this.register());
  }

  /** Registers (no id yet) or reregisters with the current master; unanswered within the backoff, with the next. */
  private register(): void {
    this.registering = true;
    this.retry?.cancel();
    const wait = this.backoff.next() + this.retryFloorMs;
    this.retryFloorMs = 0;
    this.retry = this.delay(wait, () => {
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
    this.accepted = true;
    this.registering = false;
    this.backoff.reset();
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
    if (!taskId || this.tasks.has(taskId) || this.answered.has(taskId)) return;
    const task: SimTask = { framework, info, frameworkId: framework.id!, state: TaskState.RUNNING, pending: [], timer: undefined };
    this.tasks.set(taskId, task);
    this.tasksReceived++;
    this.enqueue(taskId, task, TaskState.STARTING);
    this.enqueue(taskId, task, TaskState.RUNNING);
    const label = info.labels?.labels.find((l) => l.key === DURATION_LABEL)?.value;
    const ms = label === undefined ? this.taskMs : Number(label);
    if (ms > 0) task.timer = this.delay(ms, () => this.end(taskId, TaskState.FINISHED));
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
    this.updatesMade++;
    task.pending.push(create(StatusUpdateSchema, { frameworkId: task.frameworkId, agentId, status, uuid, latestState: task.state }));
    if (task.pending.length === 1) this.sendHead(task);
  }

  private acknowledged(taskId: string, uuid: Uint8Array): void {
    const task = this.tasks.get(taskId);
    const head = task?.pending[0];
    if (!task || !head || !sameUuid(head.uuid, uuid)) {
      this.unexpectedAcks++;
      return;
    }
    task.pending.shift();
    this.updatesAcknowledged++;
    const next = task.pending[0];
    if (next) {
      next.latestState = task.state;
      this.sendHead(task);
    } else if (task.state !== TaskState.RUNNING) {
      this.tasks.delete(taskId);
      if (!this.answered.has(taskId)) this.tasksEnded++;
    }
  }
}

function sameUuid(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
