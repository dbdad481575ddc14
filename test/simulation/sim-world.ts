/**
 * The fault-tolerance SimCluster (sim-cluster.ts: replicated masters,
 * SimNetwork, ManualClock) with what recovery and partition scenarios need on top:
 * agents that crash and restart as new Agent actors on the same checkpoint directory
 * while their containers keep running, tasks that end, coarse time steps for long
 * timeouts, and schedulers that keep every update they ever received across
 * resubscriptions.
 *
 * By default agents run command tasks themselves (`commandExecutor: "agent"`) on a
 * ScriptedHost per host (test/support/scripted-containers.ts): a restarted agent gets a new
 * containerizer that recovers the host's containers, and a task's command runs per its
 * script (`SimWorld.scripts`). With `commandExecutor: "process"` each host has one
 * FakeContainerizer and every task runs in a fake executor that speaks the protocol.
 */
import { create } from "@bufbuild/protobuf";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ExecutorServiceUpdateRequestSchema } from "../../src/gen/dcos/v1/executor_pb.js";
import { file_dcos_v1_internal } from "../../src/gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_raft } from "../../src/gen/dcos/v1/raft_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcknowledgeRequestSchema, KillRequestSchema, ReconcileRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatusSchema, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Agent } from "../../src/actors/agent/agent.js";
import { AGENT_DEFAULTS, type AgentOptions } from "../../src/actors/agent/agent-options.js";
import { EXECUTOR_ENV } from "../../src/protocol/executor-environment.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { asDcosError, Code } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { TypeRegistry } from "../../src/runtime/types.js";
import { SimCluster, SimScheduler, containerTask, simDir, type SimAgent, type SimContainers, type SimMaster } from "./sim-cluster.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { ScriptedHost, type CommandScript } from "../support/scripted-containers.js";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import type { RecordingSink } from "../master/harness.js";

export interface WorldOptions {
  masters?: number;
  agents?: number;
  /** Agent flags on top of the simulation's (e.g. a longer registration backoff). */
  agent?: Partial<AgentOptions>;
  /** How agents run command tasks: themselves (default, on scripted containers) or in fake executors ("process"). */
  commandExecutor?: CommandExecutorMode;
}

/** A host running an agent (or not, while crashed); its containers outlive the agent. */
export interface AgentHost {
  address: string;
  dir: string;
  /** Its containers: a ScriptedHost (default mode) or a FakeContainerizer ("process" mode). */
  containerizer: SimContainers;
  /** The running agent, undefined while crashed. */
  node: SimAgent | undefined;
  restarts: number;
}

export class SimWorld {
  readonly hosts = new Map<string, AgentHost>();
  readonly frameworks: SimFramework[] = [];
  /** The script of a task's command (by task id) in the default mode; a task without one runs until it is ended or killed. */
  readonly scripts = new Map<string, CommandScript>();

  private constructor(
    readonly c: SimCluster,
    private readonly dir: string,
    private readonly agentOptions: Partial<AgentOptions>,
  ) {}

  static async start(seed: number, options: WorldOptions = {}): Promise<SimWorld> {
    const mode = options.commandExecutor ?? "agent";
    const c = await SimCluster.start(seed, { masters: options.masters ?? 1, agents: 0, commandExecutor: mode });
    const w = new SimWorld(c, await simDir("dcos-sim-"), options.agent ?? {});
    for (let i = 1; i <= (options.agents ?? 2); i++) {
      const address = `a${i}:5051`;
      let containerizer: SimContainers = new FakeContainerizer();
      if (mode === "agent") {
        const host = new ScriptedHost(c.clock);
        host.script = (config) => w.scripts.get(containerTask(config)) ?? {};
        // The warm launcher waits for its agent as long as the agent's executors would.
        host.recoveryTimeoutMs = options.agent?.executorRecoveryTimeoutMs ?? AGENT_DEFAULTS.executorRecoveryTimeoutMs;
        containerizer = host;
      }
      w.hosts.set(address, { address, dir: join(w.dir, `a${i}`), containerizer, node: undefined, restarts: 0 });
      await w.startAgent(address);
    }
    return w;
  }

  get seed(): number {
    return this.c.seed;
  }

  /** Agents run command tasks themselves (the default), not in executors. */
  get direct(): boolean {
    return this.c.commandExecutor === "agent";
  }

  host(address: string): AgentHost {
    const h = this.hosts.get(address);
    if (!h) throw new Error(`No agent host ${address}`);
    return h;
  }

