/**
 * Replicated masters, real agents and schedulers on a SimNetwork with a ManualClock: three
 * (or five) master nodes each running startMasterGroup (raft on a crash-modelling file
 * system, standby master, leadership), agents and schedulers driven through the masters'
 * facades that follow leader hints the way the scheduler driver does.
 *
 * Agents run command tasks the default way (`commandExecutor: "agent"`: the agent runs the
 * task's command in its container itself) on scripted containers (test/support/
 * scripted-containers.ts: commands that run, exit and react to signals on the clock);
 * `commandExecutor: "process"` keeps the per-task executor mode, with a fake containerizer
 * whose executors report RUNNING as soon as they get a task.
 */
import { create } from "@bufbuild/protobuf";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameworkInfoSchema, FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ExecutorServiceSubscribeRequestSchema, ExecutorServiceUpdateRequestSchema, type ExecutorEvent } from "../../src/gen/dcos/v1/executor_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema, AcknowledgeRequestSchema, ReconcileRequestSchema, SubscribeRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskInfoSchema, TaskState, TaskStatusSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Agent } from "../../src/actors/agent/agent.js";
import type { ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { createAllocator } from "../../src/actors/allocator/index.js";
import { MasterFacade } from "../../src/actors/master/master-facade.js";
import { startMasterGroup, type MasterGroupMember } from "../../src/actors/master/master-group.js";
import { EXECUTOR_ENV } from "../../src/protocol/executor-environment.js";
import { refusalEndsExecutor } from "../../src/actors/executor-driver/driver.js";
import { parseResources } from "../../src/resources/index.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { asDcosError, type DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { SimNetwork } from "../../src/runtime/transports/sim-network.js";
import { TypeRegistry } from "../../src/runtime/types.js";
import { file_dcos_v1_internal } from "../../src/gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_raft } from "../../src/gen/dcos/v1/raft_pb.js";
import { CrashFs } from "../support/crash-fs.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { ScriptedHost } from "../support/scripted-containers.js";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import { RecordingSink } from "../master/harness.js";

export const REREGISTER_TIMEOUT_MS = 60_000;

/**
 * A fresh directory for simulated nodes' disks: in memory (/dev/shm) where there is one. The
 * simulation crashes processes, not machines, so fsync buys nothing there, and real fsyncs on
 * a loaded disk made runs several times slower.
 */
export async function simDir(prefix: string): Promise<string> {
  return mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), prefix));
}

export interface SimMaster {
  address: string;
  system: ActorSystem;
  group: MasterGroupMember;
  facade: MasterFacade;
}

/** An executor that reports TASK_RUNNING for every task it is given. */
class RunningExecutor implements ExecutorLink {
  closed = false;
  constructor(
    private readonly agent: Agent,
    private readonly frameworkId: string,
    private readonly executorId: string,
    /** The simulation's seeded source (a fork per executor), so uuids replay from the seed. */
    private readonly random: Random,
  ) {}

