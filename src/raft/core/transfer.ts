import { Code, DcosError } from "../../runtime/error.js";
import { notLeader } from "./errors.js";
import { RaftRole } from "./ready.js";
import { RaftMembershipChanges } from "./membership-changes.js";

/** Leader transfer (TimeoutNow once the transferee is caught up). */
export abstract class RaftTransfer extends RaftMembershipChanges {
  /** Hands leadership to a voter: catch it up, then tell it to campaign at once. */
  transferLeader(to: string): void {
    if (this.roleValue !== RaftRole.Leader) throw notLeader(this.id, this.leaderValue);
    if (!this.membership().voters.has(to)) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot transfer leadership to ${to}: it is not a voter`);
    }
    if (to === this.id) {
      if (this.leadTransferee !== "") this.abortLeaderTransfer("the leader keeps leadership");
      return;
    }
    if (this.leadTransferee === to) return;
    if (this.leadTransferee !== "") this.abortLeaderTransfer(`a transfer to ${to} replaces it`);
    this.logger.info(`Raft ${this.id}: transfers leadership to ${to}`);
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.replicator.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send(to, this.termValue, { case: "timeoutNow", value: {} });
    else this.replicator.sendAppend(to);
  }
}
