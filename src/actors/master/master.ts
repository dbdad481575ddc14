/**
 * The master actor: receives agents' messages (internal.proto) and schedulers' calls (via
 * MasterFacade), and keeps frameworks, agents, offers and tasks. Kept thin: it wires
 * messages to the feature files, which work on the MasterCore.
 */
import type { Message } from "@bufbuild/protobuf";
import {
  AgentPongSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  RegisterAgentSchema,
  ReregisterAgentSchema,
  StatusUpdateSchema,
  UnregisterAgentSchema,
  UpdateAgentSchema,
} from "../../gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { Actor } from "../../runtime/actor.js";
import type { Timer } from "../../runtime/clock.js";
import type { Pid } from "../../runtime/pid.js";
import type { Allocator } from "../allocator/allocator.js";
import { EventBus } from "../../events/bus.js";
import { agentCounts, pong } from "./agent-health.js";
import { registerAgent, reregisterAgent, unregisterAgent } from "./agents.js";
import { MasterCore } from "./core.js";
import { FrameworkRecord, FrameworkState } from "./framework.js";
import { startFailover } from "./frameworks.js";
import { MasterMetrics } from "./metrics.js";
import { makeOffers } from "./offers.js";
import { resolveMasterOptions, type MasterOptions } from "./options.js";
import type { Registrar } from "./registry.js";
import { executorMessage, exitedExecutor, statusUpdate, updateAgent } from "./status-updates.js";

export const MASTER_ACTOR_NAME = "master";

export interface MasterDeps extends MasterOptions {
  allocator: Allocator;
  registrar: Registrar;
  /** Where the master publishes cluster events (Operator streams, the NATS tap); default: its own. */
  events?: EventBus;
}

export class Master extends Actor {
  private core_: MasterCore | undefined;
  /** The master's cluster events; subscribe before or after start. */
  readonly events: EventBus;
  /** When the master started (ms on its clock), for /state's start_time. */
  startedAt = 0;

  constructor(private readonly deps: MasterDeps) {
    super(MASTER_ACTOR_NAME);
    this.events = deps.events ?? new EventBus();
    const on = <T>(fn: (core: MasterCore, from: Pid, m: T) => void) => (m: T, from: Pid) => fn(this.core, from, m);
    this.install(RegisterAgentSchema, on(registerAgent));
    this.install(ReregisterAgentSchema, on(reregisterAgent));
    this.install(UnregisterAgentSchema, on(unregisterAgent));
    this.install(AgentPongSchema, (_m, from) => pong(this.core, from));
    this.install(StatusUpdateSchema, on(statusUpdate));
    this.install(ExitedExecutorSchema, on(exitedExecutor));
    this.install(FrameworkMessageSchema, on(executorMessage));
    this.install(UpdateAgentSchema, on(updateAgent));
  }

  /** The master's state; only touch it inside the actor (handlers, MasterFacade calls). */
  get core(): MasterCore {
    if (!this.core_) throw new Error("Master not initialized yet");
    return this.core_;
  }

  override initialize(): void {
    const options = resolveMasterOptions(this.deps);
    const host = {
      self: this.self,
      log: this.log,
      clock: this.clock,
      send: (to: Pid, m: Message) => this.send(to, m),
      delay: (ms: number, fn: () => void): Timer => this.delay(ms, fn),
      defer: <T>(p: Promise<T>, ok: (v: T) => void, err: (e: unknown) => void) => this.defer(p, ok, err),
    };
    const startedAt = this.clock.now();
    this.startedAt = startedAt;
    let core: MasterCore | undefined = undefined;
    const metrics = new MasterMetrics(
      this.system.metrics,
      {
        frameworks: () => frameworkCounts(core),
        agents: () => (core ? agentCounts(core) : { active: 0, inactive: 0, connected: 0, disconnected: 0, unreachable: 0 }),
        outstandingOffers: () => core?.offers.size ?? 0,
        tasksIn: (s) => tasksIn(core, s),
        eventQueue: () => this.mailbox.length,
      },
      startedAt,
      () => this.clock.now(),
    );
    core = new MasterCore(options, host, this.deps.allocator, this.deps.registrar, metrics, this.deps.random, this.events);
    this.core_ = core;
    const self = core;
    this.deps.allocator.initialize((decisions) => {
      this.system.enqueueFunction(this, () => makeOffers(self, decisions));
    });
    this.recover(core);
    // A single master leads from its start; the replicated masters publish on each election.
    core.publish({ case: "leaderChanged", value: { $typeName: "dcos.v1.ClusterEvent.LeaderChanged", leader: core.masterInfo() } });
    this.log.info({ masterId: options.masterId, allocator: this.deps.allocator.policy }, `Master ${options.masterId} started at ${this.self.toString()}`);
  }

  /** Frameworks in the registry come back disconnected, waiting for their schedulers. */
  private recover(core: MasterCore): void {
    const weights = core.registrar.state().weights;
    if (weights.size > 0) core.allocator.updateWeights(weights);
    for (const [id, info] of core.registrar.state().frameworks) {
      const f = new FrameworkRecord(id, info, FrameworkState.DISCONNECTED);
      core.frameworks.set(id, f);
      core.allocator.addFramework(id, { roles: info.roles, active: false }, new Map());
      startFailover(core, f);
    }
  }

  override finalize(): void {
    const core = this.core_;
    if (!core) return;
    for (const f of core.frameworks.values()) {
      f.stopTimers();
      f.closeStream();
    }
    for (const a of core.agents.values()) a.stopTimers();
    this.deps.allocator.stop();
  }

  override exited(pid: Pid): void {
    this.log.info({ pid: pid.toString() }, `Lost the connection to ${pid.toString()}; health checks decide about agents`);
  }
}

function frameworkCounts(core: MasterCore | undefined): { connected: number; disconnected: number; active: number; inactive: number } {
  const c = { connected: 0, disconnected: 0, active: 0, inactive: 0 };
  for (const f of core?.frameworks.values() ?? []) {
    if (f.connected) {
      c.connected++;
      c.active++;
    } else {
      c.disconnected++;
      c.inactive++;
    }
  }
  return c;
}

function tasksIn(core: MasterCore | undefined, state: TaskState): number {
  let n = 0;
  for (const a of core?.agents.values() ?? []) for (const t of a.tasks.values()) if (t.state === state) n++;
  return n;
}