  send(event: ExecutorEvent): void {
    if (event.kind.case !== "launch") return;
    const taskId = event.kind.value.task?.taskId?.value ?? "";
    const status = create(TaskStatusSchema, { taskId: { value: taskId }, state: TaskState.RUNNING, uuid: this.random.uuidBytes() });
    void this.agent.update(create(ExecutorServiceUpdateRequestSchema, { frameworkId: { value: this.frameworkId }, executorId: { value: this.executorId }, status }));
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * A host's containers as tests read them: the fake containerizer of the executor mode, or
 * the scripted host of the default mode (its agent's containerizer is `host.containerizer()`).
 */
export type SimContainers = FakeContainerizer | ScriptedHost;

export interface SimAgent {
  address: string;
  system: ActorSystem;
  agent: Agent;
  containerizer: SimContainers;
  /** Executor containers whose fake executor subscribed (the "process" mode only). */
  subscribed: Set<string>;
  /** Its command tasks run in executors that SimCluster subscribes (`commandExecutor: "process"`). */
  executors: boolean;
}

/** The task a container runs: its executor's id (a command task's is the task's id), from its environment or its sandbox path. */
export function containerTask(config: { env?: Readonly<Record<string, string>>; sandbox: string; id: string }): string {
  return config.env?.[EXECUTOR_ENV.executorId] ?? /\/executors\/([^/]+)\/runs\//.exec(config.sandbox)?.[1] ?? `?${config.id}`;
}

/** A scheduler as the driver is: it follows a standby's leader hint, and resubscribes with its id. */
export class SimScheduler {
  sink = new RecordingSink();
  frameworkId = "";
  streamId = "";
  master: SimMaster | undefined;
  subscriptions = 0;
  /** Uuids (hex) of the updates acknowledged. */
  private readonly acked = new Set<string>();

  constructor(
    private readonly cluster: SimCluster,
    readonly name: string,
    private readonly failoverTimeout = 0,
    readonly partitionAware = false,
  ) {}

  /** One subscription attempt at `m`; the error (with details.leader on a standby) when refused. */
  async subscribeAt(m: SimMaster): Promise<DcosError | undefined> {
    const sink = new RecordingSink();
    const info = create(FrameworkInfoSchema, {
      name: this.name,
      user: "nobody",
      roles: ["*"],
      failoverTimeout: this.failoverTimeout,
      capabilities: this.partitionAware ? [FrameworkInfo_Capability.PARTITION_AWARE] : [],
      id: this.frameworkId ? { value: this.frameworkId } : undefined,
    });
    try {
      const s = await m.facade.subscribe(create(SubscribeRequestSchema, { frameworkInfo: info }), sink);
      this.sink = sink;
      this.frameworkId = s.frameworkId;
      this.streamId = s.streamId;
      this.master = m;
      this.subscriptions++;
      return undefined;
    } catch (err) {
      return asDcosError(err);
    }
  }

  /** Subscribes somewhere: the first master, then the leader it names, else the next. Returns the hops. */
  async subscribe(within = 30_000): Promise<string[]> {
    const hops: string[] = [];
    let i = 0;
    let next: SimMaster | undefined;
    const deadline = this.cluster.clock.now() + within;
    while (this.cluster.clock.now() < deadline) {
      const up = this.cluster.mastersUp();
      const m = next ?? up[i++ % up.length]!;
      hops.push(m.address);
      const outcome = this.cluster.pending(this.subscribeAt(m));
      await this.cluster.until(() => outcome.done, `${this.name} subscribing at ${m.address}`, 5_000);
      const err = outcome.value;
      if (!err) return hops;
      const leader = err.details["leader"];
      next = leader ? this.cluster.masters.get(leader) : undefined;
      if (!next) await this.cluster.clock.advance(200);
    }
    throw new Error(`${this.name} could not subscribe within ${within} ms (hops ${hops.join(" -> ")}, seed ${this.cluster.seed})`);
  }

  /** Launches a `sleep 1000` command task on the offer (with a kill policy of `killGraceSeconds`, when given). */
  async accept(offer: Offer, taskId: string, resources = "cpus:1;mem:128", killGraceSeconds?: number): Promise<void> {
    const task = create(TaskInfoSchema, {
      name: taskId,
      taskId: { value: taskId },
      agentId: offer.agentId,
      resources: parseResources(resources).toProto(),
      command: { value: "sleep 1000" },
      killPolicy: killGraceSeconds === undefined ? undefined : { gracePeriodSeconds: killGraceSeconds },
    });
    await this.master!.facade.accept(
      create(AcceptRequestSchema, {
        frameworkId: { value: this.frameworkId },
        streamId: this.streamId,
        offerIds: [offer.id!],
        operations: [{ kind: { case: "launch", value: { taskInfos: [task] } } }],
      }),
    );
  }

  /** Acknowledges every update with a uuid not acknowledged yet. */
  async acknowledgeAll(): Promise<void> {
    for (const s of this.sink.updates()) {
      const key = Buffer.from(s.uuid).toString("hex");
      if (s.uuid.length === 0 || this.acked.has(key)) continue;
      this.acked.add(key);
      await this.master!.facade.acknowledge(
        create(AcknowledgeRequestSchema, { frameworkId: { value: this.frameworkId }, streamId: this.streamId, agentId: s.agentId, taskId: s.taskId, uuid: s.uuid }),
      );
    }
  }

  /**
   * Steps until `taskId` is in `state` here, acknowledging the task's other updates as they
   * come (as the scheduler driver does): an agent sends a task's next update only once the
   * previous one is acknowledged, and a task the agent runs itself reports TASK_STARTING
   * before TASK_RUNNING. The update in `state` itself is left unacknowledged.
   */
  async awaitState(taskId: string, state: TaskState, what: string, withinMs = 30_000): Promise<void> {
    const acked = this.acked;
    const deadline = this.cluster.clock.now() + withinMs;
    while (this.states().get(taskId) !== state) {
      if (this.cluster.clock.now() >= deadline) throw new Error(`Not within ${withinMs} ms of clock time: ${what} (seed ${this.cluster.seed})`);
      for (const u of this.sink.updates()) {
        const key = Buffer.from(u.uuid).toString("hex");
        if (u.taskId?.value !== taskId || u.state === state || u.uuid.length === 0 || acked.has(key) || !this.master) continue;
        acked.add(key);
        const request = create(AcknowledgeRequestSchema, { frameworkId: { value: this.frameworkId }, streamId: this.streamId, agentId: u.agentId, taskId: u.taskId, uuid: u.uuid });
        this.master.facade.acknowledge(request).catch(() => acked.delete(key));
      }
      await this.cluster.step();
    }
  }

  async reconcile(): Promise<void> {
    await this.master!.facade.reconcile(create(ReconcileRequestSchema, { frameworkId: { value: this.frameworkId }, streamId: this.streamId }));
  }

  /** Latest state per task id from the stream. */
  states(): Map<string, TaskState> {
    const out = new Map<string, TaskState>();
    for (const s of this.sink.updates()) out.set(s.taskId!.value, s.state);
    return out;
  }
}

export class SimCluster {
  readonly clock = new ManualClock();
  readonly net: SimNetwork;
  readonly random: Random;
  /** Masters' agentReregistrationRate and agentReregistrationWindow (their defaults when undefined). */
  agentReregistrationRate: number | undefined;
  agentReregistrationWindow: number | undefined;
  readonly masters = new Map<string, SimMaster>();
  readonly agents: SimAgent[] = [];
  private readonly fs = new Map<string, CrashFs>();
  private readonly down = new Set<string>();
  /** term -> masters that led in it (sampled after every step). */
  readonly leadersByTerm = new Map<number, Set<string>>();
  /** Executors that ended because their agent refused them (see runExecutors). */
  readonly executorDeaths: string[] = [];
  private workDir = "";

  private constructor(
    readonly seed: number,
    readonly addresses: string[],
    /** How agents run command tasks: themselves (the default) or in per-task executors. */
    readonly commandExecutor: CommandExecutorMode = "agent",
  ) {
    this.net = new SimNetwork({ clock: this.clock, seed });
    this.random = new Random(seed);
  }

  static async start(
    seed: number,
    options: { masters?: number; agents?: number; commandExecutor?: CommandExecutorMode; agentReregistrationRate?: number; agentReregistrationWindow?: number } = {},
  ): Promise<SimCluster> {
    const addresses = Array.from({ length: options.masters ?? 3 }, (_, i) => `m${i + 1}:5050`);
    const c = new SimCluster(seed, addresses, options.commandExecutor ?? "agent");
    if (options.agentReregistrationRate !== undefined) c.agentReregistrationRate = options.agentReregistrationRate;
    if (options.agentReregistrationWindow !== undefined) c.agentReregistrationWindow = options.agentReregistrationWindow;
    c.workDir = await simDir("dcos-ft-");
    for (const a of addresses) await c.startMaster(a);
    for (let i = 1; i <= (options.agents ?? 2); i++) await c.startAgent(`a${i}:5051`);
    return c;
  }

  async startMaster(address: string): Promise<SimMaster> {
    let fs = this.fs.get(address);
    if (!fs) this.fs.set(address, (fs = new CrashFs()));
    const system = this.system(address);
    await system.start();
    const group = await startMasterGroup({
      system,
      masters: this.addresses,
      dir: `/${address}`,
      fs,
      masterId: address.split(":")[0]!,
      hostname: address.split(":")[0]!,
      port: 5050,
      allocator: () => createAllocator("hierarchical-drf", system, { name: system.uniqueName("allocator"), allocationIntervalMs: 1000 }),
      agentReregisterTimeoutMs: REREGISTER_TIMEOUT_MS,
      ...(this.agentReregistrationRate !== undefined ? { agentReregistrationRate: this.agentReregistrationRate } : {}),
      ...(this.agentReregistrationWindow !== undefined ? { agentReregistrationWindow: this.agentReregistrationWindow } : {}),
      // The event loop's real lateness has no place on the manual clock: never late here.
      loopLag: () => 0,
      random: this.random.fork(),
      raft: { random: this.random.fork() },
    });
    const m = { address, system, group, facade: new MasterFacade(group.master) };
    this.masters.set(address, m);
    this.down.delete(address);
    return m;
  }

  async startAgent(address: string): Promise<SimAgent> {
    const system = this.system(address);
    await system.start();
    const executors = this.commandExecutor === "process";
    const containers = executors ? new FakeContainerizer() : new ScriptedHost(this.clock);
    const masters = this.addresses.map((a) => new Pid("master", a));
    const agent = system.spawn(
      new Agent({
        master: masters[0]!,
        masters,
        workDir: join(this.workDir, address),
        containerizer: containers instanceof ScriptedHost ? containers.containerizer() : containers,
        executorEndpoint: "127.0.0.1:1",
        hostFacts: { cpus: 4, memBytes: 8 * 1024 ** 3, diskBytes: 100 * 1024 ** 3 },
        hostname: address.split(":")[0]!,
        random: this.random.fork(),
        // "process": simulated command executors speak the executor protocol (SimCluster subscribes them).
        commandExecutor: this.commandExecutor,
      }),
    );
    const a: SimAgent = { address, system, agent, containerizer: containers, subscribed: new Set<string>(), executors };
    this.agents.push(a);
    return a;
  }

  /** A node's actor system, knowing every message nodes exchange (as src/node/node.ts). */
  private system(address: string): ActorSystem {
    const types = new TypeRegistry().addFile(file_dcos_v1_internal).addFile(file_dcos_v1_raft);
    return new ActorSystem({ clock: this.clock, transport: this.net.transport(address), logger: testLogger(), types });
  }

  mastersUp(): SimMaster[] {
    return [...this.masters.values()].filter((m) => !this.down.has(m.address));
  }

  /** Masters that act as leader now. */
  leading(): SimMaster[] {
    return this.mastersUp().filter((m) => m.group.master.leading);
  }

  /** Crashes a master node: it stops at once, keeps only what it had synced. */
  async crashMaster(address: string): Promise<void> {
    const m = this.masters.get(address)!;
    this.net.crash(address);
    this.down.add(address);
    await m.system.stop();
    this.fs.set(address, this.fs.get(address)!.crash());
  }

  /**
   * Starts fake executors for launched containers (each reports RUNNING for its tasks). A
   * refused subscription is tried again at the next step, unless the executor driver's own
   * policy ends the executor: then its process exits (status 1), as a real one would, and
   * the death is recorded.
   */
  runExecutors(): void {
    for (const a of this.agents) {
      if (!a.executors) continue;
      for (const c of a.containerizer.launched) {
        if (a.subscribed.has(c.id)) continue;
        a.subscribed.add(c.id);
        const frameworkId = c.env?.[EXECUTOR_ENV.frameworkId] ?? "";
        const executorId = c.env?.[EXECUTOR_ENV.executorId] ?? "";
        const link = new RunningExecutor(a.agent, frameworkId, executorId, this.random.fork());
        const request = create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: frameworkId }, executorId: { value: executorId } });
        void a.agent.subscribe(request, link).catch((err: unknown) => {
          const e = asDcosError(err);
          if (!refusalEndsExecutor(e.code) || !a.containerizer.containers().includes(c.id)) return a.subscribed.delete(c.id);
          this.executorDeaths.push(`executor ${executorId} on ${a.address} exited after its agent refused it: ${e.message}`);
          a.containerizer.exit(c.id, 1);
        });
      }
    }
  }

