import { Code, DcosError } from "../../runtime/error.js";
import { clone } from "@bufbuild/protobuf";
import { RaftEntryType, RaftMessageSchema, type RaftAppendEntriesResponse, type RaftHardState, type RaftMessage } from "../../gen/dcos/v1/raft_pb.js";
import { RaftRole, type ProposalPosition, type Ready, type SoftState } from "./ready.js";
import { RaftTransfer } from "./transfer.js";
export { newGeneration, type RaftConfig } from "./raft-base.js";

/**
 * The Raft protocol as a pure object (in the style of etcd's raft): no timers, sockets or
 * disk. The driver calls `tick()` on a timer, `step(message)` for every message received,
 * `propose` / `readIndex` / `transferLeader` / `proposeMembershipChange` for clients, and
 * loops `ready()` → persist, send, apply → `advance(ready)`.
 *
 * Implements: elections with randomized timeouts, PreVote, CheckQuorum (with the leader
 * lease that makes voters ignore disruptive candidates), log replication with pipelining
 * and fast backtracking by hints, commit by counting of current-term entries only, leader
 * transfer (TimeoutNow), snapshots (InstallSnapshot), ReadIndex, and one-server-at-a-time
 * membership changes that take effect when appended.
 */
export class Raft extends RaftTransfer {
  /** tick() calls so far; the tick and read round of the last `writing` copy (takeFollowerAcks). */
  private ticks = 0;
  private writingSentTick = -1;
  private writingSentRound = -1;

  override tick(): void {
    this.ticks++;
    super.tick();
  }