  /**
   * Starts the host's agent on its work dir (a restart recovers from the checkpoints there).
   * `earlyExecutors`: the live containers' executors reconnect at once, while the agent is
   * still recovering (as on a busy machine, where recovery takes seconds); otherwise they
   * reconnect at the next step, after recovery.
   */
  async startAgent(address: string, earlyExecutors = false): Promise<SimAgent> {
    const h = this.host(address);
    if (h.node) throw new Error(`Agent ${address} is already running`);
    const types = new TypeRegistry().addFile(file_dcos_v1_internal).addFile(file_dcos_v1_raft);
    const system = new ActorSystem({ clock: this.c.clock, transport: this.c.net.transport(address), logger: testLogger(), types });
    await system.start();
    const masters = this.c.addresses.map((a) => new Pid("master", a));
    const containers = h.containerizer;
    const agent = system.spawn(
      new Agent({
        master: masters[0]!,
        masters,
        workDir: h.dir,
        // A new agent process: a new containerizer, which recovers what runs on the host.
        containerizer: containers instanceof ScriptedHost ? containers.containerizer() : containers,
        executorEndpoint: "127.0.0.1:1",
        hostFacts: { cpus: 4, memBytes: 8 * 1024 ** 3, diskBytes: 100 * 1024 ** 3 },
        hostname: address.split(":")[0]!,
        random: this.c.random.fork(),
        bootId: async () => "sim-boot",
        commandExecutor: this.c.commandExecutor,
        ...this.agentOptions,
      }),
    );
    // Containers that already ended have no executor to reconnect; the live ones do (SimCluster subscribes them).
    const ended = h.containerizer.launched.map((l) => l.id).filter((id) => !h.containerizer.containers().includes(id));
    const node: SimAgent = { address, system, agent, containerizer: h.containerizer, subscribed: new Set(ended), executors: !this.direct };
    h.node = node;
    this.c.agents.push(node);
    if (earlyExecutors) this.c.runExecutors();
    return node;
  }

  /** kill -9 of the agent process: its node is gone at once, its containers keep running. */
  async crashAgent(address: string): Promise<void> {
    const h = this.host(address);
    const node = h.node;
    if (!node) return;
    h.node = undefined;
    this.c.agents.splice(this.c.agents.indexOf(node), 1);
    this.c.net.crash(address);
    if (h.containerizer instanceof ScriptedHost) h.containerizer.agentCrashed();
    await node.system.stop();
  }

  async restartAgent(address: string, earlyExecutors = false): Promise<SimAgent> {
    await this.crashAgent(address);
    this.host(address).restarts++;
    return this.startAgent(address, earlyExecutors);
  }

  /**
   * kill -9 and restart of an agent whose executors are starved (a busy machine): their
   * containers keep running, but they reconnect only `lateMs` after the restart, past the
   * agent's executor reregistration timeout when `lateMs` is longer than it.
   */
  async restartAgentWithLateExecutors(address: string, lateMs: number): Promise<SimAgent> {
    await this.crashAgent(address);
    this.host(address).restarts++;
    const node = await this.startAgent(address);
    const late = node.containerizer.containers().filter((id) => !node.subscribed.has(id));
    for (const id of late) node.subscribed.add(id);
    this.c.clock.setTimer(lateMs, () => {
      for (const id of late) node.subscribed.delete(id);
    });
    return node;
  }

  /** Where task `taskId` runs: its host and container id (a command task's executor id is its task id). */
  container(taskId: string): { host: AgentHost; id: string } | undefined {
    for (const host of this.hosts.values()) {
      const c = host.containerizer.launched.find((l) => containerTask(l) === taskId);
      if (c) return { host, id: c.id };
    }
    return undefined;
  }

  /** Every container launch, counted per task id. */
  launchesPerTask(): Map<string, number> {
    const out = new Map<string, number>();
    for (const host of this.hosts.values()) {
      for (const l of host.containerizer.launched) {
        const id = containerTask(l);
        out.set(id, (out.get(id) ?? 0) + 1);
      }
    }
    return out;
  }

  /** Tasks whose command started: its container launched (in the default mode, past the launch's "go"). */
  startedTasks(): Set<string> {
    const out = new Set<string>();
    for (const host of this.hosts.values()) {
      const containers = host.containerizer;
      for (const l of containers.launched) if (!(containers instanceof ScriptedHost) || containers.started.has(l.id)) out.add(containerTask(l));
    }
    return out;
  }

  /** Tasks whose container still runs. */
  liveTasks(): Set<string> {
    const out = new Set<string>();
    for (const host of this.hosts.values()) {
      const live = new Set(host.containerizer.containers());
      for (const l of host.containerizer.launched) if (live.has(l.id)) out.add(containerTask(l));
    }
    return out;
  }

