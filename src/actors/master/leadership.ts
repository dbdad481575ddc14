/**
 * Leader election for replicated masters: the Raft leader of the masters' group is the
 * leading master. This actor (one per master node) watches the raft actor's leader and
 * term. When its own member is elected it first commits an `elected` registry entry for
 * the term (which also means the registry it then reads holds every earlier entry), then
 * makes the master lead with a registrar fenced by that term and a fresh allocator. When
 * another member leads, or no one is known to, the master stands down at once and
 * redirects clients to the leader.
 *
 *   FOLLOWING --(own member leads term T)--> ELECTED(T) --(elected entry applied)--> LEADING(T)
 *   ELECTED / LEADING --(another leader, no leader, or a new term)--> FOLLOWING
 */
import { create } from "@bufbuild/protobuf";
import { MasterInfoSchema, type MasterInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Counter } from "../../metrics/metrics.js";
import { Actor } from "../../runtime/actor.js";
import { Code, asDcosError } from "../../runtime/error.js";
import { Pid } from "../../runtime/pid.js";
import type { RaftNode } from "../../raft/raft-node.js";
import { ReplicatedStateMachine } from "../../raft/replicated-state-machine.js";
import type { Allocator } from "../allocator/allocator.js";
import { MASTER_ACTOR_NAME, type KnownLeader, type Master } from "./master.js";
import { RaftRegistrar, type RegistryMachine } from "./raft-registrar.js";
import { encodeElected } from "./registry-codec.js";
import { transitionChecker } from "../../runtime/transitions.js";

export enum LeadershipState {
  FOLLOWING = "FOLLOWING",
  ELECTED = "ELECTED",
  LEADING = "LEADING",
}

const checkTransition = transitionChecker<LeadershipState>({
  [LeadershipState.FOLLOWING]: [LeadershipState.ELECTED],
  [LeadershipState.ELECTED]: [LeadershipState.LEADING, LeadershipState.FOLLOWING],
  [LeadershipState.LEADING]: [LeadershipState.FOLLOWING],
}, "leadership");

export interface MasterLeadershipOptions {
  raft: RaftNode<RegistryMachine>;
  master: Master;
  /** What the master writes in its `elected` entry. */
  info: Omit<MasterInfo, "$typeName" | "pid">;
  /** A fresh allocator for each term the master leads. */
  allocator: () => Allocator;
  agentReregisterTimeoutMs: number;
  /** Wait before retrying a failed `elected` entry while still leader. Default 100 ms. */
  retryMs?: number;
}

export const LEADERSHIP_ACTOR_NAME = "master-leadership";

export class MasterLeadership extends Actor {
  private phase = LeadershipState.FOLLOWING;
  /** The term of ELECTED / LEADING. */
  private term = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly registry: ReplicatedStateMachine<RegistryMachine>;
  private counters!: { elections: Counter; electedEntryFailures: Counter; standDowns: Counter };

  constructor(private readonly o: MasterLeadershipOptions) {
    super(LEADERSHIP_ACTOR_NAME);
    this.registry = new ReplicatedStateMachine(o.raft);
  }

  get leadershipState(): LeadershipState {
    return this.phase;
  }

  override initialize(): void {
    const m = this.system.metrics;
    this.counters = {
      elections: m.counter("master/leadership_elections", "Terms this master was elected in"),
      electedEntryFailures: m.counter("master/leadership_elected_entry_failures", "Failed attempts to commit the elected entry"),
      standDowns: m.counter("master/leadership_stand_downs", "Times this master stopped leading"),
    };
    this.unsubscribe = this.o.raft.onLeaderChange((leader, term) => {
      this.system.enqueueFunction(this, () => this.leaderChanged(leader, term));
    });
    this.defer(
      this.registry.status(),
      (s) => this.leaderChanged(s.leader === "" ? undefined : Pid.parse(s.leader), s.term),
      (err) => this.log.warn({ err }, "Could not read the raft member's status"),
    );
  }

  override finalize(): void {
    this.unsubscribe?.();
  }

  private leaderChanged(leader: Pid | undefined, term: number): void {
    const own = leader !== undefined && leader.equals(this.o.raft.self);
    if (own) {
      if (this.phase !== LeadershipState.FOLLOWING && this.term === term) return;
      if (this.phase !== LeadershipState.FOLLOWING) this.follow(undefined, `term ${this.term} ended; elected again in term ${term}`);
      this.elected(term);
      return;
    }
    const known: KnownLeader | undefined = leader ? { pid: new Pid(MASTER_ACTOR_NAME, leader.address), term } : undefined;
    const why = known ? `${known.pid.toString()} leads term ${term}` : `no leader is known in term ${term}`;
    if (this.phase !== LeadershipState.FOLLOWING) this.follow(known, why);
    else this.tellMaster(known, why);
  }

  private elected(term: number): void {
    this.transition(LeadershipState.ELECTED, `the raft member leads term ${term}`);
    this.term = term;
    this.counters.elections.inc();
    this.writeElected(term);
  }

  /** Commits the `elected` entry of the term, then leads; retries while still the leader of that term. */
  private writeElected(term: number): void {
    const info = create(MasterInfoSchema, { ...this.o.info, pid: this.o.master.self.toString() });
    let proposal: Promise<Uint8Array>;
    try {
      proposal = this.registry.propose(encodeElected(info, term));
    } catch (err) {
      proposal = Promise.reject(err);
    }
    this.defer(
      proposal,
      () => {
        if (this.phase !== LeadershipState.ELECTED || this.term !== term) return;
        this.lead(term);
      },
      (err) => {
        if (this.phase !== LeadershipState.ELECTED || this.term !== term) return;
        this.counters.electedEntryFailures.inc();
        const e = asDcosError(err, Code.UNAVAILABLE);
        this.log.warn({ err: e, term }, `Could not commit the elected entry of term ${term}: ${e.message}; retrying`);
        this.delay(this.o.retryMs ?? 100, () => {
          if (this.phase === LeadershipState.ELECTED && this.term === term) this.writeElected(term);
        });
      },
    );
  }

  private lead(term: number): void {
    this.transition(LeadershipState.LEADING, `the elected entry of term ${term} is committed`);
    const registrar = new RaftRegistrar(this.registry, this.o.raft.machine, term);
    const allocator = this.o.allocator();
    this.system
      .dispatch(this.o.master, (m) => m.lead({ term, registrar, allocator, agentReregisterTimeoutMs: this.o.agentReregisterTimeoutMs }))
      .catch((err: unknown) => {
        allocator.stop();
        this.log.error({ err, term }, `The master could not start leading term ${term}`);
      });
  }

  private follow(leader: KnownLeader | undefined, why: string): void {
    this.transition(LeadershipState.FOLLOWING, why);
    this.counters.standDowns.inc();
    this.tellMaster(leader, why);
  }

  private tellMaster(leader: KnownLeader | undefined, why: string): void {
    this.system.dispatch(this.o.master, (m) => m.standDown(leader, why)).catch((err: unknown) => {
      this.log.error({ err }, "The master could not stand down");
    });
  }

  private transition(to: LeadershipState, why: string): void {
    checkTransition(this.phase, to);
    this.log.info({ from: this.phase, to, why }, `Leadership ${this.phase} -> ${to}: ${why}`);
    this.phase = to;
  }
}
