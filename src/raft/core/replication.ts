import { type MessageInitShape } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import { RaftAppendEntriesResponseSchema, type RaftAppendEntriesRequest, type RaftMessage, type RaftSnapshot } from "../../gen/dcos/v1/raft_pb.js";
import { Membership } from "./membership.js";
import { ProgressState, type Progress } from "./progress.js";
import { RaftRole } from "./ready.js";
import { RaftReads } from "./reads.js";

/** Log replication: the follower's appends and snapshots, the leader's progress and commit. */
export abstract class RaftReplication extends RaftReads {
  /**
   * Answers an append. A success replaces the success to the same leader queued just
   * before it (appends arriving one per proposal while a write runs): acknowledgements are
   * cumulative (the leader takes the highest index and read round), so one answer per
   * write carries what several did.
   */
  protected respondAppend(to: string, value: MessageInitShape<typeof RaftAppendEntriesResponseSchema>): void {
    const prev = this.messages[this.messages.length - 1];
    if (value.success && prev && prev.to === to && Number(prev.term) === this.termValue && prev.body.case === "appendEntriesResponse") {
      const p = prev.body.value;
      if (p.success && !p.writing && p.index <= (value.index ?? 0n) && p.readRound <= (value.readRound ?? 0n)) this.messages.pop();
    }
    this.send(to, this.termValue, { case: "appendEntriesResponse", value: value });
  }

  /** Entries must follow prev_log_index one by one, with terms between prev_log_term and the message's term. */
  protected validateAppend(m: RaftMessage, req: RaftAppendEntriesRequest): void {
    let index = Number(req.prevLogIndex);
    let term = Number(req.prevLogTerm);
    for (const e of req.entries) {
      const t = Number(e.term);
      if (Number(e.index) !== index + 1 || t < term || t > Number(m.term)) {
        throw new DcosError(
          Code.INVALID_ARGUMENT,
          `Append from ${m.from} is malformed: entry (${e.index}, term ${e.term}) does not follow (${index}, term ${term}) in term ${m.term}`,
        );
      }
      index++;
      term = t;
    }
  }

  protected handleAppend(m: RaftMessage, req: RaftAppendEntriesRequest): void {
    this.validateAppend(m, req);
    const prev = Number(req.prevLogIndex);
    const readRound = req.readRound;
    if (prev < this.log.committed) {
      return this.respondAppend(m.from, { success: true, index: BigInt(this.log.committed), readRound });
    }
    const result = this.log.maybeAppend(prev, Number(req.prevLogTerm), Number(req.leaderCommit), req.entries);
    if (result) {
      if (result.appended.length > 0) this.recordAppended(result.appended);
      return this.respondAppend(m.from, { success: true, index: BigInt(result.lastNew), readRound });
    }
    this.stats.appendsRejected++;
    const hint = this.log.findConflictByTerm(Math.min(prev, this.log.lastIndex()), Number(req.prevLogTerm));
    this.logger.debug(
      { leader: m.from, prev, prevTerm: Number(req.prevLogTerm), hint },
      `Raft ${this.id}: rejects append after ${prev}: the log does not match there`,
    );
    this.respondAppend(m.from, {
      success: false,
      index: BigInt(prev),
      hintIndex: BigInt(hint.index),
      hintTerm: BigInt(hint.term),
      readRound,
    });
  }

  protected handleSnapshot(m: RaftMessage, snapshot: RaftSnapshot | undefined): void {
    const meta = snapshot?.metadata;
    if (!snapshot || !meta) throw new DcosError(Code.INVALID_ARGUMENT, `InstallSnapshot from ${m.from} carries no snapshot metadata`);
    const index = Number(meta.index);
    const term = Number(meta.term);
    if (index <= this.log.committed) {
      this.drop(m, `the snapshot at ${index} is not newer than the commit index ${this.log.committed}`);
    } else if (this.log.matchTerm(index, term)) {
      // Our log already has the snapshot's last entry: fast-forward the commit index.
      this.log.commitTo(index);
    } else {
      this.logger.info({ index, term }, `Raft ${this.id}: installs the snapshot at ${index} (term ${term}) from ${m.from}`);
      this.log.restore(snapshot);
      this.memberships.reset(index, Membership.fromProto(meta.membership));
      this.syncProgress();
      this.stats.snapshotsInstalled++;
    }
    this.send(m.from, this.termValue, { case: "installSnapshotResponse", value: { index: BigInt(this.log.committed) } });
  }

  protected handleAppendResponse(m: RaftMessage): void {
    if (this.roleValue !== RaftRole.Leader) return this.drop(m, `this member is ${this.roleValue}`);
    const pr = this.replicator.get(m.from);
    if (!pr) return this.drop(m, `${m.from} is not a member`);
    const body = m.body;
    if (body.case === "appendEntriesResponse" && Number(body.value.readRound) < pr.minRound) {
      return this.drop(m, `it answers a message sent before ${m.from} was added`);
    }
    pr.recentActive = true;
    if (m.fromGeneration !== "" && !this.membership().generations.has(m.from)) this.learnedGenerations.set(m.from, m.fromGeneration);
    if (body.case === "appendEntriesResponse") {
      const resp = body.value;
      this.onReadAck(pr, Number(resp.readRound));
      if (resp.writing) return; // alive, and the read round; the entries are acknowledged once durable
      if (!resp.success) return this.replicator.onRejected(m.from, pr, resp);
      this.onMatch(m.from, pr, Number(resp.index));
    } else if (body.case === "installSnapshotResponse") {
      this.onMatch(m.from, pr, Number(body.value.index));
    }
  }

  protected onMatch(from: string, pr: Progress, index: number): void {
    if (pr.maybeUpdate(index)) {
      if (pr.state === ProgressState.Probe) pr.becomeReplicate();
      else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      if (this.maybeCommit()) this.broadcastPending = true;
      if (from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.logger.info(`Raft ${this.id}: ${from} caught up, sends TimeoutNow`);
        this.send(from, this.termValue, { case: "timeoutNow", value: {} });
      }
    } else if (pr.state === ProgressState.Snapshot && index >= pr.pendingSnapshot) {
      pr.becomeProbe();
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = false;
    }
    while (this.roleValue === RaftRole.Leader && this.replicator.sendAppend(from, false)) {
      /* pipeline what is left */
    }
  }

  /** Commits the largest index a majority of voters has, if it is of the current term. */
  protected maybeCommit(): boolean {
    const index = this.membership().committedIndex((id) => this.replicator.get(id)?.match ?? 0);
    if (!this.log.maybeCommit(index, this.termValue)) return false;
    this.reads.committedInTerm(this.log.committed);
    const m = this.membership();
    if (!m.voters.has(this.id) && this.log.committed >= this.memberships.currentIndex()) {
      this.becomeFollower(this.termValue, "", "this member was removed from the voters");
    }
    return true;
  }
}
