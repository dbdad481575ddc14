/**
 * A master on a ManualClock with scripted agents on the in-process network, the real
 * hierarchical-DRF allocator and the in-memory registrar; schedulers are RecordingSinks
 * driven through the MasterFacade.
 */
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FrameworkInfoSchema, FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import { FrameworkIDSchema, OfferIDSchema, TaskIDSchema } from "../../src/gen/dcos/v1/common_pb.js";
import type { Offer, Offer_OperationSchema } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema, SubscribeRequestSchema, type Event } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskInfoSchema, type ExecutorInfoSchema, type Task, type TaskInfo, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { createAllocator } from "../../src/actors/allocator/index.js";
import type { RoundSlicing } from "../../src/actors/allocator/allocator-actor.js";
import type { EventSink } from "../../src/actors/master/framework-record.js";
import { MasterFacade } from "../../src/actors/master/master-facade.js";
import { Master } from "../../src/actors/master/master.js";
import type { MasterOptions } from "../../src/actors/master/options.js";
import { InMemoryRegistrar } from "../../src/actors/master/registry.js";
import { parseResources } from "../../src/resources/index.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { ScriptedAgent } from "../support/scripted-agent.js";

export const ALLOCATION_INTERVAL_MS = 1000;

type EventCase = NonNullable<Event["kind"]["case"]>;
type EventOf<K extends EventCase> = Extract<Event["kind"], { case: K }>["value"];

/** Records a scheduler's event stream. */
export class RecordingSink implements EventSink {
  readonly events: Event[] = [];
  closed = false;
  send(event: Event): void {
    this.events.push(event);
  }
  close(): void {
    this.closed = true;
  }
  of<K extends EventCase>(kind: K): EventOf<K>[] {
    const out: unknown[] = [];
    for (const e of this.events) if (e.kind.case === kind) out.push(e.kind.value);
    return out as EventOf<K>[];
  }
  offers(): Offer[] {
    return this.of("offers").flatMap((o) => o.offers);
  }
  updates(): TaskStatus[] {
    return this.of("update").map((u) => u.status!);
  }
  clear(): void {
    this.events.length = 0;
  }
}

export interface Scheduler {
  sink: RecordingSink;
  frameworkId: string;
  streamId: string;
}

export interface ClusterOptions extends Omit<MasterOptions, "random"> {
  agents?: number;
  agentResources?: string;
  seed?: number;
  /** A registry the master starts from (as after a restart); a fresh one by default. */
  registrar?: InMemoryRegistrar;
  /** How the allocator cuts rounds in parts (its defaults otherwise). */
  roundSlicing?: Partial<RoundSlicing>;
}

