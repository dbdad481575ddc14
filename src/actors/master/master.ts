/**
 * The master actor: receives agents' messages (internal.proto) and schedulers' calls (via
 * MasterFacade), and keeps frameworks, agents, offers and tasks. Kept thin: it wires
 * messages to the feature files, which work on the MasterState.
 */
import type { Message } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import {
  AgentPongSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  LeadingMasterSchema,
  RegisterAgentSchema,
  ReregisterAgentSchema,
  StatusUpdateSchema,
  UnregisterAgentSchema,
  UpdateAgentSchema,
} from "../../gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Counter } from "../../metrics/metrics.js";
import { Quantities } from "../../resources/index.js";
import { Actor } from "../../runtime/actor.js";
import type { Timer } from "../../runtime/clock.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { Pid } from "../../runtime/pid.js";
import type { MailboxShedding } from "../../runtime/system.js";
import type { Allocator } from "../allocator/allocator.js";
import { EventBus } from "../../events/bus.js";
import { pong } from "./agent-health.js";
import { agentSenderProblem, registerAgent, reregisterAgent, unregisterAgent } from "./agent-registration.js";
import type { PeerIdentity } from "../../runtime/identity.js";
import { MasterState, type MasterHost } from "./master-state.js";
import { MasterCounts } from "./counts.js";
import { MasterMetrics } from "./metrics.js";
import { makeOffers } from "./offers.js";
import { resolveMasterOptions, type MasterOptions, type ResolvedMasterOptions } from "./options.js";
import type { Registrar } from "./registry.js";
import { recoverRegistry } from "./registry-recovery.js";
import { executorMessage, exitedExecutor, statusUpdate, updateAgent } from "./status-updates.js";
import { TermHost } from "./term-host.js";
import { PACING_DEFAULTS } from "./reregistration-pacing.js";

export const MASTER_ACTOR_NAME = "master";

/** MasterOptions.maxQueuedRetriedMessages by default: off (a shed update waits its agent's retry interval; docs/scale.md, "Session 9: what held the first leader's loop"). */
export const DEFAULT_MAX_QUEUED_RETRIED_MESSAGES = 0;

/**
 * What a busy master may shed (MasterOptions.maxQueuedRetriedMessages): status updates, which
 * agents send again until acknowledged. Not (re)registrations, though agents retry those too:
 * a shed registration costs its agent a whole backoff, and at 50,000 agents shedding them
 * doubled the time to register from cold (docs/scale.md, "Session 9: what held the first leader's loop").
 */
const RETRIED_AGENT_MESSAGES: ReadonlySet<string> = new Set([StatusUpdateSchema.typeName]);

export interface MasterDeps extends MasterOptions {
  /** The allocator and registrar of a master that leads from its start (not a standby). */
  allocator?: Allocator;
  registrar?: Registrar;
  /** Where the master publishes cluster events (Operator streams, the NATS tap); default: its own. */
  events?: EventBus;
  /**
   * Replicated masters start as standbys and lead only when elected (MasterLeadership calls
   * lead() and standDown()). Default false: the master leads at once with allocator and registrar.
   */
  standby?: boolean;
}

/** Whether this master acts: a standby answers with the leader; a leading master runs the cluster. */
export enum MasterMode {
  STANDBY = "STANDBY",
  LEADING = "LEADING",
}

/** What a master needs to lead one term. */
export interface LeaderTerm {
  /** The Raft term (0: a master that leads alone, without Raft). */
  term: number;
  registrar: Registrar;
  /** A fresh allocator for the term; the master stops it when the term ends. */
  allocator: Allocator;
  /** How long agents of the registry have to reregister before they are marked unreachable. */
  agentReregisterTimeoutMs: number;
}

/** Who leads, as a standby tells clients: the master's pid and gRPC address. */
export interface KnownLeader {
  pid: Pid;
  term: number;
}

export class Master extends Actor {
  private core_: MasterState | undefined;
  private host_: TermHost | undefined;
  private mode = MasterMode.STANDBY;
  private leader: KnownLeader | undefined;
  private options!: ResolvedMasterOptions;
  private metrics!: MasterMetrics;
  private counters!: { standbyDropped: Counter; staleSends: Counter; elections: Counter };
  /** The master's cluster events; subscribe before or after start. */
  readonly events: EventBus;
  /** Agents' retried messages dropped past MasterOptions.maxQueuedRetriedMessages (ActorCell.shed). */
  readonly shed: MailboxShedding | undefined;
  /** When the master started (ms on its clock), for /state's start_time. */
  startedAt = 0;