  private sample(): void {
    for (const m of this.leading()) {
      const term = m.group.master.knownLeader?.term ?? -1;
      let set = this.leadersByTerm.get(term);
      if (!set) this.leadersByTerm.set(term, (set = new Set()));
      set.add(m.address);
    }
  }

  /** One step of clock time (the agents' disk I/O completes within it: the clock's settle waits for it). */
  async step(ms = 20): Promise<void> {
    await this.clock.advance(ms);
    this.runExecutors();
    this.sample();
  }

  /** Steps until pred holds, or fails naming what was awaited and the seed. */
  async until(pred: () => boolean, what: string, withinMs = 30_000): Promise<void> {
    const deadline = this.clock.now() + withinMs;
    while (!pred()) {
      if (this.clock.now() >= deadline) throw new Error(`Not within ${withinMs} ms of clock time: ${what} (seed ${this.seed})`);
      await this.step();
    }
  }

  /** A promise's outcome, readable synchronously from until() predicates. */
  pending<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown } {
    const o: { done: boolean; value?: T; error?: unknown } = { done: false };
    p.then(
      (v) => Object.assign(o, { done: true, value: v }),
      (e: unknown) => Object.assign(o, { done: true, error: e }),
    );
    return o;
  }

  /** Waits for exactly one leading master (the highest term) and returns it. */
  async waitForLeader(what = "a leading master", withinMs = 30_000): Promise<SimMaster> {
    await this.until(() => this.leading().length === 1 && this.activeAgents(this.leading()[0]!) >= 0, what, withinMs);
    return this.leading()[0]!;
  }

  /** Agents the master has ACTIVE (0 on a standby). */
  activeAgents(m: SimMaster): number {
    if (!m.group.master.leading) return 0;
    let n = 0;
    for (const a of m.group.master.core.agents.values()) if (a.active) n++;
    return n;
  }

  /** A master's raft commit and applied indexes (-1 before its raft actor initialized). */
  raftIndexes(m: SimMaster): { commit: number; applied: number } {
    try {
      const st = m.group.raft.status();
      return { commit: st.commit, applied: st.applied };
    } catch {
      return { commit: -1, applied: -1 };
    }
  }

  /** Every term had at most one leading master. */
  splitBrains(): string[] {
    return [...this.leadersByTerm].filter(([, s]) => s.size > 1).map(([t, s]) => `term ${t}: ${[...s].join(", ")}`);
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.system.stop();
    for (const m of this.mastersUp()) await m.system.stop();
    await rm(this.workDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
  }
}
