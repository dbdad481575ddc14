import { Facade } from "../runtime/facade.js";
import type { Pid } from "../runtime/pid.js";
import type { LeaderListener, RaftNode, RaftStatus } from "./node.js";

/**
 * A deterministic state machine replicated by Raft. `apply` depends only on the command
 * (and the index it is applied at), never on the wall clock or randomness, so every
 * member reaches the same state. A thrown DcosError is the proposer's result.
 */
export interface StateMachine {
  apply(command: Uint8Array, index: number): Uint8Array;
  /** The whole state, for a snapshot. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(state: Uint8Array): void;
}

/** Who a proposal is from, so that a retry after a leadership change applies at most once. */
export interface ProposalId {
  client: string;
  sequence: number;
}

/**
 * The replicated state machine as the rest of the system uses it (a facade: the raft
 * actor does the work).
 *
 * - `propose(command)` resolves with the result once the command is applied. On a member
 *   that is not the leader it fails UNAVAILABLE with details.leader = the leader's pid
 *   when known. A proposal whose log position was taken by another leader's entry fails
 *   ABORTED ("lost in a leadership change"); it was not applied. Each facade is one client
 *   (a random id, sequences counting up); proposals that pass an explicit ProposalId are
 *   applied at most once however often they are retried, on any member.
 * - `read(fn)` runs fn on the machine at a linearizable point (ReadIndex: the leader
 *   confirms with a majority that it still leads, then waits until it has applied the
 *   commit index of the time of the request).
 */
export class ReplicatedStateMachine<M extends StateMachine> extends Facade<RaftNode<M>> {
  propose(command: Uint8Array, id?: ProposalId): Promise<Uint8Array> {
    return this.call((node) => node.propose(command, id));
  }

  read<T>(fn: (machine: M) => T): Promise<T> {
    return this.call((node) => node.read(fn));
  }

  /** The leader's pid, as far as this member knows. */
  leader(): Promise<Pid | undefined> {
    return this.call((node) => node.leaderPid());
  }

  status(): Promise<RaftStatus> {
    return this.call((node) => node.status());
  }

  /** Calls listener (outside the actor) on every change of leader or term; returns an unsubscribe. */
  onLeaderChange(listener: LeaderListener): () => void {
    return this.actor.onLeaderChange(listener);
  }

  /** Asks the leader to hand leadership to another voter. */
  transferLeadership(to: Pid): Promise<void> {
    return this.call((node) => node.transferLeadership(to));
  }
}