  constructor(private readonly deps: MasterDeps) {
    super(MASTER_ACTOR_NAME);
    this.events = deps.events ?? new EventBus();
    // Every message here is an agent's: the sender's connection must be that agent's (agentSenderProblem).
    const on = <T extends { $typeName: string }>(fn: (core: MasterState, from: Pid, m: T, sender: PeerIdentity) => void) => (m: T, from: Pid) => {
      const core = this.core_;
      if (!core) return this.asStandby(from, m);
      const sender = this.sender;
      const problem = agentSenderProblem(core, from, sender);
      if (problem) return core.drop("unauthorized_agent_messages", `Refusing ${m.$typeName} from ${from.toString()}: ${problem}`, { from: from.toString() });
      fn(core, from, m, sender);
    };
    this.install(RegisterAgentSchema, on(registerAgent));
    // The master does not read the FrameworkInfos an agent lists (frameworks come back through
    // their own resubscription): up to one per framework with tasks there, 30% of the bytes
    // after a failover, decoded and dropped for every agent (docs/scale.md, "Session 11").
    this.install(ReregisterAgentSchema, on(reregisterAgent), { unread: ["frameworks"] });
    this.install(UnregisterAgentSchema, on(unregisterAgent));
    this.install(AgentPongSchema, on((core, from) => pong(core, from)));
    this.install(StatusUpdateSchema, on(statusUpdate));
    this.install(ExitedExecutorSchema, on(exitedExecutor));
    this.install(FrameworkMessageSchema, on(executorMessage));
    this.install(UpdateAgentSchema, on(updateAgent));
    const shedAt = deps.maxQueuedRetriedMessages ?? DEFAULT_MAX_QUEUED_RETRIED_MESSAGES;
    if (shedAt > 0) this.shed = { at: shedAt, types: RETRIED_AGENT_MESSAGES };
  }

  /**
   * The master's state; only touch it inside the actor (handlers, MasterFacade calls). On a
   * standby it throws UNAVAILABLE naming the leader (details.leader = its host:port), which
   * is what every MasterFacade call (and so every gRPC call) answers with.
   */
  get core(): MasterState {
    if (!this.core_) throw this.notLeading();
    return this.core_;
  }

  get leading(): boolean {
    return this.mode === MasterMode.LEADING;
  }

  /** The leader as far as this master knows (itself while leading). */
  get knownLeader(): KnownLeader | undefined {
    return this.leader;
  }

  override initialize(): void {
    this.options = resolveMasterOptions(this.deps);
    this.startedAt = this.clock.now();
    this.metrics = new MasterMetrics(
      this.system.metrics,
      {
        counts: () => this.core_?.counts ?? NO_COUNTS,
        outstandingOffers: () => this.core_?.offers.size ?? 0,
        offered: () => this.core_?.offers.offered ?? NO_COUNTS.total,
        eventQueue: () => this.mailbox.length,
      },
      this.startedAt,
      () => this.clock.now(),
    );
    const m = this.system.metrics;
    m.gauge("master/elected", () => (this.leading ? 1 : 0), "1 on the leading master");
    this.counters = {
      standbyDropped: m.counter("master/standby_dropped_messages", "Agent messages a standby master did not act on"),
      staleSends: m.counter("master/deposed_sends_dropped", "Sends of a term that ended, dropped"),
      elections: m.counter("master/elections", "Times this master started to lead"),
    };
    if (!this.deps.standby) {
      if (!this.deps.allocator || !this.deps.registrar) throw new DcosError(Code.INVALID_ARGUMENT, "A master that is not a standby needs an allocator and a registrar");
      this.lead({ term: 0, registrar: this.deps.registrar, allocator: this.deps.allocator, agentReregisterTimeoutMs: this.options.agentReregisterTimeoutMs });
    } else {
      this.log.info({ masterId: this.options.masterId }, `Master ${this.options.masterId} started at ${this.self.toString()} as a standby`);
    }
  }

