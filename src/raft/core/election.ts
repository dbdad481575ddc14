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
      const quick = this.quickElectionArmed;
      if (quick) this.stats.quickElections++;
      this.electionElapsed = 0;
      this.startElection(this.preVote ? "pre" : "election", quick);
    }
  }

  /**
   * The driver's connection to member `id` broke (its process died, or the network between
   * them failed). If `id` is the leader this member follows, the member takes the leader
   * for lost without waiting out the election timeout: it starts a (pre-)election within
   * 1 to electionTicks/5 ticks (randomized, so that the followers of a dead leader, which
   * all notice at once, rarely collide; a collision is a split vote, settled by the normal
   * randomized timeout), and until it hears from a leader again it grants pre-votes inside
   * the leader's lease (a follower still hearing the leader does not: a link broken
   * between one follower and a live leader deposes nobody). Once per leader heard: a
   * connection that flaps costs at most one pre-vote per time the leader is heard again.
   */
  peerUnreachable(id: string): void {
    if (this.roleValue !== RaftRole.Follower || id === "" || id !== this.leaderValue || this.leaderLinkLost) return;
    this.leaderLinkLost = true;
    this.quickElectionArmed = true;
    this.stats.leaderLinksLost++;
    const soon = this.electionElapsed + 1 + this.random.int(Math.max(1, Math.floor(this.electionTicks / 5)));
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, soon);
    this.logger.info(
      { leader: id, term: this.termValue, inTicks: this.randomizedElectionTimeout - this.electionElapsed },
      `Raft ${this.id}: the connection to leader ${id} broke; electing in ${this.randomizedElectionTimeout - this.electionElapsed} ticks unless it is heard again`,
    );
  }

  /** A message from the leader (an append or a snapshot): a broken connection to it healed. */
  protected leaderHeard(): void {
    if (!this.leaderLinkLost) return;
    this.leaderLinkLost = false;
    this.disarmQuickElection();
  }

  /** Back to the normal randomized election timeout. */
  protected disarmQuickElection(): void {
    if (!this.quickElectionArmed) return;
    this.quickElectionArmed = false;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
  }

  /** True while a leader heard within the election timeout holds this member's vote (CheckQuorum's lease). */
  protected inLeaderLease(): boolean {
    return this.checkQuorum && this.leaderValue !== "" && !this.leaderLinkLost && this.electionElapsed < this.electionTicks;
  }

  protected tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      this.forgetSilentLeaving();
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

  protected startElection(kind: "pre" | "election" | "transfer", quick = false): void {
    if (kind === "pre") this.becomePreCandidate(quick);
    else this.becomeCandidate();
    this.votes.set(this.id, true);
    if (this.tally()) return;
    for (const v of this.membership().voters) if (v !== this.id) this.requestVote(v, kind);
  }

  private requestVote(to: string, kind: "pre" | "election" | "transfer"): void {
    this.send(to, kind === "pre" ? this.termValue + 1 : this.termValue, {
      case: "voteRequest",
      value: { preVote: kind === "pre", lastLogIndex: BigInt(this.log.lastIndex()), lastLogTerm: BigInt(this.log.lastTerm()), leaderTransfer: kind === "transfer" },
    });
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
    const yields = this.yieldsTo(m.from, term, req);
    // A new server that has not received any membership yet is nobody's voter.
    const granted = canVote && upToDate && yields && !this.membership().isEmpty();
    const kind = req.preVote ? "pre-vote" : "vote";
    this.logger.debug(
      { candidate: m.from, term, granted, vote: this.voteValue, leader: this.leaderValue },
      `Raft ${this.id}: ${granted ? "grants" : "rejects"} ${kind} for ${m.from} in term ${term}` +
        (granted
          ? ""
          : !canVote
            ? ` (already voted for ${this.voteValue || "none"} / leader ${this.leaderValue || "none"})`
            : !upToDate
              ? " (its log is behind)"
              : !yields
                ? " (both lost the leader at once and pre-vote with equal logs: the lower id goes first)"
                : " (this member has no membership yet)"),
    );
    if (granted) {
      this.stats.votesGranted++;
      if (!req.preVote) {
        this.electionElapsed = 0;
        this.voteValue = m.from;
      }
      // Another member is electing: this one's quick election would only split the vote.
      this.disarmQuickElection();
      if (req.preVote && this.roleValue === RaftRole.PreCandidate && this.quickPreVote) {
        // Its own quick pre-vote too: the followers grant both (pre-votes are not exclusive),
        // and both would stand in the same term and split it.
        this.becomeFollower(this.termValue, "", `granted ${m.from}'s pre-vote: gives up its own`);
      }
    } else {
      this.stats.votesRejected++;
    }
    // A granted pre-vote answers in the candidate's future term, so it is not stale to it.
    this.send(m.from, granted && req.preVote ? term : this.termValue, {
      case: "voteResponse",
      value: { preVote: req.preVote, granted },
    });
    // The member yielding to this one may not have its request (sent before it lost the leader, refused in the lease).
    if (!yields) this.requestVote(m.from, "pre");
  }

  /**
   * False when this member and `from` both started a quick pre-vote for the same term with
   * equal logs (their leader died and both noticed at once): each would grant the other's,
   * both would stand and split the vote; so the higher id yields to the lower. Only for a
   * pre-vote round started by a quick election: a pre-vote on the election timeout grants
   * as before (an asymmetric partition cannot hold an election up beyond one timeout).
   */
  private yieldsTo(from: string, term: number, req: RaftVoteRequest): boolean {
    if (!req.preVote || !this.quickPreVote || this.roleValue !== RaftRole.PreCandidate || term !== this.termValue + 1) return true;
    const sameLog = Number(req.lastLogIndex) === this.log.lastIndex() && Number(req.lastLogTerm) === this.log.lastTerm();
    return !sameLog || from < this.id;
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