  /** Handles one message from another member. Throws INVALID_ARGUMENT for a malformed one. */
  step(m: RaftMessage): void {
    if (m.body.case === undefined) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Raft message from ${m.from || "(no sender)"} to ${m.to} has no body`);
    }
    if (m.to !== this.id) return this.drop(m, `it is addressed to ${m.to}`);
    if (m.group !== this.group) return this.drop(m, `it is for group ${m.group}, not ${this.group}`);
    if (!this.sameGeneration(m)) return;
    const term = Number(m.term);
    const body = m.body;
    if (this.roleValue === RaftRole.Leader && !this.membership().has(m.from)) {
      // A server this leader's membership does not have (removed, or never added): it may
      // not depose the leader (a newer leader would be known from the members), and if it
      // campaigns it is told it was removed.
      if (body.case === "voteRequest") this.tellRemoved(m.from);
      if (term > this.termValue) return this.drop(m, `${m.from} is not a member: its term ${term} does not count`);
    }
    if (term > this.termValue) {
      if (body.case === "voteRequest") {
        if (this.inLeaderLease() && !body.value.leaderTransfer) {
          return this.drop(m, `a leader (${this.leaderValue}) was heard from within the election timeout`);
        }
      }
      const preVoteTraffic =
        (body.case === "voteRequest" && body.value.preVote) || (body.case === "voteResponse" && body.value.preVote && body.value.granted);
      if (!preVoteTraffic) {
        const fromLeader = body.case === "appendEntriesRequest" || body.case === "installSnapshotRequest";
        if (this.roleValue === RaftRole.Leader) this.stats.spuriousElections++;
        this.becomeFollower(term, fromLeader ? m.from : "", `saw term ${term} from ${m.from}`);
      }
    } else if (term < this.termValue) {
      if ((this.checkQuorum || this.preVote) && body.case === "appendEntriesRequest") {
        // A stale leader: our higher term in the answer makes it step down.
        this.send(m.from, this.termValue, { case: "appendEntriesResponse", value: { success: false } });
      } else if (body.case === "voteRequest" && body.value.preVote) {
        this.send(m.from, this.termValue, { case: "voteResponse", value: { preVote: true, granted: false } });
      }
      return this.drop(m, `its term ${term} is older than ${this.termValue}`);
    }

    switch (body.case) {
      case "voteRequest":
        return this.handleVoteRequest(m, body.value);
      case "voteResponse":
        return this.handleVoteResponse(m, body.value);
      case "appendEntriesRequest":
      case "installSnapshotRequest":
        if (this.roleValue === RaftRole.Leader) return this.drop(m, `this member leads term ${this.termValue}`);
        if (this.roleValue !== RaftRole.Follower) this.becomeFollower(this.termValue, m.from, `${m.from} leads term ${term}`);
        this.electionElapsed = 0;
        this.leaderHeard();
        this.leaderValue = m.from;
        if (body.case === "appendEntriesRequest") return this.handleAppend(m, body.value);
        return this.handleSnapshot(m, body.value.snapshot);
      case "appendEntriesResponse":
      case "installSnapshotResponse":
        return this.handleAppendResponse(m);
      case "installSnapshotChunk":
        return this.drop(m, "snapshot chunks are put together by the member's driver, not stepped one by one");
      case "timeoutNow":
        if (this.roleValue !== RaftRole.Follower) return this.drop(m, `this member is ${this.roleValue}`);
        if (!this.promotable()) return this.drop(m, "this member is not a voter");
        this.logger.info(`Raft ${this.id}: leader ${m.from} transfers leadership here`);
        this.stats.leaderTransfers++;
        return this.startElection("transfer");
    }
  }

  /** Appends a command; it succeeded iff the entry applied at the returned index has the returned term. */
  propose(data: Uint8Array): ProposalPosition {
    this.requireLeader();
    this.stats.proposals++;
    return this.appendOwn(RaftEntryType.NORMAL, data);
  }

  /** Sends what proposals, commits and reads are waiting for (batched per Ready). */
  protected flush(): void {
    if (this.roleValue !== RaftRole.Leader) return;
    if (this.reads.hasQueued()) {
      this.reads.startRound();
      this.replicator.broadcastHeartbeat();
      this.onReadAckSelf();
    }
    this.maybePinGenerations();
    if (this.broadcastPending) {
      this.broadcastPending = false;
      this.replicator.broadcastAppend(true);
    }
  }

  /**
   * A leader's messages to send now, while the outstanding Ready is being written: the
   * appends of entries proposed since, so that followers write them
   * in parallel with the leader's own write (Raft thesis 10.2.1) instead of after it. Safe
   * because nothing a leader sends promises anything about its own disk: it counts itself
   * toward commit only at advance(). Empty unless a Ready is outstanding and this member
   * leads in a term that is already durable (a leader elected while its term and vote
   * are still being written waits, as its votes did); otherwise the next Ready carries them.
   */
  takeLeaderMessages(): RaftMessage[] {
    if (!this.outstanding || this.roleValue !== RaftRole.Leader || this.durableTerm !== this.termValue) return [];
    // Only appends that carry entries: commit-only updates (every acknowledgement moves the
    // commit index) wait for the next Ready, which sends them once for all (broadcastPending stays).
    if (this.broadcastPending) this.replicator.broadcastAppend(false);
    const out = this.messages;
    this.messages = [];
    return out;
  }

  /**
   * A follower's answers to send now, while the outstanding Ready is being written: append
   * responses that promise nothing that write (or a later one) adds — a success whose index
   * is below every entry not yet durable (a heartbeat's answer), or a rejection — in a term
   * that is already durable; and for an answer that acknowledges entries being written, a
   * copy marked `writing`, which tells the leader only that this member is alive and its
   * read round (the answer itself waits for the write), at most one per tick unless the read
   * round changed. So a slow fsync does not silence a follower toward its leader (check
   * quorum, ReadIndex rounds). Votes wait for the write.
   */
  takeFollowerAcks(): RaftMessage[] {
    if (!this.outstanding || this.roleValue === RaftRole.Leader || this.durableTerm !== this.termValue || this.messages.length === 0) return [];
    if (this.log.unstableSnapshot) return [];
    const stableUpTo = this.log.offset - 1;
    const out: RaftMessage[] = [];
    const keep: RaftMessage[] = [];
    for (const m of this.messages) {
      const b = m.body;
      if (b.case !== "appendEntriesResponse" || Number(m.term) !== this.termValue) keep.push(m);
      else if (!b.value.success || Number(b.value.index) <= stableUpTo) out.push(m);
      else {
        // It acknowledges entries being written: that waits for the write, but a copy
        // marked `writing` (liveness and the read round only) goes now — one per tick and
        // read round: appends that arrive many to a write (one per proposal at 1,000/s)
        // need not each cost the leader an answer that carries nothing new.
        keep.push(m);
        const round = Number(b.value.readRound);
        if (this.writingSentTick === this.ticks && this.writingSentRound === round) continue;
        this.writingSentTick = this.ticks;
        this.writingSentRound = round;
        const early = clone(RaftMessageSchema, m);
        (early.body.value as RaftAppendEntriesResponse).writing = true;
        out.push(early);
      }
    }
    this.messages = keep;
    return out;
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    if (this.messages.length > 0 || this.readStates.length > 0 || this.log.unstableEntries.length > 0) return true;
    if (this.log.unstableSnapshot || this.log.hasNextCommittedEntries()) return true;
    if (this.roleValue === RaftRole.Leader && (this.broadcastPending || this.reads.hasQueued())) return true;
    return !sameHardState(this.hardState(), this.prevHardState) || !sameSoftState(this.softState(), this.prevSoftState);
  }

  /** The next batch of work; call advance(ready) once it is done. */
  ready(): Ready {
    if (this.outstanding) throw new DcosError(Code.FAILED_PRECONDITION, `Raft ${this.id}: ready() called again before advance()`);
    this.flush();
    const rd: Ready = {
      entries: this.log.unstableEntries.slice(),
      committedEntries: this.log.nextCommittedEntries(this.maxCommittedBytes),
      messages: this.messages,
      readStates: this.readStates,
    };
    if (this.log.unstableSnapshot) rd.snapshot = this.log.unstableSnapshot;
    this.messages = [];
    this.readStates = [];
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    const ss = this.softState();
    if (!sameSoftState(ss, this.prevSoftState)) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    this.outstanding = rd;
    return rd;
  }

  /** The driver persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    if (ready !== this.outstanding) throw new DcosError(Code.FAILED_PRECONDITION, `Raft ${this.id}: advance() of a Ready that is not outstanding`);
    this.outstanding = undefined;
    if (ready.hardState) this.durableTerm = Number(ready.hardState.term);
    const snapIndex = ready.snapshot?.metadata?.index;
    if (snapIndex !== undefined) this.log.stableSnapshotTo(Number(snapIndex));
    const last = ready.entries[ready.entries.length - 1];
    if (last) this.log.stableTo(Number(last.index), Number(last.term));
    const applied = ready.committedEntries[ready.committedEntries.length - 1];
    if (applied) this.log.appliedTo(Number(applied.index));
    if (this.roleValue === RaftRole.Leader && last) {
      const self = this.replicator.get(this.id);
      if (self && self.maybeUpdate(this.stableIndex()) && this.maybeCommit()) this.broadcastPending = true;
    }
  }

  /** True between ready() and advance(). */
  get hasOutstandingReady(): boolean {
    return this.outstanding !== undefined;
  }
}

function sameHardState(a: RaftHardState, b: RaftHardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit && a.generation === b.generation;
}


function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.term === b.term && a.leader === b.leader && a.role === b.role;
}
