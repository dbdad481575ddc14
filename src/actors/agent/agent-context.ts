/**
 * The agent's state (as MasterState is the master's) and the small operations every part
 * of the agent shares: guards on the master's messages, the agent's phase, agent-made
 * status updates, executor checkpoints, removing executors and frameworks. Everything here
 * runs inside the agent actor; the feature files (recovery.ts, registration.ts, launch.ts,
 * shutdown.ts, status-relay.ts, executor-calls.ts, task-reconciliation.ts,
 * master-messages.ts) are functions over an AgentContext, and agent.ts wires messages to them.
 *
 * Phases: RECOVERING (reading checkpoints, measuring the host) → DISCONNECTED (looking for
 * the master) ⇄ RUNNING (registered) → TERMINATING. Executors have their own phases
 * (agent-records.ts). Handlers open with guards that log and count what they drop.
 */
import { create, type Message } from "@bufbuild/protobuf";
import { AgentInfoSchema, type AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { TaskStatus_Reason, TaskStatus_Source, type TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../resources/index.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { AgentFileSystem } from "./agent-file-system.js";
import { actsAs, describePeer, type PeerIdentity } from "../../runtime/identity.js";
import type { Logger } from "../../runtime/log.js";
import type { Pid } from "../../runtime/pid.js";
import type { Random } from "../../runtime/random.js";
import { transitionChecker } from "../../runtime/transitions.js";
import { isTerminal, taskStateName } from "../task-states.js";
import type { AgentMetrics } from "./agent-metrics.js";
import type { AGENT_DEFAULTS, AgentOptions } from "./agent-options.js";
import { ExecutorPhase, type ExecutorRecord, type FrameworkOnAgent, type TaskRecord } from "./agent-records.js";
import { removeExecutorCheckpoint, spareCheckpointsDir, writeExecutorCheckpoint, type ExecutorCheckpoint } from "./checkpoint.js";
import { applyCheckpointed } from "./checkpointed-resources.js";
import { DiskActivity } from "./disk-activity.js";
import { DEFAULT_LAUNCH_LANE_MAX_WAIT_MS, LaunchLane } from "./launch-lane.js";
import type { MasterDetector } from "./master-detector.js";
import type { MasterLink } from "./master-link.js";
import type { SecretResolver } from "./secrets.js";
import { SpareFiles } from "./spare-files.js";
import type { StatusUpdateManager } from "./status-update-manager.js";
import { statusUpdate } from "./status-update.js";

export enum AgentPhase {
  RECOVERING = "RECOVERING",
  DISCONNECTED = "DISCONNECTED",
  RUNNING = "RUNNING",
  TERMINATING = "TERMINATING",
}

const checkAgentTransition = transitionChecker<AgentPhase>({
  [AgentPhase.RECOVERING]: [AgentPhase.DISCONNECTED, AgentPhase.TERMINATING],
  [AgentPhase.DISCONNECTED]: [AgentPhase.RUNNING, AgentPhase.TERMINATING],
  [AgentPhase.RUNNING]: [AgentPhase.DISCONNECTED, AgentPhase.TERMINATING],
  [AgentPhase.TERMINATING]: [],
}, "agent");

/** The agent's options with the defaults filled in. */
export type ResolvedAgentOptions = AgentOptions & typeof AGENT_DEFAULTS;

/** What the agent actor lends its parts: identity, clock, sending, timers, deferral. */
export interface AgentHost {
  readonly self: Pid;
  readonly log: Logger;
  readonly clock: Clock;
  /** The identity of the connection the message being handled came on (only inside a handler). */
  readonly sender: PeerIdentity;
  send(to: Pid, message: Message): void;
  delay(ms: number, fn: () => void): Timer;
  /** Waits for a promise outside the actor, then runs onResult / onError inside it (no onError: the failure is logged). */
  defer<T>(promise: Promise<T>, onResult: (value: T) => void, onError?: (error: unknown) => void): void;
  /** Runs fn as the actor's next item (after the current handler has finished its records). */
  enqueue(fn: () => void): void;
  /** Asks for exited(pid) when pid's connection breaks. */
  link(pid: Pid): void;
  /** Stops the agent actor after the current item. */
  terminate(): void;
}

/** An executor call that came while the agent recovers: it runs once recovery has decided. */
export interface HeldExecutorCall {
  run: () => void;
  fail: (err: Error) => void;
}

export class AgentContext {
  phase = AgentPhase.RECOVERING;
  agentId = "";
  info: AgentInfo = create(AgentInfoSchema);
  readonly frameworks = new Map<string, FrameworkOnAgent>();
  statusUpdates!: StatusUpdateManager;
  metrics!: AgentMetrics;
  masterLink!: MasterLink;
  /** The master the last (re)registration attempt went to (pid text). */
  lastAttemptTo = "";
  /** The agent's seeded source: registration backoff, container ids, status update uuids (AgentOptions.random). */
  random!: Random;
  startedAt = 0;
  readonly disk = new DiskActivity();
  /** The agent's disk (AgentOptions.fs): checkpoints, update streams, sandboxes, volumes. */
  readonly fs: FileSystem;
  /** Ended executors' checkpoint files, emptied, for the next launches' first checkpoints (spare-files.ts; undefined: AgentOptions.spareCheckpoints false). */
  readonly spareCheckpoints: SpareFiles | undefined;
  /** Dynamic reservations and persistent volumes, as the master last checkpointed them. */
  checkpointedResources: Resource[] = [];
  /** The total the flags (or the host) give, before checkpointed resources are applied. */
  flagTotal: Resource[] = [];
  recoveryMs = 0;
  /** Executor calls that came while the agent recovers: they run once recovery has decided. */
  heldExecutorCalls: HeldExecutorCall[] = [];
  /**
   * Tasks this agent answered as never received (task-reconciliation.ts). Their RunTask may
   * still come, late: a message written to a connection the master then gave up can reach
   * the agent after newer ones on the next connection. It must not run a task already
   * reported TASK_DROPPED or TASK_LOST (bounded; the oldest are forgotten first).
   */
  readonly reconciledAway = new Set<string>();
  /** Launches of agent-run tasks go ahead of containers' ends (launch-lane.ts). */
  readonly lane: LaunchLane;

  constructor(
    readonly opts: ResolvedAgentOptions,
    readonly host: AgentHost,
    /** Which master the agent follows. */
    readonly masters: MasterDetector,
    /** Seals tasks' inline secrets on arrival and resolves secret variables at launch (secrets.ts). */
    readonly secrets: SecretResolver,
  ) {
    this.fs = opts.fs ?? new AgentFileSystem();
    this.spareCheckpoints = opts.spareCheckpoints === false ? undefined : new SpareFiles(this.fs, spareCheckpointsDir(opts.workDir));
    this.lane = new LaunchLane((ms, fn) => host.delay(ms, fn), opts.launchLaneMaxWaitMs ?? DEFAULT_LAUNCH_LANE_MAX_WAIT_MS);
  }

  get log(): Logger {
    return this.host.log;
  }

  get clock(): Clock {
    return this.host.clock;
  }

  transition(to: AgentPhase): void {
    checkAgentTransition(this.phase, to);
    this.log.info({ from: this.phase, to }, `Agent ${this.phase} -> ${to}`);
    this.phase = to;
  }

  /** Guard: the message comes from our master, on a connection authenticated as a master. */
  fromMaster(from: Pid, what: string): boolean {
    const sender = this.host.sender;
    if (!actsAs(sender, "master")) return this.refuse(`${what} from ${from.toString()}`, `its connection is ${describePeer(sender)}, not a master's`);
    if (from.equals(this.masters.current)) return true;
    return this.drop(`${what} from ${from.toString()}`, `it is not the master (${this.masters.current.toString()})`);
  }

  /** Drops a message whose sender's identity may not send it (counted apart from other drops). */
  refuse(what: string, why: string): false {
    this.metrics.unauthorized.inc();
    return this.drop(what, why);
  }

  drop(what: string, why: string): false {
    this.metrics.dropped.inc();
    this.log.warn({ what, why }, `Ignoring ${what} because ${why}`);
    return false;
  }

  /** The flags' total with the checkpointed resources applied (logged when some no longer fit). */
  withCheckpointed(total: Resource[]): Resource[] {
    this.flagTotal = total;
    const { total: applied, dropped } = applyCheckpointed(Resources.of(total), this.checkpointedResources);
    for (const r of dropped) this.log.error({ resource: r }, `Checkpointed resource ${r.name} no longer fits the agent's resources; it is not offered`);
    return applied.toProto();
  }

  // ---- agent-made status updates -------------------------------------------------------

  /**
   * An update the agent itself produces (source AGENT; EXECUTOR when the agent is a direct
   * command task's executor, command-task.ts), through the status update manager.
   * `sendAfter`: stored at once, sent once that settles (StatusUpdateManager.update).
   */
  taskStatus(fwId: string, exId: string | undefined, taskId: string, state: TaskState, reason: TaskStatus_Reason, message: string, exitCode?: number, source = TaskStatus_Source.AGENT, healthy?: boolean, sendAfter?: Promise<unknown>): Promise<unknown> {
    const ex = exId ? this.frameworks.get(fwId)?.executors.get(exId) : undefined;
    const u = statusUpdate({ frameworkId: fwId, taskId, state, agentId: this.agentId, executorId: exId, reason, message, now: this.clock.now(), source, uuid: this.random.uuidBytes() });
    if (u.status && ex) u.status.sandboxDirectory = ex.sandbox;
    if (u.status && exitCode !== undefined) u.status.exitCode = exitCode;
    if (u.status && healthy !== undefined) u.status.healthy = healthy;
    // One info line per task at its end (with the launch's, in launch.ts); the states on the way are debug.
    this.log[isTerminal(state) ? "info" : "debug"]({ frameworkId: fwId, taskId, state: taskStateName(state), reason: TaskStatus_Reason[reason] }, `Task ${taskId} is ${taskStateName(state)}: ${message}`);
    const rec = ex?.tasks.get(taskId);
    if (rec) this.recordState(rec, state);
    const trace = this.opts.launchTrace;
    trace?.mark(taskId, `${taskStateName(state)} asked`);
    const stored = this.statusUpdates.update(u, sendAfter);
    this.host.defer(
      stored,
      () => trace?.mark(taskId, `${taskStateName(state)} durable`),
      (err) => this.log.error({ err, taskId }, `Status update ${taskStateName(state)} for task ${taskId} was not stored: ${(err as Error).message}`),
    );
    return stored;
  }

  recordState(rec: TaskRecord, state: TaskState): void {
    if (isTerminal(state) && !isTerminal(rec.state)) this.metrics.taskEnded(state);
    rec.state = state;
  }

  // ---- checkpoints -----------------------------------------------------------------------

  /** Writes the executor's checkpoint (in order per executor). */
  checkpoint(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    const cp: ExecutorCheckpoint = {
      framework: fw.info,
      executor: ex.info,
      kind: ex.kind,
      containerId: ex.containerId,
      sandbox: ex.sandbox,
      container: ex.container,
      tasks: [...ex.tasks.values()].map((t) => ({ task: t.info, role: t.role })),
    };
    // A new launch's first checkpoint: written in place, one flush (checkpoint.ts).
    const first = !ex.recovered && !ex.checkpointed;
    ex.checkpointed = true;
    this.persist(ex, () => writeExecutorCheckpoint(this.fs, this.opts.workDir, cp, first, this.spareCheckpoints), `checkpoint executor ${ex.id}`);
  }

  /** Runs the write after the executor's earlier ones; resolves once it is done (failures are logged). */
  persist(ex: ExecutorRecord, write: () => Promise<void>, what: string): Promise<void> {
    const done = this.disk.track(ex.io.then(write));
    ex.io = done.catch(() => undefined);
    this.host.defer(done, () => undefined, (err) => this.log.error({ err }, `Failed to ${what}: ${(err as Error).message}`));
    return done;
  }

  // ---- ending executors and frameworks ---------------------------------------------------

  destroyContainer(ex: ExecutorRecord, graceMs = 0): void {
    this.host.defer(
      this.opts.containerizer.destroy(ex.containerId, graceMs),
      () => undefined,
      (err) => this.log.error({ err, containerId: ex.containerId }, `Failed to destroy container ${ex.containerId} of executor ${ex.id}`),
    );
  }

  removeExecutor(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    // Tasks whose terminal update is not yet acknowledged stay reachable for the ack.
    if (ex.tasks.size === 0 && fw.executors.get(ex.id) === ex) {
      fw.executors.delete(ex.id);
      // Once no checkpoint lists its tasks, the status update manager may forget their settled streams.
      const forget = (): void => void this.statusUpdates.forgetExecutor(fw.id, ex.id).catch(() => undefined); // the agent is stopping
      this.persist(ex, () => removeExecutorCheckpoint(this.fs, this.opts.workDir, fw.id, ex.id, this.spareCheckpoints).then(forget), `remove the checkpoint of executor ${ex.id}`);
    }
    if (fw.terminating && [...fw.executors.values()].every((e) => e.phase === ExecutorPhase.TERMINATED)) this.removeFramework(fw);
  }

  removeFramework(fw: FrameworkOnAgent): void {
    this.frameworks.delete(fw.id);
    const removed = [...fw.executors.values()].map((ex) =>
      this.persist(ex, () => removeExecutorCheckpoint(this.fs, this.opts.workDir, fw.id, ex.id, this.spareCheckpoints), `remove the checkpoint of executor ${ex.id}`),
    );
    this.log.info({ frameworkId: fw.id }, `Removed framework ${fw.id}`);
    // Its update streams go (and with the journal's next compaction, their records) only once no
    // checkpoint lists their tasks, durably: a crash before finds both, never a task without its
    // stream (reported LOST). A removal that failed keeps them.
    void Promise.all(removed)
      .then(() => this.statusUpdates.cleanup(fw.id))
      .catch(() => undefined); // a removal failed (logged), or the agent is stopping
    if (this.phase === AgentPhase.TERMINATING && this.frameworks.size === 0) this.host.terminate();
  }
}