export class Cluster {
  readonly clock = new ManualClock();
  readonly network = new InProcessNetwork();
  registrar = new InMemoryRegistrar();
  readonly agents: ScriptedAgent[] = [];
  private readonly systems: ActorSystem[] = [];
  master!: Master;
  facade!: MasterFacade;
  masterSystem!: ActorSystem;

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster();
    await c.init(options);
    return c;
  }

  private async init({ registrar, roundSlicing, ...options }: ClusterOptions): Promise<void> {
    if (registrar) this.registrar = registrar;
    this.masterSystem = await this.system("master:5050");
    const allocator = createAllocator("hierarchical-drf", this.masterSystem, { allocationIntervalMs: ALLOCATION_INTERVAL_MS, ...(roundSlicing ? { roundSlicing } : {}) });
    this.master = this.masterSystem.spawn(
      new Master({ masterId: "m1", ...options, allocator, registrar: this.registrar, random: new Random(options.seed ?? 1) }),
    );
    this.facade = new MasterFacade(this.master);
    for (let i = 0; i < (options.agents ?? 1); i++) await this.addAgent(`host${i + 1}`, options.agentResources ?? "cpus:4;mem:4096");
    await this.clock.settle();
  }

  private async system(address: string): Promise<ActorSystem> {
    const s = new ActorSystem({ clock: this.clock, transport: this.network.transport(address), logger: testLogger() });
    await s.start();
    this.systems.push(s);
    return s;
  }

  /** Starts a scripted agent that registers, or reregisters under `agentId` (an agent the registry knows) with `tasks`. */
  async addAgent(hostname: string, resources: string, agentId?: string, tasks: Task[] = []): Promise<ScriptedAgent> {
    const s = await this.system(`${hostname}:5051`);
    const agent = s.spawn(new ScriptedAgent("agent", hostname, parseResources(resources).toProto(), this.master.self));
    if (agentId) {
      agent.agentId = agentId;
      agent.reregister(tasks);
    } else agent.register();
    this.agents.push(agent);
    await this.clock.settle();
    return agent;
  }

  /** Starts `count` scripted agents that all register in the same turn (a registration storm), then settles. */
  async addAgentsAtOnce(count: number, resources: string): Promise<ScriptedAgent[]> {
    return this.agentsAtOnce(Array.from({ length: count }, (_, i) => ({ hostname: `storm${i + 1}` })), resources);
  }

  /** Starts scripted agents that all reregister under the given ids (agents the registry knows) in the same turn, then settles. */
  async reregisterAgentsAtOnce(agents: Record<string, string>, resources: string): Promise<ScriptedAgent[]> {
    return this.agentsAtOnce(Object.entries(agents).map(([agentId, hostname]) => ({ hostname, agentId })), resources);
  }

  private async agentsAtOnce(agents: Array<{ hostname: string; agentId?: string }>, resources: string): Promise<ScriptedAgent[]> {
    const started: ScriptedAgent[] = [];
    for (const { hostname } of agents) {
      const s = await this.system(`${hostname}:5051`);
      started.push(s.spawn(new ScriptedAgent("agent", hostname, parseResources(resources).toProto(), this.master.self)));
    }
    for (const [i, agent] of started.entries()) {
      const agentId = agents[i]!.agentId;
      if (agentId === undefined) agent.register();
      else {
        agent.agentId = agentId;
        agent.reregister();
      }
    }
    this.agents.push(...started);
    await this.clock.settle();
    return started;
  }

  async subscribe(
    name: string,
    options: { roles?: string[]; partitionAware?: boolean; failoverTimeout?: number; id?: string; principal?: string; webuiUrl?: string; user?: string } = {},
  ): Promise<Scheduler> {
    const sink = new RecordingSink();
    const info = create(FrameworkInfoSchema, {
      name,
      user: options.user ?? "nobody",
      roles: options.roles ?? ["*"],
      failoverTimeout: options.failoverTimeout ?? 0,
      capabilities: options.partitionAware ? [FrameworkInfo_Capability.PARTITION_AWARE] : [],
      id: options.id ? create(FrameworkIDSchema, { value: options.id }) : undefined,
      principal: options.principal ?? "",
      webuiUrl: options.webuiUrl ?? "",
    });
    const s = await this.facade.subscribe(create(SubscribeRequestSchema, { frameworkInfo: info }), sink);
    await this.clock.settle();
    return { sink, ...s };
  }

  /** Lets the allocator run a round (and everything it triggers). */
  async allocate(): Promise<void> {
    await this.clock.advance(ALLOCATION_INTERVAL_MS);
  }

  async launch(s: Scheduler, offers: Offer[], tasks: TaskInfo[], refuseSeconds?: number): Promise<void> {
    await this.accept(s, offers, { case: "launch", value: { taskInfos: tasks } }, refuseSeconds);
  }

  /** LAUNCH_GROUP of `tasks` into one executor, on the given offers. */
  async launchGroup(s: Scheduler, offers: Offer[], executor: MessageInitShape<typeof ExecutorInfoSchema>, tasks: TaskInfo[]): Promise<void> {
    await this.accept(s, offers, { case: "launchGroup", value: { executor, taskGroup: { tasks } } });
  }

  private async accept(s: Scheduler, offers: Offer[], kind: MessageInitShape<typeof Offer_OperationSchema>["kind"], refuseSeconds?: number): Promise<void> {
    await this.facade.accept(
      create(AcceptRequestSchema, {
        frameworkId: { value: s.frameworkId },
        streamId: s.streamId,
        offerIds: offers.map((o) => create(OfferIDSchema, { value: o.id!.value })),
        operations: [{ kind }],
        filters: refuseSeconds === undefined ? undefined : { refuseSeconds },
      }),
    );
    await this.clock.settle();
  }

  metric(key: string): number | undefined {
    return this.masterSystem.metrics.value(key);
  }

  async stop(): Promise<void> {
    for (const s of this.systems.reverse()) await s.stop();
  }
}

/** A command task using the given resources ("cpus:1;mem:128"). */
export function commandTask(id: string, resources = "cpus:1;mem:128", command = "sleep 10"): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: create(TaskIDSchema, { value: id }),
    resources: parseResources(resources).toProto(),
    command: { value: command },
  });
}

/** An assert.rejects validator: a DcosError with this code whose message matches pattern. */
export function rejectsWith(code: Code, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DcosError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}
