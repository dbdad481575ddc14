import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import type { RaftAppendEntriesResponse, RaftEntry, RaftMessageSchema } from "../../gen/dcos/v1/raft_pb.js";
import { isCompacted } from "./log-storage.js";
import { Progress, ProgressState } from "./progress.js";
import type { RaftLog } from "./raft-log.js";
import type { RaftStats } from "./stats.js";

/** The body of a RaftMessage, as the core builds it. */
export type RaftMessageBody = NonNullable<MessageInitShape<typeof RaftMessageSchema>["body"]>;

/** What the replicator needs of the Raft member it works for. */
export interface ReplicatorHost {
  readonly id: string;
  readonly log: RaftLog;
  readonly term: number;
  /** The current ReadIndex round, carried by every append and heartbeat. */
  readRound(): number;
  send(to: string, term: number, body: RaftMessageBody): void;
}

export interface ReplicatorOptions {
  maxMsgBytes: number;
  maxInflight: number;
  electionTicks: number;
  heartbeatTicks: number;
}

/**
 * The leader's side of log replication: one Progress per member, and what to send each
 * follower — entries (pipelined in Replicate, one probe at a time in Probe), a snapshot
 * when its next entry is compacted, heartbeats — and how to back off on a rejection.
 */
export class Replicator {
  progress = new Map<string, Progress>();

  constructor(
    private readonly host: ReplicatorHost,
    private readonly options: ReplicatorOptions,
    private readonly logger: Logger,
    private readonly stats: RaftStats,
  ) {}

  get(id: string): Progress | undefined {
    return this.progress.get(id);
  }

  /** Starts tracking a member from the end of the log. */
  add(id: string, minRound: number): Progress {
    const pr = new Progress(this.host.log.lastIndex() + 1, this.options.maxInflight, minRound);
    this.progress.set(id, pr);
    return pr;
  }

  private followers(): [string, Progress][] {
    return [...this.progress].filter(([id]) => id !== this.host.id);
  }

  broadcastAppend(sendIfEmpty: boolean): void {
    for (const [id] of this.followers()) this.sendAppend(id, sendIfEmpty);
  }

  /** Sends the follower its next entries (or a snapshot); false if nothing was sent. */
  sendAppend(to: string, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const log = this.host.log;
    const prev = pr.next - 1;
    const prevTerm = log.termOrUndefined(prev);
    let entries: RaftEntry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        entries = log.entries(pr.next, log.lastIndex() + 1, this.options.maxMsgBytes);
      } catch (e) {
        if (!isCompacted(e)) throw e;
      }
    }
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.sendAppendRequest(to, prev, prevTerm, entries, log.committed);
    if (entries.length > 0) pr.sentEntries(Number(entries[entries.length - 1]!.index));
    else if (pr.state === ProgressState.Probe) pr.probeSent = true;
    return true;
  }

  private sendAppendRequest(to: string, prev: number, prevTerm: number, entries: RaftEntry[], commit: number): void {
    this.host.send(to, this.host.term, {
      case: "appendEntriesRequest",
      value: {
        prevLogIndex: BigInt(prev),
        prevLogTerm: BigInt(prevTerm),
        entries,
        leaderCommit: BigInt(commit),
        readRound: BigInt(this.host.readRound()),
      },
    });
  }

  private sendSnapshot(to: string, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`Raft ${this.host.id}: not sending a snapshot to ${to}: it was not heard from recently`);
      return false;
    }
    const snapshot = this.host.log.snapshot();
    const index = Number(snapshot.metadata?.index ?? 0n);
    if (index === 0) throw new DcosError(Code.INTERNAL, `Raft ${this.host.id}: ${to} needs a snapshot but the storage has none`);
    this.logger.info({ peer: to, index }, `Raft ${this.host.id}: sends the snapshot at ${index} to ${to} (${pr})`);
    pr.becomeSnapshot(index);
    this.stats.snapshotsSent++;
    this.host.send(to, this.host.term, { case: "installSnapshotRequest", value: { snapshot } });
    return true;
  }

  /** An empty append at the follower's match: resets its election timer, carries the
   *  commit index it can take and the read round. */
  private sendHeartbeat(to: string, pr: Progress): void {
    const prevTerm = this.host.log.termOrUndefined(pr.match);
    if (prevTerm === undefined) this.sendAppendRequest(to, 0, 0, [], 0);
    else this.sendAppendRequest(to, pr.match, prevTerm, [], Math.min(this.host.log.committed, pr.match));
  }

  broadcastHeartbeat(): void {
    const last = this.host.log.lastIndex();
    for (const [id, pr] of this.followers()) {
      // A probe that went unanswered is sent again (empty if `next` is past the end: the
      // answer still tells where the follower's log matches).
      if (pr.state === ProgressState.Probe && pr.match < last) {
        pr.probeSent = false;
        if (this.sendAppend(id)) continue;
      }
      this.sendHeartbeat(id, pr);
    }
  }

  /** Followers whose match has not moved for a while go back to probing (a lost append
   *  or snapshot would otherwise stall them until the next proposal). */
  detectStalls(): void {
    const last = this.host.log.lastIndex();
    const replicateLimit = Math.max(3, 2 * this.options.heartbeatTicks);
    for (const [id, pr] of this.followers()) {
      if (pr.match >= last && pr.state !== ProgressState.Snapshot) {
        pr.stalledTicks = 0;
        continue;
      }
      pr.stalledTicks++;
      const limit = pr.state === ProgressState.Snapshot ? this.options.electionTicks : replicateLimit;
      if (pr.state !== ProgressState.Probe && pr.stalledTicks >= limit) {
        this.logger.debug({ peer: id, progress: pr.toString() }, `Raft ${this.host.id}: ${id} stalled, probing again`);
        pr.becomeProbe();
      }
    }
  }

  /** The follower rejected an append: move back using its hint (one step per term of conflict). */
  onRejected(from: string, pr: Progress, resp: RaftAppendEntriesResponse): void {
    let hint = Number(resp.hintIndex);
    if (resp.hintTerm > 0n) hint = this.host.log.findConflictByTerm(hint, Number(resp.hintTerm)).index;
    if (!pr.maybeDecrTo(Number(resp.index), hint)) return;
    if (pr.state === ProgressState.Replicate) pr.becomeProbe();
    this.sendAppend(from);
  }

  /** Forgets the progress of members that left. */
  retain(isMember: (id: string) => boolean): void {
    for (const id of [...this.progress.keys()]) if (!isMember(id)) this.progress.delete(id);
  }

  /** Marks every follower as not heard from (a new CheckQuorum round). */
  resetRecentActive(): void {
    for (const [, pr] of this.followers()) pr.recentActive = false;
  }
}