  /**
   * The task's command ends: FINISHED exits 0, anything else 1. In the default mode that is
   * all (the agent sees its container end, or learns it from the recorded status after a
   * restart); in the "process" mode the task's executor first reports `state` (through its
   * running agent, if any) and its container then exits, as a command executor does.
   */
  async endTask(taskId: string, state = TaskState.FINISHED): Promise<void> {
    const where = this.container(taskId);
    if (!where) throw new Error(`Task ${taskId} was never launched`);
    if (this.direct) {
      where.host.containerizer.exit(where.id, state === TaskState.FINISHED ? 0 : 1);
      return;
    }
    const node = where.host.node;
    const frameworkId = where.host.containerizer.launched.find((l) => l.id === where.id)?.env?.[EXECUTOR_ENV.frameworkId] ?? "";
    if (node) {
      const status = create(TaskStatusSchema, { taskId: { value: taskId }, state, uuid: this.c.random.uuidBytes() });
      const sent = this.c.pending(node.agent.update(create(ExecutorServiceUpdateRequestSchema, { frameworkId: { value: frameworkId }, executorId: { value: taskId }, status })));
      await this.c.until(() => sent.done, `the executor's ${TaskState[state]} for ${taskId} reaches the agent`, 5_000);
    }
    where.host.containerizer.exit(where.id, state === TaskState.FINISHED ? 0 : 1);
  }

  /** Moves clock time by `ms` in steps of `stepMs` (coarse steps for long timeouts). */
  async run(ms: number, stepMs = 100): Promise<void> {
    const end = this.c.clock.now() + ms;
    while (this.c.clock.now() < end) await this.c.step(Math.min(stepMs, end - this.c.clock.now()));
  }

  /** Steps (of `stepMs`) until pred holds, or fails naming what was awaited and the seed. */
  async until(pred: () => boolean, what: string, withinMs = 30_000, stepMs = 100): Promise<void> {
    const deadline = this.c.clock.now() + withinMs;
    while (!pred()) {
      if (this.c.clock.now() >= deadline) throw new Error(`Not within ${withinMs} ms of clock time: ${what} (seed ${this.seed})`);
      await this.c.step(stepMs);
    }
  }

  /** Waits for the leader and for `agents` agents active at it. */
  async ready(agents = this.hosts.size): Promise<SimMaster> {
    const leader = await this.c.waitForLeader();
    await this.until(() => this.c.activeAgents(leader) === agents, `${agents} agent(s) registered`);
    return leader;
  }

  leader(): SimMaster | undefined {
    const l = this.c.leading();
    return l.length === 1 ? l[0] : undefined;
  }

  framework(name: string, failoverTimeoutSeconds = 3600, partitionAware = false): SimFramework {
    const f = new SimFramework(this, new SimScheduler(this.c, name, failoverTimeoutSeconds, partitionAware));
    this.frameworks.push(f);
    return f;
  }

  async stop(): Promise<void> {
    await this.c.stop();
    await rm(this.dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
  }
}

/**
 * A scheduler whose history spans its subscriptions; it acknowledges every update it
 * receives, as the scheduler driver does: a resent one again (its agent resends an update
 * until the acknowledgement reaches it, and an acknowledgement can be lost on the way).
 */
export class SimFramework {
  private readonly sinks: RecordingSink[] = [];
  /** Per subscription, how many of its updates were acknowledged (or need no acknowledgement). */
  private readonly ackedUpTo = new Map<RecordingSink, number>();
  private readonly usedOffers = new Set<string>();
  private nextTask = 1;

  constructor(
    private readonly w: SimWorld,
    readonly s: SimScheduler,
  ) {}

  get name(): string {
    return this.s.name;
  }

  get subscribed(): boolean {
    return this.s.master !== undefined && !this.s.sink.closed && this.s.master.group.master.leading;
  }

  async subscribe(within = 30_000): Promise<void> {
    await this.s.subscribe(within);
    if (!this.sinks.includes(this.s.sink)) this.sinks.push(this.s.sink);
  }

  /** The scheduler process goes away: its stream closes (the master starts its failover timeout). */
  async disconnect(): Promise<void> {
    const m = this.s.master;
    if (!m) return;
    this.s.master = undefined;
    const closed = this.w.c.pending(m.facade.streamClosed(this.s.frameworkId, this.s.streamId));
    await this.w.c.until(() => closed.done, `${this.name}'s stream closed`, 5_000);
  }

  /** Every update received on every subscription, in order. */
  updates(): TaskStatus[] {
    return this.sinks.flatMap((s) => s.updates());
  }

  /** The latest state each task was reported in. */
  states(): Map<string, TaskState> {
    const out = new Map<string, TaskState>();
    for (const u of this.updates()) out.set(u.taskId!.value, u.state);
    return out;
  }

  /** Tasks reported in a terminal state at least once. */
  terminal(): Set<string> {
    return new Set(this.updates().filter((u) => isTerminal(u.state)).map((u) => u.taskId!.value));
  }

