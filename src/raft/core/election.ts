import { Code, DcosError } from "../../runtime/error.js";
import { type RaftMessage, type RaftVoteRequest, type RaftVoteResponse } from "../../gen/dcos/v1/raft_pb.js";
import { RaftRole } from "./ready.js";
import { RaftBase } from "./raft-base.js";

/** Ticks, elections (PreVote, CheckQuorum with the leader lease) and votes. */
export abstract class RaftElection extends RaftBase {
  /** Advances logical time by one tick. */
  tick(): void {
    if (this.roleValue === RaftRole.Leader) this.tickLeader();
    else this.tickElection();
  }

  protected tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(this.preVote ? "pre" : "election");
    }
  }

  protected tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.stats.checkQuorumStepDowns++;
        this.becomeFollower(this.termValue, "", "CheckQuorum: a majority was not heard from in an election timeout");
        return;
      }
      if (this.leadTransferee !== "") this.abortLeaderTransfer("it did not finish within an election timeout");
    }
    this.replicator.detectStalls();
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.replicator.broadcastHeartbeat();
    }
  }

  protected quorumActive(): boolean {
    const active = this.membership().hasQuorum((id) => id === this.id || this.replicator.get(id)?.recentActive === true);
    this.replicator.resetRecentActive();
    return active;
  }

  /** Starts an election now (as an election timeout would). */
  campaign(): void {
    if (this.roleValue === RaftRole.Leader) return;
    if (!this.promotable()) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Raft ${this.id} cannot campaign: it is not a voter of ${this.membership()}`);
    }
    this.startElection(this.preVote ? "pre" : "election");
  }

  protected startElection(kind: "pre" | "election" | "transfer"): void {
    if (kind === "pre") this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = kind === "pre" ? this.termValue + 1 : this.termValue;
    this.votes.set(this.id, true);
    if (this.tally()) return;
    const lastLogIndex = BigInt(this.log.lastIndex());
    const lastLogTerm = BigInt(this.log.lastTerm());
    for (const v of this.membership().voters) {
      if (v === this.id) continue;
      this.send(v, voteTerm, {
        case: "voteRequest",
        value: { preVote: kind === "pre", lastLogIndex, lastLogTerm, leaderTransfer: kind === "transfer" },
      });
    }
  }

  /** Counts the votes; acts on a result. True if the election is decided. */
  protected tally(): boolean {
    const result = this.membership().voteResult(this.votes);
    if (result === "pending") return false;
    if (result === "lost") {
      this.becomeFollower(this.termValue, "", `lost the ${this.roleValue === RaftRole.PreCandidate ? "pre-vote" : "election"}`);
    } else if (this.roleValue === RaftRole.PreCandidate) {
      this.startElection("election");
    } else {
      this.becomeLeader();
    }
    return true;
  }

  protected handleVoteRequest(m: RaftMessage, req: RaftVoteRequest): void {
    const term = Number(m.term);
    const canVote =
      this.voteValue === m.from ||
      (this.voteValue === "" && this.leaderValue === "") ||
      (req.preVote && term > this.termValue);
    const upToDate = this.log.isUpToDate(Number(req.lastLogIndex), Number(req.lastLogTerm));
    // A new server that has not received any membership yet is nobody's voter.
    const granted = canVote && upToDate && !this.membership().isEmpty();
    const kind = req.preVote ? "pre-vote" : "vote";
    this.logger.debug(
      { candidate: m.from, term, granted, vote: this.voteValue, leader: this.leaderValue },
      `Raft ${this.id}: ${granted ? "grants" : "rejects"} ${kind} for ${m.from} in term ${term}` +
        (granted
          ? ""
          : !canVote
            ? ` (already voted for ${this.voteValue || "none"} / leader ${this.leaderValue || "none"})`
            : upToDate
              ? " (this member has no membership yet)"
              : " (its log is behind)"),
    );
    if (granted) {
      this.stats.votesGranted++;
      if (!req.preVote) {
        this.electionElapsed = 0;
        this.voteValue = m.from;
      }
    } else {
      this.stats.votesRejected++;
    }
    // A granted pre-vote answers in the candidate's future term, so it is not stale to it.
    this.send(m.from, granted && req.preVote ? term : this.termValue, {
      case: "voteResponse",
      value: { preVote: req.preVote, granted },
    });
  }

  protected handleVoteResponse(m: RaftMessage, resp: RaftVoteResponse): void {
    const expectPreVote = this.roleValue === RaftRole.PreCandidate;
    if (this.roleValue !== RaftRole.PreCandidate && this.roleValue !== RaftRole.Candidate) {
      return this.drop(m, `this member is ${this.roleValue}`);
    }
    if (resp.preVote !== expectPreVote) return this.drop(m, `it answers a ${resp.preVote ? "pre-vote" : "vote"} this member is not in`);
    if (resp.preVote && resp.granted && Number(m.term) !== this.termValue + 1) return this.drop(m, "it answers an older pre-vote");
    this.votes.set(m.from, resp.granted);
    this.tally();
  }
}
