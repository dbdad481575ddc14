import { Facade } from "../runtime/facade.js";
import type { Pid } from "../runtime/pid.js";
import type { LeaderListener, RaftNode, RaftStatus } from "./raft-node.js";
import type { ProposalId, StateMachine } from "./state-machine.js";

/**
 * The replicated state machine as the rest of the system uses it (a facade: the raft
 * actor does the work).
 *
 * - `propose(command)` resolves with the result once the command is applied. On a member
 *   that is not the leader it fails UNAVAILABLE with details.leader = the leader's pid
 *   when known. Its outcome is decided when its log position is applied (the one point
 *   that is final): another leader's entry there → ABORTED ("lost in a leadership
 *   change"), it was not applied. If that does not happen within `proposalTimeoutMs` it
 *   fails DEADLINE_EXCEEDED (outcome unknown); a follower that installs a snapshot past
 *   it fails it UNKNOWN. Retrying with the same ProposalId is always safe: a member
 *   proposes for its own client id with sequences counting up, and a proposal that passes
 *   an explicit ProposalId is applied at most once however often it is retried, on any
 *   member (the last 256 results per client are kept in the replicated state).
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
