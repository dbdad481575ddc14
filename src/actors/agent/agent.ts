/**
 * The agent actor (Mesos's Slave): registers with the master and keeps that connection
 * (reregistration with backoff, ping watchdog), runs the master's tasks in executors
 * through a Containerizer, relays executors' status updates through the status update
 * manager, and kills and shuts down on the master's word.
 *
 * States: RECOVERING (reading checkpoints, measuring the host) → DISCONNECTED (looking for
 * the master) ⇄ RUNNING (registered) → TERMINATING. Executors have their own phases
 * (agent-records.ts). Handlers open with guards that log and count what they drop.
 */
import { create } from "@bufbuild/protobuf";
import { mkdir } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { AgentInfoSchema, type AgentInfo, type FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { AgentIDSchema } from "../../gen/dcos/v1/common_pb.js";
import {
  ExecutorEventSchema,
  type ExecutorServiceMessageRequest,
  type ExecutorServiceSubscribeRequest,
  type ExecutorServiceUpdateRequest,
} from "../../gen/dcos/v1/executor_pb.js";
import {
  AgentPingSchema,
  AgentPongSchema,
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  CheckpointResourcesSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  KillTaskSchema,
  LeadingMasterSchema,
  ReconcileAgentTasksSchema,
  RegisterAgentSchema,
  RunTaskGroupSchema,
  RunTaskSchema,
  ShutdownAgentSchema,
  ShutdownExecutorSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  UpdateFrameworkSchema,
  type StatusUpdate,
} from "../../gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import {
  TaskState,
  TaskStatus_Reason,
  TaskStatus_Source,
  type ExecutorInfo,
  type TaskInfo,
} from "../../gen/dcos/v1/tasks_pb.js";
import { shellExitStatus, type Termination } from "../../isolation/containerizer.js";
import { Actor } from "../../runtime/actor.js";
import { Code, DcosError } from "../../runtime/error.js";
import { fetchUris, fetchOwner } from "../../isolation/fetcher.js";
import { actsAs, describePeer } from "../../runtime/identity.js";
import type { Pid } from "../../runtime/pid.js";
import { Random } from "../../runtime/random.js";
import { AgentMetrics } from "./agent-metrics.js";
import { AGENT_DEFAULTS, AGENT_VERSION, type AgentOptions } from "./agent-options.js";
import { ExecutorPhase, ExecutorRecord, FrameworkOnAgent, type QueuedLaunch, type TaskRecord } from "./agent-records.js";
import { parseAttributes } from "./attributes.js";
import { commandExecutorInfo, DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS, executorContainerConfig, executorKind } from "./executor-config.js";
import type { ExecutorApi, ExecutorLink } from "./executor-link.js";
import { sandboxPath, statusUpdatesDir } from "./paths.js";
import { agentResources, hostFacts } from "./resource-detection.js";
import { readAgentId, readExecutorCheckpoints, removeExecutorCheckpoint, writeAgentId, writeExecutorCheckpoint, type ExecutorCheckpoint } from "./checkpoint.js";
import { MasterDetector } from "./master-detector.js";
import { SecretResolver } from "./secrets.js";
import { dockerTaskConfig, dockerTaskOutcome, DEFAULT_TASK_KILL_GRACE_SECONDS } from "./docker-task.js";
import { MasterLink } from "./master-link.js";
import { planRecovery, type RecoveryPlan } from "./recovery.js";
import { linuxBootId, readCheckpointedBootId, rebootedSince, writeBootId } from "./boot-id.js";
import { reregistration } from "./reregistration.js";
import { AckOutcome, StatusUpdateManager } from "./status-update-manager.js";
import { statusUpdate, wrapStatus } from "./status-update.js";
import { taskVolumes } from "./volumes.js";
import { DiskActivity } from "./disk-activity.js";
import { applyCheckpointed, checkpointResources, readCheckpointedResources } from "./checkpointed-resources.js";
import { Resources } from "../../resources/index.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { transitionChecker } from "../../runtime/transitions.js";

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

/** States an executor may report; STAGING and UNSPECIFIED are the master's and the agent's. */
const EXECUTOR_STATES = new Set<TaskState>([
  TaskState.STARTING,
  TaskState.RUNNING,
  TaskState.KILLING,
  TaskState.FINISHED,
  TaskState.FAILED,
  TaskState.KILLED,
  TaskState.ERROR,
  TaskState.LOST,
]);

/** Tasks remembered as reported never received, against a late RunTask. */
const RECONCILED_AWAY_KEPT = 10_000;

export class Agent extends Actor implements ExecutorApi {
  agentState = AgentPhase.RECOVERING;
  agentId = "";
  private info: AgentInfo = create(AgentInfoSchema);
  private readonly frameworks = new Map<string, FrameworkOnAgent>();
  private readonly opts: AgentOptions & typeof AGENT_DEFAULTS;
  private statusUpdates!: StatusUpdateManager;
  private metrics!: AgentMetrics;
  private masterLink!: MasterLink;
  /** The agent's seeded source: registration backoff, container ids, status update uuids (AgentOptions.random). */
  private random!: Random;
  private readonly masters: MasterDetector;
  private startedAt = 0;
  private readonly disk = new DiskActivity();
  /** Dynamic reservations and persistent volumes, as the master last checkpointed them. */
  private checkpointedResources: Resource[] = [];
  /** The total the flags (or the host) give, before checkpointed resources are applied. */
  private flagTotal: Resource[] = [];
  private recoveryMs = 0;
  /** Executor calls that came while the agent recovers: they run once recovery has decided. */
  private heldExecutorCalls: { run: () => void; fail: (err: Error) => void }[] = [];

  /** Seals tasks' inline secrets on arrival and resolves secret variables at launch (secrets.ts). */
  private readonly secrets: SecretResolver;

  constructor(options: AgentOptions) {
    super(options.name ?? AGENT_DEFAULTS.name);
    this.opts = { ...AGENT_DEFAULTS, ...options } as AgentOptions & typeof AGENT_DEFAULTS;
    this.secrets = options.secrets ?? SecretResolver.generate();
    this.masters = new MasterDetector(options.masters?.length ? options.masters : [options.master]);
    this.install(AgentRegisteredSchema, (m, from) => this.registered(m.agentId?.value ?? "", m.pingIntervalSeconds, from, []));
    this.install(AgentReregisteredSchema, (m, from) =>
      this.registered(m.agentId?.value ?? "", m.pingIntervalSeconds, from, m.unknownFrameworks.map((f) => f.value)),
    );
    this.install(AgentPingSchema, (m, from) => this.ping(m.connected, Number(m.term), from));
    this.install(LeadingMasterSchema, (m, from) => this.leadingMaster(m.pid, Number(m.term), from));
    this.install(RunTaskSchema, (m, from) => this.runTask(m.frameworkInfo, m.task, m.role, from));
    this.install(RunTaskGroupSchema, (m, from) => this.runTaskGroup(m.frameworkInfo, m.executorInfo, m.taskGroup?.tasks ?? [], m.role, from));
    this.install(ReconcileAgentTasksSchema, (m, from) => this.reconcileTasks(m.frameworkId?.value ?? "", m.taskIds.map((t) => t.value), m.unknownState, from));
    this.install(KillTaskSchema, (m, from) => this.killTask(m.frameworkId?.value ?? "", m.taskId?.value ?? "", m.killPolicy, from));
    this.install(StatusUpdateAcknowledgementSchema, (m, from) => this.acknowledgement(m.frameworkId?.value ?? "", m.taskId?.value ?? "", m.uuid, from));
    this.install(ShutdownFrameworkSchema, (m, from) => this.shutdownFramework(m.frameworkId?.value ?? "", from));
    this.install(ShutdownExecutorSchema, (m, from) => this.shutdownExecutorMessage(m.frameworkId?.value ?? "", m.executorId?.value ?? "", from));
    this.install(ShutdownAgentSchema, (m, from) => this.shutdownAgent(m.message, from));
    this.install(UpdateFrameworkSchema, (m, from) => this.updateFramework(m.frameworkInfo, from));
    this.install(FrameworkMessageSchema, (m, from) => this.frameworkMessage(m.frameworkId?.value ?? "", m.executorId?.value ?? "", m.data, from));
    this.install(CheckpointResourcesSchema, (m, from) => this.checkpointResources(m.resources, from));
  }