  /**
   * Starts leading a term: a fresh MasterState on a term-scoped host, recovered from the
   * registry (agents get the reregistration window, frameworks come back disconnected).
   */
  lead(t: LeaderTerm): void {
    if (this.mode === MasterMode.LEADING) {
      throw new DcosError(Code.INTERNAL, `Illegal master transition LEADING -> LEADING (term ${t.term}): stand down first`);
    }
    const actorHost: MasterHost = {
      self: this.self,
      log: this.log,
      clock: this.clock,
      send: (to, message) => this.send(to, message),
      delay: (ms, fn): Timer => this.delay(ms, fn),
      defer: (p, ok, err) => this.defer(p, ok, err),
    };
    const host = new TermHost(actorHost, t.term, this.counters.staleSends);
    const core = new MasterState(this.options, host, t.allocator, t.registrar, this.metrics, this.deps.random, this.events);
    this.transition(MasterMode.LEADING, `elected in term ${t.term}`);
    this.core_ = core;
    this.host_ = host;
    this.leader = { pid: this.self, term: t.term };
    this.counters.elections.inc();
    // Settled once the offers are made (or the master stopped): a round in parts makes its next
    // part only then, so offers never run ahead of the master's queue (a SUPPRESS or DECLINE
    // waiting in it counts for the next part; see Allocator.initialize).
    t.allocator.initialize(
      (decisions) =>
        new Promise<void>((resolve) => {
          const queued = this.system.enqueueFunction(
            this,
            () => {
              try {
                if (this.core_ === core) makeOffers(core, decisions);
              } finally {
                resolve();
              }
            },
            () => resolve(),
          );
          if (!queued) resolve();
        }),
    );
    recoverRegistry(core, t.term, t.agentReregisterTimeoutMs);
    core.publish({ case: "leaderChanged", value: { $typeName: "dcos.v1.ClusterEvent.LeaderChanged", leader: core.masterInfo() } });
    this.log.info({ masterId: this.options.masterId, term: t.term, allocator: t.allocator.policy }, `Master ${this.options.masterId} leads at ${this.self.toString()} (term ${t.term})`);
  }

  /**
   * Stops acting at once: the term's host is revoked (no more sends, timers or deferred
   * results), scheduler streams are closed (their drivers reconnect and are redirected),
   * the allocator stops. `leader` is who leads now, when known.
   */
  standDown(leader: KnownLeader | undefined, why: string): void {
    this.leader = leader;
    if (this.mode === MasterMode.STANDBY) return;
    this.transition(MasterMode.STANDBY, why);
    this.endTerm();
  }

  private endTerm(): void {
    const core = this.core_;
    this.host_?.revoke();
    this.core_ = undefined;
    this.host_ = undefined;
    if (!core) return;
    for (const f of core.frameworks.values()) {
      f.stopTimers();
      f.closeStream();
    }
    for (const a of core.agents.values()) a.stopTimers();
    core.allocator.stop();
  }

  /** A standby hears from an agent: it names the leader to a (re)registering agent, drops the rest. */
  private asStandby(from: Pid, m: { $typeName: string }): void {
    const registering = m.$typeName === RegisterAgentSchema.typeName || m.$typeName === ReregisterAgentSchema.typeName;
    if (registering && this.leader && !this.leader.pid.equals(this.self)) {
      // Debug, not info: in a registration storm every agent's retry may land here (thousands a second).
      this.log.debug({ from: from.toString(), leader: this.leader.pid.toString() }, `Standby master: telling ${from.toString()} that ${this.leader.pid.toString()} leads`);
      // With the leader's least patience: the agent's first retry waits that long (a new leader answers in its own time).
      this.send(from, create(LeadingMasterSchema, { pid: this.leader.pid.toString(), term: BigInt(this.leader.term), retryAfterMs: PACING_DEFAULTS.patienceMs }));
      return;
    }
    this.counters.standbyDropped.inc();
    this.log.debug({ from: from.toString(), type: m.$typeName }, `Ignoring ${m.$typeName} from ${from.toString()} because this master is a standby`);
  }

  private notLeading(): DcosError {
    const leader = this.leader && !this.leader.pid.equals(this.self) ? this.leader : undefined;
    if (!leader) return new DcosError(Code.UNAVAILABLE, `This master (${this.self.toString()}) is not leading and no leader is known yet; retry`);
    return new DcosError(Code.UNAVAILABLE, `This master is not leading; the leader is ${leader.pid.address} (term ${leader.term})`, {
      details: { leader: leader.pid.address },
    });
  }

  private transition(to: MasterMode, why: string): void {
    if (this.mode === to) throw new DcosError(Code.INTERNAL, `Illegal master transition ${this.mode} -> ${to}`);
    this.log.info({ from: this.mode, to, why }, `Master ${this.mode} -> ${to}: ${why}`);
    this.mode = to;
  }

  override finalize(): void {
    this.endTerm();
  }

  override exited(pid: Pid): void {
    this.log.info({ pid: pid.toString() }, `Lost the connection to ${pid.toString()}; health checks decide about agents`);
  }
}

/** What a standby's gauges read: nothing. */
const NO_COUNTS = new MasterCounts();
