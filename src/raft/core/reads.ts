import { notLeader } from "./errors.js";
import { type Progress } from "./progress.js";
import { RaftRole, type Ready, type ReadState } from "./ready.js";
import { RaftElection } from "./election.js";

/** ReadIndex: linearizable read points confirmed by a round of heartbeats. */
export abstract class RaftReads extends RaftElection {
  protected onReadAck(pr: Progress, round: number): void {
    if (round <= pr.readAck) return;
    pr.readAck = round;
    const m = this.membership();
    const confirmed = m.committedIndex((id) => (id === this.id ? this.reads.round : this.replicator.get(id)?.readAck ?? 0));
    for (const r of this.reads.confirm(confirmed)) this.readStates.push(r);
  }

  /** Asks for a linearizable read point; it comes back as a ReadState with `ctx` in a Ready. */
  readIndex(ctx: string): void {
    if (this.roleValue !== RaftRole.Leader) throw notLeader(this.id, this.leaderValue);
    const committedInTerm = this.log.termOrUndefined(this.log.committed) === this.termValue;
    const m = this.membership();
    if (m.voters.size === 1 && m.voters.has(this.id) && committedInTerm) {
      this.readStates.push({ index: this.log.committed, ctx });
      return;
    }
    this.reads.request(ctx, committedInTerm, this.log.committed);
  }

  /** With a single voter, a read round is confirmed by the leader alone. */
  protected onReadAckSelf(): void {
    const m = this.membership();
    if (m.quorum() === 1 && m.voters.has(this.id)) for (const r of this.reads.confirm(this.reads.round)) this.readStates.push(r);
  }
}
