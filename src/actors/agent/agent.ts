/**
 * The agent actor (Mesos's Slave), kept thin: it wires the master's messages and the
 * executor API to the feature files, which work on the AgentContext (agent-context.ts:
 * the agent's state and shared operations).
 *
 * - recovery.ts (+ recovery-plan.ts): checkpoints and containers → records, then registration
 * - registration.ts (+ reregistration.ts, master-link.ts, master-detector.ts): the master connection
 * - launch.ts: RunTask / RunTaskGroup → executor → container → tasks sent to the executor
 * - shutdown.ts: kill, executor / framework / agent shutdown, an executor's end
 * - status-relay.ts: status updates to the master, acknowledgements back
 * - executor-calls.ts: subscribe / update / message / disconnect from executors
 * - task-reconciliation.ts, master-messages.ts: the master's other messages
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { ExecutorServiceMessageRequest, ExecutorServiceSubscribeRequest, ExecutorServiceUpdateRequest } from "../../gen/dcos/v1/executor_pb.js";
import {
  AgentPingSchema,
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  CheckpointResourcesSchema,
  FrameworkMessageSchema,
  KillTaskSchema,
  LeadingMasterSchema,
  ReconcileAgentTasksSchema,
  RunTaskGroupSchema,
  RunTaskSchema,
  ShutdownAgentSchema,
  ShutdownExecutorSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  UpdateFrameworkSchema,
} from "../../gen/dcos/v1/internal_pb.js";
import { Actor } from "../../runtime/actor.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { Pid } from "../../runtime/pid.js";
import { Random } from "../../runtime/random.js";
import { AgentContext, AgentPhase, type AgentHost, type ResolvedAgentOptions } from "./agent-context.js";
import { AgentMetrics } from "./agent-metrics.js";
import { AGENT_DEFAULTS, type AgentOptions } from "./agent-options.js";
import type { ExecutorRecord, FrameworkOnAgent } from "./agent-records.js";
import { executorDisconnected, executorMessage, executorSubscribed, executorUpdate } from "./executor-calls.js";
import type { ExecutorApi, ExecutorLink } from "./executor-link.js";
import { runTask, runTaskGroup } from "./launch.js";
import { MasterDetector } from "./master-detector.js";
import { MasterLink } from "./master-link.js";
import { checkpointResources, frameworkMessage, updateFramework } from "./master-messages.js";
import { startRecovery } from "./recovery.js";
import { attemptRegistration, leadingMaster, masterLost, ping, registered } from "./registration.js";
import { SecretResolver } from "./secrets.js";
import { killTask, shutdownAgent, shutdownExecutorMessage, shutdownFramework } from "./shutdown.js";
import { StatusUpdateManager } from "./status-update-manager.js";
import { acknowledgement, forwardUpdate } from "./status-relay.js";
import { reconcileTasks } from "./task-reconciliation.js";
import { statusUpdatesDir } from "./paths.js";

export { AgentPhase } from "./agent-context.js";

export class Agent extends Actor implements ExecutorApi {
  private readonly a: AgentContext;

  constructor(options: AgentOptions) {
    super(options.name ?? AGENT_DEFAULTS.name);
    const opts = { ...AGENT_DEFAULTS, ...options } as ResolvedAgentOptions;
    const masters = new MasterDetector(options.masters?.length ? options.masters : [options.master]);
    this.a = new AgentContext(opts, this.host(), masters, options.secrets ?? SecretResolver.generate());
    const a = this.a;
    this.install(AgentRegisteredSchema, (m, from) => registered(a, m.agentId?.value ?? "", m.pingIntervalSeconds, from, []));
    this.install(AgentReregisteredSchema, (m, from) =>
      registered(a, m.agentId?.value ?? "", m.pingIntervalSeconds, from, m.unknownFrameworks.map((f) => f.value)),
    );
    this.install(AgentPingSchema, (m, from) => ping(a, m.connected, Number(m.term), from));
    this.install(LeadingMasterSchema, (m, from) => leadingMaster(a, m.pid, Number(m.term), from, m.reregisterWithinMs, m.retryAfterMs));
    this.install(RunTaskSchema, (m, from) => runTask(a, m.frameworkInfo, m.task, m.role, from));
    this.install(RunTaskGroupSchema, (m, from) => runTaskGroup(a, m.frameworkInfo, m.executorInfo, m.taskGroup?.tasks ?? [], m.role, from));
    this.install(ReconcileAgentTasksSchema, (m, from) => reconcileTasks(a, m.frameworkId?.value ?? "", m.taskIds.map((t) => t.value), m.unknownState, from));
    this.install(KillTaskSchema, (m, from) => killTask(a, m.frameworkId?.value ?? "", m.taskId?.value ?? "", m.killPolicy, from));
    this.install(StatusUpdateAcknowledgementSchema, (m, from) => acknowledgement(a, m.frameworkId?.value ?? "", m.taskId?.value ?? "", m.uuid, from));
    this.install(ShutdownFrameworkSchema, (m, from) => shutdownFramework(a, m.frameworkId?.value ?? "", from));
    this.install(ShutdownExecutorSchema, (m, from) => shutdownExecutorMessage(a, m.frameworkId?.value ?? "", m.executorId?.value ?? "", from));
    this.install(ShutdownAgentSchema, (m, from) => shutdownAgent(a, m.message, from));
    this.install(UpdateFrameworkSchema, (m, from) => updateFramework(a, m.frameworkInfo, from));
    this.install(FrameworkMessageSchema, (m, from) => frameworkMessage(a, m.frameworkId?.value ?? "", m.executorId?.value ?? "", m.data, from));
    this.install(CheckpointResourcesSchema, (m, from) => checkpointResources(a, m.resources, from));
  }

  /** What the feature files may do as this actor. */
  private host(): AgentHost {
    const actor = this;
    return {
      get self() {
        return actor.self;
      },
      get log() {
        return actor.log;
      },
      get clock() {
        return actor.clock;
      },
      get sender() {
        return actor.sender;
      },
      send: (to, message) => this.send(to, message),
      delay: (ms, fn) => this.delay(ms, fn),
      defer: (p, ok, err) => this.defer(p, ok, err),
      enqueue: (fn) => this.system.enqueueFunction(this, fn),
      link: (pid) => this.link(pid),
      terminate: () => this.terminate(),
    };
  }

  /** The agent's phase (RECOVERING → DISCONNECTED ⇄ RUNNING → TERMINATING). */
  get agentState(): AgentPhase {
    return this.a.phase;
  }

  /** The id the master gave this agent ("" before its first registration). */
  get agentId(): string {
    return this.a.agentId;
  }

  /** Launches in the launch lane and containers' ends waiting behind them (launch-lane.ts). */
  get launchLane(): { launches: number; ends: number } {
    return { launches: this.a.lane.launches, ends: this.a.lane.ends };
  }

  // ---- lifecycle ---------------------------------------------------------------------

  override initialize(): void {
    const a = this.a;
    a.startedAt = this.clock.now();
    a.disk.attach(this.clock);
    a.random = a.opts.random ?? new Random(Math.floor(this.clock.now()) % 2 ** 31);
    a.masterLink = new MasterLink(
      {
        delay: (ms, fn) => this.delay(ms, fn),
        random: a.random,
        attempt: () => attemptRegistration(a),
        lost: (silentMs) => {
          if (a.phase !== AgentPhase.RUNNING) return;
          this.log.warn({ silentMs }, `No ping from master ${a.masters.current.toString()} for ${silentMs} ms; looking for it again`);
          masterLost(a);
        },
      },
      {
        backoffMs: a.opts.registrationBackoffMs,
        maxBackoffMs: a.opts.maxRegistrationBackoffMs,
        maxMissedPings: a.opts.maxMissedPings,
        defaultPingIntervalSeconds: AGENT_DEFAULTS.pingIntervalSeconds,
      },
    );
    a.metrics = new AgentMetrics(this.system.metrics, {
      registered: () => a.phase === AgentPhase.RUNNING,
      startedAt: a.startedAt,
      now: () => this.clock.now(),
      frameworks: () => a.frameworks.values(),
      total: () => a.info.resources,
      recoveryMs: () => a.recoveryMs,
    });
    a.statusUpdates = this.system.spawn(
      new StatusUpdateManager({
        name: `${this.name}-status-updates`,
        dir: statusUpdatesDir(a.opts.workDir),
        ...(a.opts.statusUpdateLog === undefined ? {} : { log: a.opts.statusUpdateLog }),
        ...(a.opts.statusUpdateCompactMinBytes === undefined ? {} : { compactMinBytes: a.opts.statusUpdateCompactMinBytes }),
        metrics: this.system.metrics,
        forward: (u) => this.system.enqueueFunction(this, () => forwardUpdate(a, u)),
        initialRetryMs: a.opts.statusUpdateRetryMs,
        maxRetryMs: a.opts.statusUpdateMaxRetryMs,
        paused: true,
        disk: a.disk,
        random: a.random,
        fs: a.fs,
      }),
    );
    startRecovery(a);
  }

  override finalize(): void {
    const a = this.a;
    for (const call of a.heldExecutorCalls.splice(0)) call.fail(new DcosError(Code.UNAVAILABLE, "The agent stopped before it recovered; retry"));
    // The health checks the agent runs for its own command tasks stop with it (their timers
    // would keep the process alive after SIGTERM); a restarted agent starts them again.
    for (const fw of a.frameworks.values()) for (const ex of fw.executors.values()) ex.health?.stop();
    a.disk.detach();
    if (a.statusUpdates?.running) this.system.terminate(a.statusUpdates);
  }

  override exited(pid: Pid): void {
    const a = this.a;
    if (!pid.equals(a.masters.current)) return;
    if (a.phase !== AgentPhase.RUNNING) return;
    this.log.warn({ master: pid.toString() }, `Connection to master ${pid.toString()} broke; looking for it again`);
    masterLost(a);
  }

  // ---- read-only views (inside the actor) --------------------------------------------

  /** The agent's info as registered (resources, attributes, id). */
  agentInfo(): AgentInfo {
    return this.a.info;
  }

  /** The frameworks, executors and tasks this agent runs, read-only (read inside the actor, e.g. for /state). */
  frameworksView(): ReadonlyMap<string, Readonly<FrameworkOnAgent>> {
    return this.a.frameworks;
  }

  /** For tests and the operator: the executor record of a task. */
  executorOf(fwId: string, taskId: string): ExecutorRecord | undefined {
    return this.a.frameworks.get(fwId)?.executorOfTask(taskId);
  }

  // ---- the executor API (called by the ExecutorService; runs inside the actor) --------

  subscribe(request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
    return this.afterRecovery("a subscription", (a) => executorSubscribed(a, request, link));
  }

  update(request: ExecutorServiceUpdateRequest): Promise<void> {
    return this.afterRecovery("a status update", (a) => executorUpdate(a, request));
  }

  message(request: ExecutorServiceMessageRequest): Promise<void> {
    return this.afterRecovery("a framework message", (a) => executorMessage(a, request));
  }

  disconnected(link: ExecutorLink): void {
    this.system.enqueueFunction(this, () => executorDisconnected(this.a, link));
  }

  /**
   * Runs an executor call inside the actor; while the agent recovers it is held until
   * recovery has decided which executors live (an executor reconnecting early is answered
   * then, not refused as unknown).
   */
  private afterRecovery<T>(what: string, fn: (a: AgentContext) => T | Promise<T>): Promise<T> {
    return this.system.dispatch(this, (agent) => {
      const a = agent.a;
      if (a.phase !== AgentPhase.RECOVERING) return fn(a);
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
}