  // ---- lifecycle ---------------------------------------------------------------------

  override initialize(): void {
    this.startedAt = this.clock.now();
    this.disk.attach(this.clock);
    this.random = this.opts.random ?? new Random(Math.floor(this.clock.now()) % 2 ** 31);
    this.masterLink = new MasterLink(
      {
        delay: (ms, fn) => this.delay(ms, fn),
        random: this.random,
        attempt: () => this.attemptRegistration(),
        lost: (silentMs) => {
          if (this.agentState !== AgentPhase.RUNNING) return;
          this.log.warn({ silentMs }, `No ping from master ${this.masters.current.toString()} for ${silentMs} ms; looking for it again`);
          this.masterLost();
        },
      },
      {
        backoffMs: this.opts.registrationBackoffMs,
        maxBackoffMs: this.opts.maxRegistrationBackoffMs,
        maxMissedPings: this.opts.maxMissedPings,
        defaultPingIntervalSeconds: AGENT_DEFAULTS.pingIntervalSeconds,
      },
    );
    this.metrics = new AgentMetrics(this.system.metrics, {
      registered: () => this.agentState === AgentPhase.RUNNING,
      startedAt: this.startedAt,
      now: () => this.clock.now(),
      frameworks: () => this.frameworks.values(),
      total: () => this.info.resources,
      recoveryMs: () => this.recoveryMs,
    });
    this.statusUpdates = this.system.spawn(
      new StatusUpdateManager({
        name: `${this.name}-status-updates`,
        dir: statusUpdatesDir(this.opts.workDir),
        metrics: this.system.metrics,
        forward: (u) => this.system.enqueueFunction(this, () => this.forwardUpdate(u)),
        initialRetryMs: this.opts.statusUpdateRetryMs,
        maxRetryMs: this.opts.statusUpdateMaxRetryMs,
        paused: true,
        disk: this.disk,
      }),
    );
    const facts = (this.opts.hostFacts ? Promise.resolve(this.opts.hostFacts) : hostFacts(this.opts.workDir)).then(async (f) => {
      this.checkpointedResources = await readCheckpointedResources(this.opts.workDir);
      return f;
    });
    const recovered = this.disk.track(
      mkdir(this.opts.workDir, { recursive: true }).then(() =>
        Promise.all([facts, this.statusUpdates.recover(), readAgentId(this.opts.workDir), readExecutorCheckpoints(this.opts.workDir), readCheckpointedBootId(this.opts.workDir), (this.opts.bootId ?? linuxBootId)()]),
      ),
    );
    this.defer(
      recovered,
      ([f, streams, agentId, checkpoints, previousBoot, boot]) => {
        try {
          this.info = create(AgentInfoSchema, {
            hostname: this.opts.hostname ?? osHostname(),
            resources: this.withCheckpointed(agentResources(f, this.opts.resources)),
            attributes: parseAttributes(this.opts.attributes ?? ""),
            pid: this.self.toString(),
            port: Number(this.self.address.split(":").at(-1)) || 0,
            httpPort: this.opts.httpPort ?? 0,
          });
        } catch (err) {
          this.fail(err);
          return;
        }
        for (const u of checkpoints.unreadable) this.log.error(u, `Ignoring unreadable checkpoint ${u.path}: ${u.error}`);
        if (agentId) {
          this.agentId = agentId;
          this.info.id = create(AgentIDSchema, { value: agentId });
        }
        const rebooted = rebootedSince(previousBoot, boot);
        if (rebooted) this.log.warn({ previousBoot, boot }, `The machine rebooted (boot id ${previousBoot} -> ${boot}): no executor of the previous boot survived`);
        // After a reboot no container of the previous boot runs: whatever the containerizer finds is an orphan.
        const states = rebooted ? [] : checkpoints.executors.flatMap((cp) => (cp.container ? [cp.container] : []));
        this.defer(
          this.opts.containerizer.recover(states).then((found) => this.disk.track(writeBootId(this.opts.workDir, boot)).then(() => found)),
          (found) => this.recovered(planRecovery(checkpoints.executors, streams, found, rebooted), rebooted),
          (err) => this.fail(err),
        );
      },
      (err) => this.fail(err),
    );
  }

