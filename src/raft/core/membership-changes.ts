import { Code, DcosError } from "../../runtime/error.js";
import { RaftEntryType, RaftMembershipChangeType, type RaftMembershipChange, type RaftMessage } from "../../gen/dcos/v1/raft_pb.js";
import { type ProposalPosition } from "./ready.js";
import { RaftReplication } from "./replication.js";

/** One-server-at-a-time membership changes, and pinning member generations. */
export abstract class RaftMembershipChanges extends RaftReplication {
  /**
   * Proposes one membership change. Refused while another is uncommitted (or before the
   * leader committed its first entry); a learner is promoted only once caught up.
   */
  proposeMembershipChange(change: RaftMembershipChange): ProposalPosition {
    this.requireLeader();
    if (this.pendingMembershipIndex > this.log.committed) {
      throw new DcosError(
        Code.FAILED_PRECONDITION,
        `A membership change is in progress: entry ${this.pendingMembershipIndex} is not committed yet (commit ${this.log.committed})`,
      );
    }
    const next = this.membership().apply(change);
    if (change.type === RaftMembershipChangeType.PROMOTE) {
      // Caught up: it has at least the entry that added it (so it knows it is a member),
      // and is within promoteMaxLag of the commit index.
      const match = this.replicator.get(change.member)?.match ?? 0;
      if (match < this.memberships.memberSince(change.member) || match + this.promoteMaxLag < this.log.committed) {
        throw new DcosError(
          Code.FAILED_PRECONDITION,
          `Cannot promote ${change.member}: it is not caught up (it has ${match} of ${this.log.committed} committed entries)`,
        );
      }
    }
    const pos = this.appendOwn(RaftEntryType.MEMBERSHIP, next.encode());
    this.pendingMembershipIndex = pos.index;
    this.logger.info(`Raft ${this.id}: proposes membership ${next} at ${pos.index}`);
    return pos;
  }

  /**
   * Records the generations heard from members not pinned yet, in a membership entry with
   * the same voters and learners (when no other membership change is in progress).
   */
  protected maybePinGenerations(): void {
    if (!this.membership().generations.has(this.id)) this.learnedGenerations.set(this.id, this.generation);
    if (this.leadTransferee !== "" || this.pendingMembershipIndex > this.log.committed) return;
    const current = this.membership();
    const pins = current.unpinned(this.learnedGenerations);
    this.learnedGenerations.clear();
    if (pins.length === 0) return;
    const next = current.withGenerations(pins);
    const pos = this.appendOwn(RaftEntryType.MEMBERSHIP, next.encode());
    this.pendingMembershipIndex = pos.index;
    this.stats.generationsPinned += pins.length;
    this.logger.info({ pins: Object.fromEntries(pins) }, `Raft ${this.id}: pins member generations at ${pos.index}`);
  }

  /**
   * A server that is not in this leader's membership asked for a (pre-)vote: it was removed
   * and never learnt it (the leader stops replicating to a member once the entry removing
   * it is appended), so it still counts itself a voter and campaigns on every election
   * timeout, for ever. Its requests are refused (members in the lease drop them, and its
   * log lacks at least the removal), so it cannot disrupt the group; but it keeps sending
   * them. The leader catches it up as a follower (probe, backtrack, a snapshot if need be)
   * until it holds the current membership, which makes it stop (it is no voter of it), and
   * then forgets it (or after two CheckQuorum rounds without an answer; raft-base.ts `leaving`).
   */
  protected tellRemoved(id: string): void {
    if (this.replicator.get(id)) return;
    this.stats.removedServersTold++;
    this.logger.info(`Raft ${this.id}: ${id} is not a member but campaigns; sends it the log up to its removal`);
    this.addLeaving(id);
    this.replicator.sendAppend(id);
  }

  /** A leaving server's answer: forgotten once it holds the current membership. */
  protected override handleAppendResponse(m: RaftMessage): void {
    super.handleAppendResponse(m);
    if (!this.leaving.has(m.from)) return;
    const pr = this.replicator.get(m.from);
    if (pr && pr.match < this.memberships.currentIndex()) return;
    this.forgetLeaving(m.from);
  }
}