  /**
   * Launches a new task on an unused offer of the current subscription; its id, or undefined
   * without one. `beforeLaunch` gets the task's id before the master hears of it (e.g. to set
   * its script); `killGraceSeconds` is its kill policy's grace (default: none given, 3 s).
   */
  async launch(beforeLaunch?: (taskId: string) => void, killGraceSeconds?: number): Promise<string | undefined> {
    if (!this.subscribed) return undefined;
    const offer: Offer | undefined = this.s.sink.offers().find((o) => !this.usedOffers.has(o.id!.value) && !this.rescinded(o.id!.value));
    if (!offer) return undefined;
    this.usedOffers.add(offer.id!.value);
    const taskId = `${this.name}-t${this.nextTask++}`;
    beforeLaunch?.(taskId);
    const done = this.w.c.pending(this.s.accept(offer, taskId, "cpus:0.5;mem:64", killGraceSeconds));
    await this.w.c.until(() => done.done, `${this.name} accepting an offer`, 5_000);
    return done.error === undefined ? taskId : undefined;
  }

  private rescinded(offerId: string): boolean {
    return this.s.sink.of("rescind").some((r) => r.offerId?.value === offerId);
  }

  /**
   * Acknowledges each update received since the last call, in order. An error that may pass
   * (a deposed master, no leader) stops here and leaves the rest to a retry; one that says
   * the acknowledgement matches no pending update (a stale copy, one acknowledged already) is final.
   */
  async acknowledge(): Promise<void> {
    if (!this.subscribed) return;
    const sink = this.s.sink;
    const updates = sink.updates();
    for (let i = this.ackedUpTo.get(sink) ?? 0; i < updates.length; i++) {
      const u = updates[i]!;
      if (u.uuid.length > 0) {
        const m = this.s.master!;
        const ack = this.w.c.pending(
          m.facade.acknowledge(create(AcknowledgeRequestSchema, { frameworkId: { value: this.s.frameworkId }, streamId: this.s.streamId, agentId: u.agentId, taskId: u.taskId, uuid: u.uuid })),
        );
        await this.w.c.until(() => ack.done, `${this.name} acknowledging`, 5_000);
        if (ack.error !== undefined && asDcosError(ack.error).code !== Code.NOT_FOUND) return;
      }
      this.ackedUpTo.set(sink, i + 1);
    }
  }

  /** Waits for an offer, launches a task on it (its command per `script`, in the default mode), waits until it is RUNNING here and acknowledges. */
  async launchRunning(script?: CommandScript, killGraceSeconds?: number): Promise<string> {
    await this.w.until(() => this.s.sink.offers().some((o) => !this.usedOffers.has(o.id!.value)), `an offer for ${this.name}`);
    const taskId = await this.launch(script && ((id) => this.w.scripts.set(id, script)), killGraceSeconds);
    if (!taskId) throw new Error(`${this.name} could not launch a task (seed ${this.w.seed})`);
    // Acknowledging as it goes: a task the agent runs itself reports STARTING first, and RUNNING only once that is acknowledged.
    const deadline = this.w.c.clock.now() + 30_000;
    while (this.states().get(taskId) !== TaskState.RUNNING) {
      if (this.w.c.clock.now() >= deadline) throw new Error(`Not within 30000 ms of clock time: ${taskId} RUNNING at ${this.name} (seed ${this.w.seed})`);
      await this.acknowledge();
      await this.w.c.step(100);
    }
    await this.acknowledge();
    return taskId;
  }

  /** Asks the master to kill the task, with a grace of `graceSeconds` (else the task's kill policy); false when the master refused. */
  async kill(taskId: string, graceSeconds?: number): Promise<boolean> {
    if (!this.subscribed) return false;
    const agentId = this.updates().find((u) => u.taskId?.value === taskId)?.agentId;
    const request = create(KillRequestSchema, {
      frameworkId: { value: this.s.frameworkId },
      streamId: this.s.streamId,
      taskId: { value: taskId },
      agentId,
      killPolicy: graceSeconds === undefined ? undefined : { gracePeriodSeconds: graceSeconds },
    });
    const done = this.w.c.pending(this.s.master!.facade.kill(request));
    await this.w.c.until(() => done.done, `${this.name} killing ${taskId}`, 5_000);
    return done.error === undefined;
  }

  /** Implicit reconciliation, or explicit for `taskIds` (each with the agent it was last reported on). */
  async reconcile(taskIds: readonly string[] = []): Promise<void> {
    if (!this.subscribed) return;
    const agentOf = new Map(this.updates().map((u) => [u.taskId!.value, u.agentId]));
    const tasks = taskIds.map((id) => ({ taskId: { value: id }, agentId: agentOf.get(id) }));
    const request = create(ReconcileRequestSchema, { frameworkId: { value: this.s.frameworkId }, streamId: this.s.streamId, tasks });
    const done = this.w.c.pending(this.s.master!.facade.reconcile(request));
    await this.w.c.until(() => done.done, `${this.name} reconciling`, 5_000);
  }
}