  /** Applies the recovery plan, then starts looking for the master. */
  private recovered(plan: RecoveryPlan, rebooted: boolean): void {
    for (const [id, fw] of plan.frameworks) this.frameworks.set(id, fw);
    for (const ex of plan.live) {
      const fw = this.frameworks.get(ex.frameworkId)!;
      this.log.info({ executorId: ex.id, frameworkId: fw.id, tasks: ex.tasks.size }, ex.kind === "docker" ? `Recovered docker task ${ex.id}` : `Recovered executor ${ex.id}; waiting for it to subscribe again`);
      this.watchContainer(fw, ex);
      if (ex.kind === "docker") this.dockerTaskRunning(fw, ex, false);
      else this.awaitSubscription(ex, this.opts.executorReregistrationTimeoutMs, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT);
    }
    for (const ex of plan.gone) {
      const fw = this.frameworks.get(ex.frameworkId)!;
      ex.transition(ExecutorPhase.TERMINATED, this.log);
      for (const t of ex.liveTasks()) {
        if (rebooted) this.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.GONE, TaskStatus_Reason.AGENT_REBOOTED, "The machine rebooted; the task did not survive");
        else this.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.LOST, TaskStatus_Reason.AGENT_RESTARTED, "The task's container was not found after the agent restarted");
      }
      this.removeExecutor(fw, ex);
    }
    for (const id of plan.orphans) {
      this.log.warn({ containerId: id }, `Destroying orphan container ${id}`);
      this.defer(this.opts.containerizer.destroy(id, 0), () => undefined, (err) => this.log.error({ err }, `Failed to destroy orphan container ${id}`));
    }
    this.recoveryMs = this.clock.now() - this.startedAt;
    this.log.info({ frameworks: this.frameworks.size, live: plan.live.length, gone: plan.gone.length, agentId: this.agentId }, "Agent recovered; registering with the master");
    this.transition(AgentPhase.DISCONNECTED);
    this.masterLink.start();
    const held = this.heldExecutorCalls.splice(0);
    if (held.length > 0) this.log.info({ calls: held.length }, `Answering ${held.length} executor call(s) held during recovery`);
    for (const call of held) call.run();
  }

  override finalize(): void {
    for (const call of this.heldExecutorCalls.splice(0)) call.fail(new DcosError(Code.UNAVAILABLE, "The agent stopped before it recovered; retry"));
    this.disk.detach();
    if (this.statusUpdates?.running) this.system.terminate(this.statusUpdates);
  }

  override exited(pid: Pid): void {
    if (!pid.equals(this.masters.current)) return;
    if (this.agentState !== AgentPhase.RUNNING) return;
    this.log.warn({ master: pid.toString() }, `Connection to master ${pid.toString()} broke; looking for it again`);
    this.masterLost();
  }

  /** The flags' total with the checkpointed resources applied (logged when some no longer fit). */
  private withCheckpointed(total: Resource[]): Resource[] {
    this.flagTotal = total;
    const { total: applied, dropped } = applyCheckpointed(Resources.of(total), this.checkpointedResources);
    for (const r of dropped) this.log.error({ resource: r }, `Checkpointed resource ${r.name} no longer fits the agent's resources; it is not offered`);
    return applied.toProto();
  }

  /** CheckpointResources from the master: write them, make or remove volume directories, update the total. */
  private checkpointResources(resources: Resource[], from: Pid): void {
    if (!this.fromMaster(from, "checkpointed resources")) return;
    const before = this.checkpointedResources;
    this.checkpointedResources = resources;
    this.info.resources = this.withCheckpointed(this.flagTotal);
    this.log.info({ resources: resources.length }, `Checkpointing ${resources.length} reserved resource(s) and volume(s)`);
    const workDir = this.opts.workDir;
    const write = this.disk.track(checkpointResources(workDir, before, resources));
    this.defer(write, () => undefined, (err) => this.log.error({ err }, `Failed to checkpoint resources: ${(err as Error).message}`));
  }

  /** The agent's info as registered (resources, attributes, id). */
  agentInfo(): AgentInfo {
    return this.info;
  }

  /** The frameworks, executors and tasks this agent runs, read-only (read inside the actor, e.g. for /state). */
  frameworksView(): ReadonlyMap<string, Readonly<FrameworkOnAgent>> {
    return this.frameworks;
  }

  private fail(err: unknown): void {
    this.log.error({ err }, `Agent cannot start: ${(err as Error).message}`);
    for (const call of this.heldExecutorCalls.splice(0)) call.fail(new DcosError(Code.UNAVAILABLE, `The agent could not recover: ${(err as Error).message}`));
    if (this.agentState !== AgentPhase.TERMINATING) this.transition(AgentPhase.TERMINATING);
    this.terminate();
  }

  private transition(to: AgentPhase): void {
    checkAgentTransition(this.agentState, to);
    this.log.info({ from: this.agentState, to }, `Agent ${this.agentState} -> ${to}`);
    this.agentState = to;
  }

  /** Guard: the message comes from our master, on a connection authenticated as a master. */
  private fromMaster(from: Pid, what: string): boolean {
    if (!actsAs(this.sender, "master")) return this.refuse(`${what} from ${from.toString()}`, `its connection is ${describePeer(this.sender)}, not a master's`);
    if (from.equals(this.masters.current)) return true;
    return this.drop(`${what} from ${from.toString()}`, `it is not the master (${this.masters.current.toString()})`);
  }

  /** Drops a message whose sender's identity may not send it (counted apart from other drops). */
  private refuse(what: string, why: string): false {
    this.metrics.unauthorized.inc();
    return this.drop(what, why);
  }

  private drop(what: string, why: string): false {
    this.metrics.dropped.inc();
    this.log.warn({ what, why }, `Ignoring ${what} because ${why}`);
    return false;
  }

  // ---- registration ------------------------------------------------------------------

  private attemptRegistration(): void {
    if (this.agentState !== AgentPhase.DISCONNECTED) return;
    // The previous attempt went unanswered: try the next master of the list.
    if (this.masterLink.attempts > 1) this.masters.next();
    if (this.agentId === "") this.send(this.masters.current, create(RegisterAgentSchema, { agentInfo: this.info, version: AGENT_VERSION }));
    else this.send(this.masters.current, reregistration(this.info, this.frameworks.values()));
  }

  private registered(agentId: string, pingIntervalSeconds: number, from: Pid, unknownFrameworks: string[]): void {
    if (this.agentState !== AgentPhase.DISCONNECTED) {
      this.drop(`(re)registration as ${agentId}`, `the agent is ${this.agentState}`);
      return;
    }
    if (!agentId) {
      this.drop("(re)registration", "it carries no agent id");
      return;
    }
    // Only a leading master registers an agent: one asked by the rotation may answer after the agent moved on.
    if (!this.masters.registeredWith(from)) {
      this.drop(`(re)registration from ${from.toString()}`, "it is not one of the masters");
      return;
    }
    if (this.agentId && this.agentId !== agentId) {
      this.log.warn({ old: this.agentId, new: agentId }, `Master gave agent id ${agentId}, was ${this.agentId}`);
    }
    if (this.agentId !== agentId) {
      const write = this.disk.track(writeAgentId(this.opts.workDir, agentId));
      this.defer(write, () => undefined, (err) => this.log.error({ err }, `Failed to checkpoint agent id ${agentId}`));
    }
    this.agentId = agentId;
    this.info.id = create(AgentIDSchema, { value: agentId });
    this.transition(AgentPhase.RUNNING);
    this.log.info({ agentId, master: from.toString() }, `Registered with master ${from.toString()} as agent ${agentId}`);
    this.link(this.masters.current);
    this.masterLink.registered(pingIntervalSeconds);
    void this.statusUpdates.resume();
    for (const fwId of unknownFrameworks) {
      const fw = this.frameworks.get(fwId);
      if (fw) this.beginFrameworkShutdown(fw, "the master does not know it");
    }
  }

  /**
   * A ping says its master leads `term`: the agent follows it unless it follows a newer
   * term. A new master (or its own master leading a newer term) means reregistering; a
   * ping while disconnected means the leader is reachable again: reregister now rather
   * than at the next backoff, with whatever master the retries were asking.
   */
  private ping(connected: boolean, term: number, from: Pid): void {
    const previous = this.masters.current;
    const outcome = this.masters.pinged(from, term);
    if ("ignore" in outcome) {
      this.drop(`ping from ${from.toString()}`, outcome.ignore);
      return;
    }
    this.send(from, create(AgentPongSchema));
    if (this.agentState === AgentPhase.DISCONNECTED) {
      this.log.info({ master: from.toString(), term }, `Master ${from.toString()} (term ${term}) pings this disconnected agent; reregistering with it now`);
      this.masterLink.start();
      return;
    }
    if (this.agentState !== AgentPhase.RUNNING) return;
    if (outcome.changed) {
      this.log.warn({ master: from.toString(), previous: previous.toString(), term }, `Master ${from.toString()} leads term ${term} (this agent followed ${previous.toString()}); reregistering with it`);
      this.masterLost();
      return;
    }
    if (!connected) {
      this.log.warn("The master does not consider this agent registered; reregistering");
      this.masterLost();
      return;
    }
    this.masterLink.pinged();
  }

  /** A master says who leads: follow a leader of a term not older than the last one followed (a newer term of the same master is a change). */
  private leadingMaster(leader: string, term: number, from: Pid): void {
    if (!actsAs(this.sender, "master")) {
      this.refuse(`LeadingMaster (${leader || "none"}) from ${from.toString()}`, `its connection is ${describePeer(this.sender)}, not a master's`);
      return;
    }
    const outcome = this.masters.announced(from, leader, term);
    if ("ignore" in outcome) {
      this.drop(`LeadingMaster (${leader || "none"}, term ${term}) from ${from.toString()}`, outcome.ignore);
      return;
    }
    if (this.agentState === AgentPhase.RUNNING && !outcome.changed) return;
    this.log.info({ leader, term, from: from.toString() }, `Master ${leader} leads (term ${term}); (re)registering with it`);
    if (this.agentState === AgentPhase.RUNNING) this.masterLost();
    else if (this.agentState === AgentPhase.DISCONNECTED) this.masterLink.start();
  }

  private masterLost(): void {
    this.transition(AgentPhase.DISCONNECTED);
    void this.statusUpdates.pause();
    this.masterLink.start();
  }

  // ---- running tasks -----------------------------------------------------------------

  private runTask(frameworkInfo: FrameworkInfo | undefined, task: TaskInfo | undefined, role: string, from: Pid): void {
    if (!this.fromMaster(from, "run task")) return;
    const fwId = frameworkInfo?.id?.value ?? "";
    const taskId = task?.taskId?.value ?? "";
    if (!this.acceptsTasks(fwId, [taskId])) return;
    const fw = this.framework(frameworkInfo!);
    if (!fw) return;
    const t = this.secrets.sealTask(task!);
    if (Boolean(t.command) === Boolean(t.executor)) {
      this.taskStatus(fwId, undefined, taskId, TaskState.ERROR, TaskStatus_Reason.TASK_INVALID, "A task needs exactly one of command and executor");
      return;
    }
    const info = t.executor ?? commandExecutorInfo(t, fwId);
    const ex = this.executorFor(fw, info, executorKind(info, !t.executor), [t]);
    if (!ex) return;
    ex.tasks.set(taskId, { info: t, role, state: TaskState.STAGING, launched: false, killRequested: false });
    ex.queue.push({ task: t });
    this.afterQueued(fw, ex, [t]);
  }

  private runTaskGroup(frameworkInfo: FrameworkInfo | undefined, givenExecutor: ExecutorInfo | undefined, givenTasks: TaskInfo[], role: string, from: Pid): void {
    if (!this.fromMaster(from, "run task group")) return;
    const executorInfo = givenExecutor && this.secrets.sealExecutor(givenExecutor);
    const tasks = givenTasks.map((t) => this.secrets.sealTask(t));
    const fwId = frameworkInfo?.id?.value ?? "";
    if (!this.acceptsTasks(fwId, tasks.map((t) => t.taskId?.value ?? ""))) return;
    const fw = this.framework(frameworkInfo!);
    if (!fw) return;
    if (!executorInfo?.executorId?.value || tasks.length === 0) {
      for (const t of tasks) {
        this.taskStatus(fwId, undefined, t.taskId!.value, TaskState.ERROR, TaskStatus_Reason.TASK_GROUP_INVALID, "A task group needs an executor with an id and at least one task");
      }
      return;
    }
    const ex = this.executorFor(fw, executorInfo, executorKind(executorInfo, false), tasks);
    if (!ex) return;
    for (const t of tasks) ex.tasks.set(t.taskId!.value, { info: t, role, state: TaskState.STAGING, launched: false, killRequested: false });
    ex.queue.push({ group: { $typeName: "dcos.v1.TaskGroupInfo", tasks } });
    this.afterQueued(fw, ex, tasks);
  }

  /**
   * The master asks about tasks it holds here that a reregistration did not list (that
   * reregistration may be older than their RunTask). A task this agent knows (it runs it, or
   * its updates are still pending or were acknowledged to the end) reports through its own
   * updates; one it does not know was never received: it ends as `unknownState`
   * (TASK_DROPPED or TASK_LOST, as the master says for the framework), sent reliably.
   */
  private reconcileTasks(fwId: string, taskIds: string[], unknownState: TaskState, from: Pid): void {
    if (!this.fromMaster(from, "task reconciliation")) return;
    if (this.agentState !== AgentPhase.RUNNING) {
      this.drop(`task reconciliation for ${taskIds.join(",")}`, `the agent is ${this.agentState} (the master asks again when it reregisters)`);
      return;
    }
    if (!fwId || taskIds.some((id) => !id)) {
      this.drop("a task reconciliation", "it names no framework or a task without id");
      return;
    }
    if (unknownState !== TaskState.DROPPED && unknownState !== TaskState.LOST) {
      this.drop(`task reconciliation for ${taskIds.join(",")}`, `unknown_state ${taskStateName(unknownState)} is neither TASK_DROPPED nor TASK_LOST`);
      return;
    }
    for (const taskId of taskIds) {
      if (this.frameworks.get(fwId)?.executorOfTask(taskId)) continue;
      this.defer(
        this.statusUpdates.knows(fwId, taskId),
        (known) => {
          if (known || this.frameworks.get(fwId)?.executorOfTask(taskId)) return;
          this.metrics.reconciledUnknown.inc();
          this.rememberReconciledAway(fwId, taskId);
          this.taskStatus(fwId, undefined, taskId, unknownState, TaskStatus_Reason.RECONCILIATION, `Task ${taskId} is not on agent ${this.agentId}: its launch never reached the agent`);
        },
        (err) => this.log.error({ err, taskId }, `Could not reconcile task ${taskId}: ${(err as Error).message}`),
      );
    }
  }

  /**
   * Tasks this agent answered as never received (reconcileTasks). Their RunTask may still
   * come, late: a message written to a connection the master then gave up can reach the
   * agent after newer ones on the next connection. It must not run a task already reported
   * TASK_DROPPED or TASK_LOST (bounded; the oldest are forgotten first).
   */
  private readonly reconciledAway = new Set<string>();

  private rememberReconciledAway(fwId: string, taskId: string): void {
    this.reconciledAway.add(`${fwId}/${taskId}`);
    if (this.reconciledAway.size > RECONCILED_AWAY_KEPT) this.reconciledAway.delete(this.reconciledAway.values().next().value!);
  }

  /** Guards shared by RunTask and RunTaskGroup. */
  private acceptsTasks(fwId: string, taskIds: string[]): boolean {
    if (this.agentState !== AgentPhase.RUNNING) return this.drop(`tasks ${taskIds.join(",")}`, `the agent is ${this.agentState}, not registered`);
    if (!fwId) return this.drop("a run task message", "it has no framework id");
    if (taskIds.length === 0 || taskIds.some((id) => !id)) return this.drop("a run task message", "a task has no id");
    if (this.frameworks.get(fwId)?.terminating) return this.drop(`tasks ${taskIds.join(",")}`, `framework ${fwId} is shutting down`);
    for (const id of taskIds) {
      if (this.frameworks.get(fwId)?.executorOfTask(id)) return this.drop(`task ${id}`, `framework ${fwId} already has a task with that id here`);
      if (this.reconciledAway.has(`${fwId}/${id}`)) return this.drop(`task ${id}`, "this agent already reported it as never received (its launch arrived after the master's reconciliation)");
    }
    return true;
  }

  private framework(info: FrameworkInfo): FrameworkOnAgent | undefined {
    const id = info.id!.value;
    let fw = this.frameworks.get(id);
    if (!fw) {
      fw = new FrameworkOnAgent(info);
      this.frameworks.set(id, fw);
      this.log.info({ frameworkId: id }, `Added framework ${id}`);
    } else {
      fw.info = info;
    }
    return fw;
  }

  /** The executor to run the tasks in: an existing live one with that id, or a new one. */
  private executorFor(fw: FrameworkOnAgent, info: ExecutorInfo, kind: ExecutorRecord["kind"], tasks: TaskInfo[]): ExecutorRecord | undefined {
    const exId = info.executorId?.value ?? "";
    const existing = fw.executors.get(exId);
    if (existing) {
      if (existing.phase === ExecutorPhase.TERMINATING || existing.phase === ExecutorPhase.TERMINATED) {
        for (const t of tasks) {
          this.taskStatus(fw.id, exId, t.taskId!.value, TaskState.LOST, TaskStatus_Reason.EXECUTOR_TERMINATED, `Executor ${exId} is shutting down`);
        }
        return undefined;
      }
      return existing;
    }
    const containerId = this.random.uuid();
    let sandbox: string;
    try {
      sandbox = sandboxPath(this.opts.workDir, { agentId: this.agentId, frameworkId: fw.id, executorId: exId, containerId });
    } catch (err) {
      for (const t of tasks) this.taskStatus(fw.id, exId, t.taskId!.value, TaskState.ERROR, TaskStatus_Reason.TASK_INVALID, (err as Error).message);
      return undefined;
    }
    const ex = new ExecutorRecord(info, fw.id, kind, containerId, sandbox);
    fw.executors.set(exId, ex);
    this.log.info({ frameworkId: fw.id, executorId: exId, containerId, kind }, `Launching ${kind} executor ${exId} of framework ${fw.id} in ${sandbox}`);
    this.launchExecutor(fw, ex, tasks);
    return ex;
  }

  private afterQueued(fw: FrameworkOnAgent, ex: ExecutorRecord, tasks: TaskInfo[]): void {
    this.log.info({ frameworkId: fw.id, executorId: ex.id, tasks: tasks.map((t) => t.taskId?.value) }, `Queued ${tasks.length} task(s) for executor ${ex.id}`);
    if (ex.container) this.checkpoint(fw, ex);
    if (ex.phase === ExecutorPhase.RUNNING) this.flushQueue(fw, ex);
  }

  private launchExecutor(fw: FrameworkOnAgent, ex: ExecutorRecord, tasks: TaskInfo[]): void {
    const resources: Resource[] = [...ex.info.resources, ...tasks.flatMap((t) => t.resources)];
    let config;
    try {
      if (ex.kind === "docker") {
        config = dockerTaskConfig({ task: this.secrets.resolveTask(tasks[0]!), frameworkId: fw.id, agentId: this.agentId, containerId: ex.containerId, sandbox: ex.sandbox, workDir: this.opts.workDir, resources });
      } else {
        config = executorContainerConfig({
          kind: ex.kind,
          info: this.secrets.resolveExecutor(ex.info),
          framework: fw.info,
          agentId: this.agentId,
          agentEndpoint: this.opts.executorEndpoint,
          token: this.opts.executorTokens?.token(fw.id, ex.id),
          recoveryTimeoutMs: this.opts.executorRecoveryTimeoutMs,
          containerId: ex.containerId,
          sandbox: ex.sandbox,
          resources,
          switchUser: this.opts.switchUser ?? false,
        });
        config.volumes = taskVolumes(this.opts.workDir, resources);
      }
    } catch (err) {
      this.queueMicro(() => this.launchFailed(fw, ex, err));
      return;
    }
    // Mesos's fetcher: the executor's and the tasks' URIs land in the sandbox before the container starts.
    const uris = [...(ex.info.command?.uris ?? []), ...tasks.flatMap((t) => t.command?.uris ?? [])];
    const user = config.user;
    const launched = this.disk
      .track(mkdir(ex.sandbox, { recursive: true }))
      .then(async () => {
        if (uris.length > 0) await fetchUris(uris, ex.sandbox, { owner: user === undefined ? undefined : await fetchOwner(user) });
      })
      .then(() => this.opts.containerizer.launch(config));
    this.defer(
      launched,
      (state) => {
        ex.container = state;
        this.checkpoint(fw, ex);
        this.launched(fw, ex);
      },
      (err) => this.launchFailed(fw, ex, err),
    );
  }

  /** Runs fn as the actor's next item (after the current handler has finished its records). */
  private queueMicro(fn: () => void): void {
    this.system.enqueueFunction(this, fn);
  }

  private launched(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    this.watchContainer(fw, ex);
    if (ex.phase === ExecutorPhase.TERMINATING) {
      this.destroyContainer(ex);
      return;
    }
    if (ex.kind === "docker") {
      this.dockerTaskRunning(fw, ex, true);
      return;
    }
    this.awaitSubscription(ex, this.opts.executorRegistrationTimeoutMs, TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT);
  }

  /**
   * A docker task runs in its container with the agent as its executor (docker-task.ts):
   * RUNNING as soon as the container runs (or again after a recovery, without an update).
   */
  private dockerTaskRunning(fw: FrameworkOnAgent, ex: ExecutorRecord, report: boolean): void {
    ex.transition(ExecutorPhase.REGISTERING, this.log);
    ex.transition(ExecutorPhase.RUNNING, this.log);
    ex.queue = [];
    for (const t of ex.liveTasks()) {
      t.launched = true;
      if (report) this.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.RUNNING, TaskStatus_Reason.UNSPECIFIED, `Docker container ${ex.containerId} is running`);
    }
  }

  /** `docker stop -t <grace>`: the kill policy's grace period, 3 s by default. */
  private killDockerTask(ex: ExecutorRecord, taskId: string, policy: TaskInfo["killPolicy"]): void {
    if (ex.phase === ExecutorPhase.TERMINATING) return;
    ex.transition(ExecutorPhase.TERMINATING, this.log);
    const graceSeconds = policy?.gracePeriodSeconds ?? DEFAULT_TASK_KILL_GRACE_SECONDS;
    this.log.info({ executorId: ex.id, taskId, graceSeconds }, `Stopping the docker container of task ${taskId} with a grace period of ${graceSeconds} s`);
    this.defer(
      this.opts.containerizer.destroy(ex.containerId, graceSeconds * 1000),
      () => undefined,
      (err) => this.log.error({ err, containerId: ex.containerId }, `Failed to stop the docker container of task ${taskId}`),
    );
  }

  private watchContainer(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    this.defer(
      this.opts.containerizer.wait(ex.containerId),
      (t) => this.executorTerminated(fw, ex, t),
      (err) => this.executorTerminated(fw, ex, { containerId: ex.containerId, exitCode: null, signal: null, reason: "status unknown", message: String((err as Error).message) }),
    );
  }

  /** REGISTERING until the executor subscribes; destroyed if it does not within timeoutMs. */
  private awaitSubscription(ex: ExecutorRecord, timeoutMs: number, reason: TaskStatus_Reason): void {
    ex.transition(ExecutorPhase.REGISTERING, this.log);
    ex.registrationTimer = this.delay(timeoutMs, () => {
      ex.registrationTimer = undefined;
      if (ex.phase !== ExecutorPhase.REGISTERING) return;
      if (reason === TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT && this.awaitLateExecutor(ex, timeoutMs)) return;
      this.destroyUnsubscribed(ex, reason, `did not subscribe within ${timeoutMs} ms`);
    });
  }

  private destroyUnsubscribed(ex: ExecutorRecord, reason: TaskStatus_Reason, why: string): void {
    this.log.warn({ executorId: ex.id }, `Executor ${ex.id} ${why}; destroying it`);
    ex.failureReason = reason;
    ex.transition(ExecutorPhase.TERMINATING, this.log);
    this.destroyContainer(ex);
  }

  /**
   * A recovered executor missed the reregistration timeout. If its container still runs it is
   * late, not gone (on a busy machine a starved executor reconnects seconds after the agent
   * is back): it keeps trying until its recovery timeout, so the agent waits that long
   * (counted from the agent's recovery, so never shorter than the executor's own retries)
   * before destroying it. Returns false when it should be destroyed now.
   */
  private awaitLateExecutor(ex: ExecutorRecord, waitedMs: number): boolean {
    const rest = this.opts.executorRecoveryTimeoutMs - waitedMs;
    if (rest <= 0 || !this.opts.containerizer.containers().includes(ex.containerId)) return false;
    this.metrics.executorsLate.inc();
    this.log.warn(
      { executorId: ex.id, frameworkId: ex.frameworkId, waitedMs, restMs: rest },
      `Executor ${ex.id} has not subscribed again ${waitedMs} ms after the agent recovered, but its container still runs; waiting up to ${rest} ms more (its recovery timeout)`,
    );
    ex.registrationTimer = this.delay(rest, () => {
      ex.registrationTimer = undefined;
      if (ex.phase !== ExecutorPhase.REGISTERING) return;
      this.destroyUnsubscribed(ex, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT, `did not subscribe again within the recovery timeout (${this.opts.executorRecoveryTimeoutMs} ms)`);
    });
    return true;
  }

  /** Writes the executor's checkpoint (in order per executor). */
  private checkpoint(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    const cp: ExecutorCheckpoint = {
      framework: fw.info,
      executor: ex.info,
      kind: ex.kind,
      containerId: ex.containerId,
      sandbox: ex.sandbox,
      container: ex.container,
      tasks: [...ex.tasks.values()].map((t) => ({ task: t.info, role: t.role })),
    };
    this.persist(ex, () => writeExecutorCheckpoint(this.opts.workDir, cp), `checkpoint executor ${ex.id}`);
  }

  private persist(ex: ExecutorRecord, write: () => Promise<void>, what: string): void {
    const done = this.disk.track(ex.io.then(write));
    ex.io = done.catch(() => undefined);
    this.defer(done, () => undefined, (err) => this.log.error({ err }, `Failed to ${what}: ${(err as Error).message}`));
  }

  private launchFailed(fw: FrameworkOnAgent, ex: ExecutorRecord, err: unknown): void {
    this.metrics.containerLaunchErrors.inc();
    const message = `Failed to launch the container of executor ${ex.id}: ${(err as Error).message}`;
    this.log.error({ err, executorId: ex.id }, message);
    ex.transition(ExecutorPhase.TERMINATED, this.log);
    for (const t of ex.liveTasks()) this.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED, message);
    this.removeExecutor(fw, ex);
  }

  private flushQueue(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    if (!ex.link) return;
    for (const item of ex.queue) {
      const ids = "task" in item ? [item.task.taskId!.value] : item.group.tasks.map((t) => t.taskId!.value);
      // Secret variables get their values only in what the executor receives.
      let event;
      try {
        event =
          "task" in item
            ? create(ExecutorEventSchema, { kind: { case: "launch", value: { task: this.secrets.resolveTask(item.task) } } })
            : create(ExecutorEventSchema, { kind: { case: "launchGroup", value: { taskGroup: { ...item.group, tasks: item.group.tasks.map((t) => this.secrets.resolveTask(t)) } } } });
      } catch (err) {
        for (const id of ids) this.taskStatus(fw.id, ex.id, id, TaskState.FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED, (err as Error).message);
        continue;
      }
      for (const id of ids) {
        const rec = ex.tasks.get(id);
        if (rec) rec.launched = true;
      }
      ex.link.send(event);
      this.log.info({ frameworkId: fw.id, executorId: ex.id, tasks: ids }, `Sent ${ids.join(",")} to executor ${ex.id}`);
    }
    ex.queue = [];
  }

  // ---- killing -----------------------------------------------------------------------

  private killTask(fwId: string, taskId: string, killPolicy: TaskInfo["killPolicy"], from: Pid): void {
    if (!this.fromMaster(from, `kill of task ${taskId}`)) return;
    const fw = this.frameworks.get(fwId);
    if (!fw) {
      this.drop(`kill of task ${taskId}`, `framework ${fwId} has nothing on this agent`);
      return;
    }
    const ex = fw.executorOfTask(taskId);
    const task = ex?.tasks.get(taskId);
    if (!ex || !task) {
      this.drop(`kill of task ${taskId}`, `framework ${fwId} has no such task on this agent`);
      return;
    }
    if (isTerminal(task.state)) {
      this.drop(`kill of task ${taskId}`, `it is already ${taskStateName(task.state)}`);
      return;
    }
    task.killRequested = true;
    if (!task.launched) {
      this.unqueue(ex, taskId);
      this.taskStatus(fw.id, ex.id, taskId, TaskState.KILLED, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH, "Killed before it was sent to its executor");
      if (ex.liveTasks().length === 0) this.shutdownExecutor(ex, "it has no tasks left");
      return;
    }
    if (ex.kind === "docker") {
      this.killDockerTask(ex, taskId, killPolicy ?? task.info.killPolicy);
      return;
    }
    if (!ex.link) {
      this.shutdownExecutor(ex, `task ${taskId} must be killed and the executor is not connected`);
      return;
    }
    this.log.info({ frameworkId: fwId, taskId, graceSeconds: (killPolicy ?? task.info.killPolicy)?.gracePeriodSeconds }, `Asking executor ${ex.id} to kill task ${taskId}`);
    ex.link.send(create(ExecutorEventSchema, { kind: { case: "kill", value: { taskId: { value: taskId }, killPolicy: killPolicy ?? task.info.killPolicy } } }));
  }

  private unqueue(ex: ExecutorRecord, taskId: string): void {
    ex.queue = ex.queue.flatMap((item): QueuedLaunch[] => {
      if ("task" in item) return item.task.taskId?.value === taskId ? [] : [item];
      const tasks = item.group.tasks.filter((t) => t.taskId?.value !== taskId);
      return tasks.length === 0 ? [] : [{ group: { ...item.group, tasks } }];
    });
  }

  private shutdownFramework(fwId: string, from: Pid): void {
    if (!this.fromMaster(from, `shutdown of framework ${fwId}`)) return;
    const fw = this.frameworks.get(fwId);
    if (!fw) {
      this.drop(`shutdown of framework ${fwId}`, "it has nothing on this agent");
      return;
    }
    this.beginFrameworkShutdown(fw, "the master asked");
  }

  private beginFrameworkShutdown(fw: FrameworkOnAgent, why: string): void {
    this.log.info({ frameworkId: fw.id }, `Shutting down framework ${fw.id}: ${why}`);
    fw.terminating = true;
    for (const ex of fw.executors.values()) this.shutdownExecutor(ex, `framework ${fw.id} is shutting down`);
    if (fw.executors.size === 0) this.removeFramework(fw);
  }

  private shutdownExecutorMessage(fwId: string, exId: string, from: Pid): void {
    if (!this.fromMaster(from, `shutdown of executor ${exId}`)) return;
    const ex = this.frameworks.get(fwId)?.executors.get(exId);
    if (!ex) {
      this.drop(`shutdown of executor ${exId}`, `framework ${fwId} has no such executor here`);
      return;
    }
    this.shutdownExecutor(ex, "the master asked");
  }

  /** SHUTDOWN to the executor, then the container is destroyed after its grace period. */
  private shutdownExecutor(ex: ExecutorRecord, why: string): void {
    if (ex.phase === ExecutorPhase.TERMINATING || ex.phase === ExecutorPhase.TERMINATED) return;
    const wasLaunching = ex.phase === ExecutorPhase.LAUNCHING;
    ex.shuttingDown = true;
    ex.registrationTimer?.cancel();
    ex.transition(ExecutorPhase.TERMINATING, this.log);
    this.log.info({ executorId: ex.id, frameworkId: ex.frameworkId }, `Shutting down executor ${ex.id}: ${why}`);
    if (wasLaunching) return; // launched() destroys it once the container exists
    if (!ex.link) {
      this.destroyContainer(ex);
      return;
    }
    const graceSeconds = ex.info.shutdownGracePeriodSeconds ?? DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS;
    ex.link.send(create(ExecutorEventSchema, { kind: { case: "shutdown", value: { gracePeriodSeconds: graceSeconds } } }));
    ex.shutdownTimer = this.delay(graceSeconds * 1000, () => {
      ex.shutdownTimer = undefined;
      if (ex.phase === ExecutorPhase.TERMINATED) return;
      this.log.warn({ executorId: ex.id }, `Executor ${ex.id} still runs ${graceSeconds} s after SHUTDOWN; destroying its container`);
      this.destroyContainer(ex);
    });
  }

  private destroyContainer(ex: ExecutorRecord): void {
    this.defer(
      this.opts.containerizer.destroy(ex.containerId, 0),
      () => undefined,
      (err) => this.log.error({ err, containerId: ex.containerId }, `Failed to destroy container ${ex.containerId} of executor ${ex.id}`),
    );
  }

  private executorTerminated(fw: FrameworkOnAgent, ex: ExecutorRecord, t: Termination): void {
    if (ex.phase === ExecutorPhase.TERMINATED) return;
    ex.registrationTimer?.cancel();
    ex.shutdownTimer?.cancel();
    ex.transition(ExecutorPhase.TERMINATED, this.log);
    this.metrics.executorsTerminated.inc();
    ex.link?.close();
    ex.link = undefined;
    this.log.info({ executorId: ex.id, frameworkId: fw.id, termination: t }, `Executor ${ex.id} of framework ${fw.id} terminated: ${t.message}`);
    for (const task of ex.liveTasks()) {
      const killed = ex.shuttingDown || task.killRequested;
      if (ex.kind === "docker") {
        const outcome = dockerTaskOutcome(t, killed);
        this.taskStatus(fw.id, ex.id, task.info.taskId!.value, outcome.state, outcome.reason, outcome.message, outcome.exitCode);
        continue;
      }
      const reason =
        t.reason === "memory limit"
          ? TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY
          : t.reason === "launch failed"
            ? TaskStatus_Reason.CONTAINER_LAUNCH_FAILED
            : (ex.failureReason ?? TaskStatus_Reason.EXECUTOR_TERMINATED);
      this.taskStatus(fw.id, ex.id, task.info.taskId!.value, killed ? TaskState.KILLED : TaskState.FAILED, reason, `Executor terminated: ${t.message}`);
    }
    if (this.agentState === AgentPhase.RUNNING) {
      const status = shellExitStatus(t.exitCode, t.signal) ?? -1;
      this.send(this.masters.current, create(ExitedExecutorSchema, { agentId: { value: this.agentId }, frameworkId: { value: fw.id }, executorId: ex.info.executorId, status }));
    }
    this.removeExecutor(fw, ex);
  }

  private removeExecutor(fw: FrameworkOnAgent, ex: ExecutorRecord): void {
    // Tasks whose terminal update is not yet acknowledged stay reachable for the ack.
    if (ex.tasks.size === 0 && fw.executors.get(ex.id) === ex) {
      fw.executors.delete(ex.id);
      this.persist(ex, () => removeExecutorCheckpoint(this.opts.workDir, fw.id, ex.id), `remove the checkpoint of executor ${ex.id}`);
    }
    if (fw.terminating && [...fw.executors.values()].every((e) => e.phase === ExecutorPhase.TERMINATED)) this.removeFramework(fw);
  }

  private removeFramework(fw: FrameworkOnAgent): void {
    this.frameworks.delete(fw.id);
    for (const ex of fw.executors.values()) {
      this.persist(ex, () => removeExecutorCheckpoint(this.opts.workDir, fw.id, ex.id), `remove the checkpoint of executor ${ex.id}`);
    }
    this.log.info({ frameworkId: fw.id }, `Removed framework ${fw.id}`);
    void this.statusUpdates.cleanup(fw.id);
    if (this.agentState === AgentPhase.TERMINATING && this.frameworks.size === 0) this.terminate();
  }

  private shutdownAgent(message: string, from: Pid): void {
    if (!this.fromMaster(from, "shutdown")) return;
    this.log.warn({ message }, `The master asked this agent to shut down: ${message}`);
    this.masterLink.stop();
    this.transition(AgentPhase.TERMINATING);
    for (const fw of [...this.frameworks.values()]) this.beginFrameworkShutdown(fw, "the agent is shutting down");
    if (this.frameworks.size === 0) this.terminate();
  }

  private updateFramework(info: FrameworkInfo | undefined, from: Pid): void {
    if (!this.fromMaster(from, "framework update")) return;
    const fw = this.frameworks.get(info?.id?.value ?? "");
    if (!fw || !info) {
      this.drop("framework update", "the framework has nothing on this agent");
      return;
    }
    fw.info = info;
  }

  private frameworkMessage(fwId: string, exId: string, data: Uint8Array, from: Pid): void {
    if (!this.fromMaster(from, "framework message")) return;
    const ex = this.frameworks.get(fwId)?.executors.get(exId);
    if (!ex?.link) {
      this.metrics.invalidFrameworkMessages.inc();
      this.drop(`framework message for executor ${exId}`, "that executor is not connected");
      return;
    }
    this.metrics.validFrameworkMessages.inc();
    ex.link.send(create(ExecutorEventSchema, { kind: { case: "message", value: { data } } }));
  }

  // ---- status updates ----------------------------------------------------------------

  /** An update the agent itself produces (source AGENT), through the status update manager. */
  private taskStatus(fwId: string, exId: string | undefined, taskId: string, state: TaskState, reason: TaskStatus_Reason, message: string, exitCode?: number): void {
    const ex = exId ? this.frameworks.get(fwId)?.executors.get(exId) : undefined;
    const u = statusUpdate({ frameworkId: fwId, taskId, state, agentId: this.agentId, executorId: exId, reason, message, now: this.clock.now(), source: TaskStatus_Source.AGENT, uuid: this.random.uuidBytes() });
    if (u.status && ex) u.status.sandboxDirectory = ex.sandbox;
    if (u.status && exitCode !== undefined) u.status.exitCode = exitCode;
    this.log.info({ frameworkId: fwId, taskId, state: taskStateName(state), reason: TaskStatus_Reason[reason] }, `Task ${taskId} is ${taskStateName(state)}: ${message}`);
    const rec = ex?.tasks.get(taskId);
    if (rec) this.recordState(rec, state);
    this.defer(
      this.statusUpdates.update(u),
      () => undefined,
      (err) => this.log.error({ err, taskId }, `Status update ${taskStateName(state)} for task ${taskId} was not stored: ${(err as Error).message}`),
    );
  }

  private recordState(rec: TaskRecord, state: TaskState): void {
    if (isTerminal(state) && !isTerminal(rec.state)) this.metrics.taskEnded(state);
    rec.state = state;
  }

  /** Called (inside the agent) by the status update manager for every send and resend. */
  private forwardUpdate(u: StatusUpdate): void {
    if (this.agentState !== AgentPhase.RUNNING) return; // the manager resends on resume
    const rec = this.frameworks.get(u.frameworkId?.value ?? "")?.executorOfTask(u.status?.taskId?.value ?? "")?.tasks.get(u.status?.taskId?.value ?? "");
    if (rec) u.latestState = rec.state;
    this.send(this.masters.current, u);
  }

  private acknowledgement(fwId: string, taskId: string, uuid: Uint8Array, from: Pid): void {
    if (!this.fromMaster(from, `acknowledgement for task ${taskId}`)) return;
    this.defer(this.statusUpdates.acknowledge(fwId, taskId, uuid), (outcome) => {
      if (outcome !== AckOutcome.ACKNOWLEDGED) return;
      const fw = this.frameworks.get(fwId);
      const ex = fw?.executorOfTask(taskId);
      const rec = ex?.tasks.get(taskId);
      if (!fw || !ex || !rec) return;
      ex.link?.send(create(ExecutorEventSchema, { kind: { case: "acknowledged", value: { taskId: { value: taskId }, uuid } } }));
      if (isTerminal(rec.state)) {
        ex.tasks.delete(taskId);
        if (ex.phase === ExecutorPhase.TERMINATED) this.removeExecutor(fw, ex);
      }
    });
  }

  // ---- the executor API (called by the ExecutorService, runs inside the actor) --------

  subscribe(request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
    return this.afterRecovery("a subscription", (a) => a.executorSubscribed(request, link));
  }

  update(request: ExecutorServiceUpdateRequest): Promise<void> {
    return this.afterRecovery("a status update", (a) => a.executorUpdate(request));
  }

  message(request: ExecutorServiceMessageRequest): Promise<void> {
    return this.afterRecovery("a framework message", (a) => a.executorMessage(request));
  }

  /**
   * Runs an executor call inside the actor; while the agent recovers it is held until
   * recovery has decided which executors live (an executor reconnecting early is answered
   * then, not refused as unknown).
   */
  private afterRecovery<T>(what: string, fn: (a: Agent) => T | Promise<T>): Promise<T> {
    return this.system.dispatch(this, (a) => {
      if (a.agentState !== AgentPhase.RECOVERING) return fn(a);
      a.log.info(`Holding ${what} from an executor until the agent has recovered`);
      return new Promise<T>((resolve, reject) => {
        a.heldExecutorCalls.push({
          run: () => {
            try {
              Promise.resolve(fn(a)).then(resolve, reject);
            } catch (err) {
              reject(err as Error);
            }
          },
          fail: reject,
        });
      });
    });
  }

  disconnected(link: ExecutorLink): void {
    this.system.enqueueFunction(this, () => {
      for (const fw of this.frameworks.values()) {
        for (const ex of fw.executors.values()) {
          if (ex.link !== link) continue;
          ex.link = undefined;
          // An executor whose tasks all ended (or that was told to stop) disconnects as it exits: normal.
          const expected = ex.shuttingDown || ex.liveTasks().length === 0;
          this.log[expected ? "debug" : "warn"]({ executorId: ex.id, frameworkId: fw.id }, `Executor ${ex.id} of framework ${fw.id} disconnected`);
        }
      }
    });
  }

  private knownExecutor(fwId: string, exId: string, what: string): { fw: FrameworkOnAgent; ex: ExecutorRecord } {
    const fw = this.frameworks.get(fwId);
    const ex = fw?.executors.get(exId);
    if (!fw || !ex) {
      this.metrics.dropped.inc();
      throw new DcosError(Code.NOT_FOUND, `Cannot accept ${what}: executor '${exId}' of framework '${fwId}' is not known to this agent`);
    }
    return { fw, ex };
  }

  private executorSubscribed(request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
    const { fw, ex } = this.knownExecutor(request.frameworkId?.value ?? "", request.executorId?.value ?? "", "a subscription");
    if (ex.phase === ExecutorPhase.TERMINATING || ex.phase === ExecutorPhase.TERMINATED || ex.phase === ExecutorPhase.LAUNCHING) {
      this.metrics.dropped.inc();
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot subscribe executor '${ex.id}': it is ${ex.phase}`);
    }
    if (ex.link && ex.link !== link) {
      this.log.info({ executorId: ex.id }, `Executor ${ex.id} subscribed again; closing its previous stream`);
      ex.link.close();
    }
    ex.link = link;
    if (ex.phase === ExecutorPhase.REGISTERING) {
      ex.registrationTimer?.cancel();
      ex.registrationTimer = undefined;
      ex.transition(ExecutorPhase.RUNNING, this.log);
    }
    link.send(
      create(ExecutorEventSchema, {
        kind: {
          case: "subscribed",
          value: { executorInfo: ex.info, frameworkInfo: fw.info, agentInfo: this.info, containerId: { value: ex.containerId } },
        },
      }),
    );
    const resent = request.unacknowledgedUpdates.map((u) => this.executorUpdate(u).catch((err: unknown) => this.log.warn({ err }, "A resent update was refused")));
    if (ex.recovered) this.dropUndelivered(fw, ex, request);
    this.flushQueue(fw, ex);
    return Promise.all(resent).then(() => undefined);
  }

  /**
   * After an agent restart: a task the agent never heard about from its executor, which
   * the executor does not list either, was not delivered before the crash. It is LOST (as
   * in Mesos), not launched again behind the scheduler's back.
   */
  private dropUndelivered(fw: FrameworkOnAgent, ex: ExecutorRecord, request: ExecutorServiceSubscribeRequest): void {
    const known = new Set(request.unacknowledgedTasks.map((t) => t.taskId?.value ?? ""));
    for (const t of ex.liveTasks()) {
      const id = t.info.taskId!.value;
      if (t.state !== TaskState.STAGING || known.has(id)) continue;
      this.taskStatus(fw.id, ex.id, id, TaskState.LOST, TaskStatus_Reason.AGENT_RESTARTED, "The task was not delivered to its executor before the agent restarted");
    }
  }

  private executorUpdate(request: ExecutorServiceUpdateRequest): Promise<void> {
    const fwId = request.frameworkId?.value ?? "";
    const { ex } = this.knownExecutor(fwId, request.executorId?.value ?? "", "a status update");
    const status = request.status;
    const taskId = status?.taskId?.value ?? "";
    const refuse = (why: string): never => {
      this.metrics.invalidStatusUpdates.inc();
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid status update from executor '${ex.id}': ${why}`);
    };
    if (!status) return refuse("it has no status");
    if (status.uuid.length === 0) return refuse(`the status of task '${taskId}' has no uuid`);
    if (!EXECUTOR_STATES.has(status.state)) return refuse(`an executor cannot report ${taskStateName(status.state)}`);
    const rec = ex.tasks.get(taskId);
    if (!rec) {
      this.metrics.invalidStatusUpdates.inc();
      throw new DcosError(Code.NOT_FOUND, `Invalid status update from executor '${ex.id}': task '${taskId}' is not known to it`);
    }
    this.metrics.validStatusUpdates.inc();
    status.source = TaskStatus_Source.EXECUTOR;
    status.agentId = create(AgentIDSchema, { value: this.agentId });
    status.executorId = ex.info.executorId;
    status.sandboxDirectory = ex.sandbox;
    if (!status.timestamp) status.timestamp = this.clock.now() / 1000;
    this.recordState(rec, status.state);
    this.log.info({ frameworkId: fwId, taskId, state: taskStateName(status.state) }, `Task ${taskId} is ${taskStateName(status.state)} (from executor ${ex.id})`);
    return this.statusUpdates.update(wrapStatus(status, fwId, this.agentId, ex.id)).then(() => undefined);
  }

  private executorMessage(request: ExecutorServiceMessageRequest): void {
    const fwId = request.frameworkId?.value ?? "";
    const { ex } = this.knownExecutor(fwId, request.executorId?.value ?? "", "a framework message");
    if (this.agentState !== AgentPhase.RUNNING) {
      this.metrics.invalidFrameworkMessages.inc();
      throw new DcosError(Code.UNAVAILABLE, "Cannot pass the message on: the agent is not connected to a master");
    }
    this.metrics.validFrameworkMessages.inc();
    this.send(
      this.masters.current,
      create(FrameworkMessageSchema, { frameworkId: { value: fwId }, executorId: ex.info.executorId, agentId: { value: this.agentId }, data: request.data }),
    );
  }

  /** For tests and the operator: the executor record of a task. */
  executorOf(fwId: string, taskId: string): ExecutorRecord | undefined {
    return this.frameworks.get(fwId)?.executorOfTask(taskId);
  }
}

