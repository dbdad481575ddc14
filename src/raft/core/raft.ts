import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { Random } from "../../runtime/random.js";
import {
  RaftEntrySchema,
  RaftEntryType,
  RaftHardStateSchema,
  RaftMembershipChangeType,
  RaftMessageSchema,
  RaftAppendEntriesResponseSchema,
  type RaftAppendEntriesRequest,
  type RaftEntry,
  type RaftHardState,
  type RaftMembershipChange,
  type RaftMessage,
  type RaftSnapshot,
  type RaftSnapshotMetadata,
  type RaftVoteRequest,
  type RaftVoteResponse,
  RaftSnapshotMetadataSchema,
} from "../../gen/dcos/v1/raft_pb.js";
import { illegalTransition, notLeader, transferInProgress } from "./errors.js";
import type { RaftLogStorage } from "./log-storage.js";
import { Membership, MembershipHistory } from "./membership.js";
import { ProgressState, type Progress } from "./progress.js";
import { Replicator, type RaftMessageBody, type ReplicatorHost } from "./replicator.js";
import { RaftLog } from "./raft-log.js";
import { ReadIndexQueue } from "./read-index.js";
import { RaftRole, type ProposalPosition, type Ready, type ReadState, type SoftState } from "./ready.js";
import { RaftStats } from "./stats.js";

export interface RaftConfig {
  /** This member's id (the raft actor uses its pid, "raft@host:port"). */
  id: string;
  storage: RaftLogStorage;
  /** Seeded in tests: randomizes election timeouts. */
  random: Random;
  /** This member's storage generation; default: the storage's hard state's, else a new random one
   *  (persisted with the first hard state). */
  generation?: string;
  /** Messages of other groups are dropped. */
  group?: string;
  /** Ticks without hearing from a leader before an election (randomized in [n, 2n)). Default 10. */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  heartbeatTicks?: number;
  /** Ask whether an election could be won before disrupting anyone. Default true. */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a majority for an election timeout,
   *  and voters ignore vote requests while they hear from a leader. Default true. */
  checkQuorum?: boolean;
  /** The voters of a new group: used only when the storage is empty (bootstrap). */
  peers?: readonly string[];
  /** The last index the state machine applied (it restored from a snapshot at least that recent). */
  applied?: number;
  /** Bytes of entries per append message. Default 1 MiB. */
  maxMsgBytes?: number;
  /** Appends in flight per follower in Replicate state. Default 256. */
  maxInflight?: number;
  /** Bytes of committed entries per Ready. Default 8 MiB. */
  maxCommittedBytes?: number;
  /** How far behind the commit index a learner may be and still be promoted. Default 1000. */
  promoteMaxLag?: number;
  logger?: Logger;
}

const SHARED_SILENT_LOGGER = silentLogger();


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
export class Raft {
  readonly id: string;
  readonly group: string;
  readonly generation: string;
  readonly stats = new RaftStats();
  readonly log: RaftLog;

  private termValue = 0;
  private voteValue = "";
  private leaderValue = "";
  private roleValue = RaftRole.Follower;

  private readonly random: Random;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxCommittedBytes: number;
  private readonly promoteMaxLag: number;
  private readonly logger: Logger;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<string, boolean>();
  private readonly replicator: Replicator;
  private readonly memberships: MembershipHistory;
  private leadTransferee = "";
  /** The index of the last membership entry the leader appended (or its noop). */
  private pendingMembershipIndex = 0;
  private readonly reads = new ReadIndexQueue();
  /** Generations the leader heard from members not pinned in the membership yet. */
  private readonly learnedGenerations = new Map<string, string>();

  private messages: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  private broadcastPending = false;
  private outstanding: Ready | undefined;
  private prevHardState: RaftHardState;
  private prevSoftState: SoftState;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.group = config.group ?? "";
    this.random = config.random;
    this.electionTicks = config.electionTicks ?? 10;
    this.heartbeatTicks = config.heartbeatTicks ?? 1;
    if (this.heartbeatTicks <= 0 || this.electionTicks <= this.heartbeatTicks) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Election ticks (${this.electionTicks}) must exceed heartbeat ticks (${this.heartbeatTicks}) > 0`);
    }
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxCommittedBytes = config.maxCommittedBytes ?? 8 << 20;
    this.promoteMaxLag = config.promoteMaxLag ?? 1000;
    this.logger = (config.logger ?? SHARED_SILENT_LOGGER).child({ raft: this.id });

    const storage = config.storage;
    const { hardState, membership } = storage.initialState();
    this.generation = config.generation || hardState.generation || newGeneration(config.random);
    this.log = new RaftLog(storage, Number(hardState.commit), config.applied);
    const self = this;
    const host: ReplicatorHost = {
      id: this.id,
      log: this.log,
      get term() {
        return self.termValue;
      },
      readRound: () => this.reads.round,
      send: (to, term, body) => this.send(to, term, body),
    };
    this.replicator = new Replicator(
      host,
      {
        maxMsgBytes: config.maxMsgBytes ?? 1 << 20,
        maxInflight: config.maxInflight ?? 256,
        electionTicks: this.electionTicks,
        heartbeatTicks: this.heartbeatTicks,
      },
      this.logger,
      this.stats,
    );
    this.termValue = Number(hardState.term);
    this.voteValue = hardState.vote;
    const snapshotIndex = storage.firstIndex() - 1;
    this.memberships = new MembershipHistory(snapshotIndex, Membership.fromProto(membership));
    for (const e of storage.entries(storage.firstIndex(), storage.lastIndex() + 1)) this.recordMembership(e);

    if (this.membership().isEmpty() && storage.lastIndex() === 0 && config.peers && config.peers.length > 0) {
      this.bootstrap(config.peers);
    }
    this.prevHardState = hardState;
    this.prevSoftState = this.softState();
    this.becomeFollower(this.termValue, "");
    this.logger.info(
      { term: this.termValue, commit: this.log.committed, applied: this.log.applied, last: this.log.lastIndex() },
      `Raft member ${this.id} starts with ${this.membership()}`,
    );
  }

  /** A new group: every initial member writes the same first entry (the membership) and
   *  commits it, so the configuration is durable from the start. */
  private bootstrap(peers: readonly string[]): void {
    const m = new Membership(peers);
    this.termValue = 1;
    this.appendToLog([create(RaftEntrySchema, { term: 1n, index: 1n, type: RaftEntryType.MEMBERSHIP, data: m.encode() })]);
    this.log.commitTo(1);
  }

  // ---- accessors -----------------------------------------------------------------

  get term(): number {
    return this.termValue;
  }
  get vote(): string {
    return this.voteValue;
  }
  get leader(): string {
    return this.leaderValue;
  }
  get role(): RaftRole {
    return this.roleValue;
  }
  get committed(): number {
    return this.log.committed;
  }
  get applied(): number {
    return this.log.applied;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get transferee(): string {
    return this.leadTransferee;
  }

  membership(): Membership {
    return this.memberships.current();
  }

  /** The membership in effect at `index` (for the metadata of a snapshot taken there). */
  membershipAt(index: number): Membership {
    return this.memberships.at(index);
  }

  /** The metadata of a snapshot of the state machine taken at `index` (<= applied). */
  snapshotMetadata(index: number): RaftSnapshotMetadata {
    if (index > this.log.applied) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot snapshot at ${index}: only ${this.log.applied} is applied`);
    }
    return create(RaftSnapshotMetadataSchema, {
      index: BigInt(index),
      term: BigInt(this.log.term(index)),
      membership: this.membershipAt(index).toProto(),
    });
  }

  /** The leader's view of a follower's replication, or undefined. */
  progressOf(id: string): { match: number; next: number; state: ProgressState } | undefined {
    const pr = this.replicator.get(id);
    return pr && this.roleValue === RaftRole.Leader ? { match: pr.match, next: pr.next, state: pr.state } : undefined;
  }

  hardState(): RaftHardState {
    return create(RaftHardStateSchema, {
      term: BigInt(this.termValue),
      vote: this.voteValue,
      commit: BigInt(this.log.committed),
      generation: this.generation,
    });
  }

  softState(): SoftState {
    return { term: this.termValue, leader: this.leaderValue, role: this.roleValue };
  }

  private promotable(): boolean {
    return this.membership().voters.has(this.id) && this.log.unstableSnapshot === undefined;
  }

  // ---- transitions -----------------------------------------------------------------

  private reset(term: number): void {
    if (this.termValue !== term) {
      this.termValue = term;
      this.voteValue = "";
    }
    this.leaderValue = "";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.leadTransferee = "";
    this.votes.clear();
    this.reads.clear();
    this.broadcastPending = false;
    this.replicator.progress = new Map();
    this.syncProgress();
  }

  /**
   * Keeps one Progress per member of the current membership. A member added while this
   * member leads starts a new read round, so that late answers to messages sent before
   * (to an earlier server with the same id) are not taken for its own.
   */
  private syncProgress(): void {
    const m = this.membership();
    this.replicator.retain((id) => m.has(id));
    for (const id of m.members()) {
      if (this.replicator.get(id)) continue;
      const pr = this.replicator.add(id, this.roleValue === RaftRole.Leader ? ++this.reads.round : 0);
      if (id === this.id) pr.match = this.stableIndex();
    }
    if (this.leadTransferee !== "" && !m.voters.has(this.leadTransferee)) this.abortLeaderTransfer("the transferee left");
  }

  /** The last index persisted by the driver (entries below the unstable offset). */
  private stableIndex(): number {
    return this.log.offset - 1;
  }

  private transition(to: RaftRole, term: number, why: string): void {
    const from = this.roleValue;
    this.logger.info({ from, to, term }, `Raft ${this.id}: ${from} -> ${to} in term ${term} (${why})`);
  }

  private becomeFollower(term: number, leader: string, why = "stepped down"): void {
    this.transition(RaftRole.Follower, term, why);
    this.reset(term);
    this.roleValue = RaftRole.Follower;
    this.leaderValue = leader;
  }

  private becomePreCandidate(): void {
    if (this.roleValue === RaftRole.Leader) throw illegalTransition(this.roleValue, RaftRole.PreCandidate);
    this.transition(RaftRole.PreCandidate, this.termValue, "election timeout");
    // PreVote changes neither term nor vote.
    this.votes.clear();
    this.leaderValue = "";
    this.roleValue = RaftRole.PreCandidate;
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.stats.preVotesStarted++;
  }

  private becomeCandidate(): void {
    if (this.roleValue === RaftRole.Leader) throw illegalTransition(this.roleValue, RaftRole.Candidate);
    this.transition(RaftRole.Candidate, this.termValue + 1, "campaigning");
    this.reset(this.termValue + 1);
    this.voteValue = this.id;
    this.roleValue = RaftRole.Candidate;
    this.stats.electionsStarted++;
  }

  private becomeLeader(): void {
    if (this.roleValue !== RaftRole.Candidate) throw illegalTransition(this.roleValue, RaftRole.Leader);
    this.transition(RaftRole.Leader, this.termValue, "won the election");
    this.reset(this.termValue);
    this.roleValue = RaftRole.Leader;
    this.leaderValue = this.id;
    this.stats.leaderElected++;
    // Entries of earlier terms commit only once an entry of this term does (§5.4.2).
    const noop = this.appendOwn(RaftEntryType.NOOP, new Uint8Array());
    this.pendingMembershipIndex = noop.index;
    this.replicator.broadcastAppend(true);
  }

  // ---- ticks -----------------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.roleValue === RaftRole.Leader) this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(this.preVote ? "pre" : "election");
    }
  }

  private tickLeader(): void {
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

  private quorumActive(): boolean {
    const active = this.membership().hasQuorum((id) => id === this.id || this.replicator.get(id)?.recentActive === true);
    this.replicator.resetRecentActive();
    return active;
  }

  // ---- elections -------------------------------------------------------------------

  /** Starts an election now (as an election timeout would). */
  campaign(): void {
    if (this.roleValue === RaftRole.Leader) return;
    if (!this.promotable()) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Raft ${this.id} cannot campaign: it is not a voter of ${this.membership()}`);
    }
    this.startElection(this.preVote ? "pre" : "election");
  }

  private startElection(kind: "pre" | "election" | "transfer"): void {
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
  private tally(): boolean {
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

  // ---- messages --------------------------------------------------------------------

  private send(to: string, term: number, body: RaftMessageBody): void {
    this.messages.push(
      create(RaftMessageSchema, {
        from: this.id,
        to,
        term: BigInt(term),
        group: this.group,
        fromGeneration: this.generation,
        toGeneration: this.membership().generations.get(to) ?? "",
        body,
      }),
    );
  }

  private drop(m: RaftMessage, why: string): void {
    this.stats.droppedMessages++;
    this.logger.debug({ from: m.from, type: m.body.case, term: Number(m.term) }, `Raft ${this.id}: ignoring ${m.body.case} from ${m.from} because ${why}`);
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
    if (term > this.termValue) {
      if (body.case === "voteRequest") {
        const inLease = this.checkQuorum && this.leaderValue !== "" && this.electionElapsed < this.electionTicks;
        if (inLease && !body.value.leaderTransfer) {
          return this.drop(m, `a leader (${this.leaderValue}) was heard from within the election timeout`);
        }
      }
      const preVoteTraffic =
        (body.case === "voteRequest" && body.value.preVote) || (body.case === "voteResponse" && body.value.preVote && body.value.granted);
      if (!preVoteTraffic) {
        const fromLeader = body.case === "appendEntriesRequest" || body.case === "installSnapshotRequest";
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
        this.leaderValue = m.from;
        if (body.case === "appendEntriesRequest") return this.handleAppend(m, body.value);
        return this.handleSnapshot(m, body.value.snapshot);
      case "appendEntriesResponse":
      case "installSnapshotResponse":
        return this.handleAppendResponse(m);
      case "timeoutNow":
        if (this.roleValue !== RaftRole.Follower) return this.drop(m, `this member is ${this.roleValue}`);
        if (!this.promotable()) return this.drop(m, "this member is not a voter");
        this.logger.info(`Raft ${this.id}: leader ${m.from} transfers leadership here`);
        this.stats.leaderTransfers++;
        return this.startElection("transfer");
    }
  }

  /**
   * A message from or to another generation of a member id (a server that lost its disk
   * and came back under the same pid) is refused: that server must be re-added.
   */
  private sameGeneration(m: RaftMessage): boolean {
    const pinned = this.membership().generations.get(m.from);
    let why = "";
    if (m.toGeneration !== "" && m.toGeneration !== this.generation) {
      why = `it is addressed to generation ${m.toGeneration} of ${this.id}, this is generation ${this.generation} (the storage was recreated; re-add this member)`;
    } else if (pinned !== undefined && m.fromGeneration !== pinned) {
      why = `it is from generation ${m.fromGeneration || "(none)"} of ${m.from}, the membership knows generation ${pinned} (re-add that member)`;
    }
    if (why === "") return true;
    this.stats.generationMismatches++;
    this.logger.warn({ from: m.from, type: m.body.case, term: Number(m.term) }, `Raft ${this.id}: refuses ${m.body.case} from ${m.from}: ${why}`);
    return false;
  }

  private handleVoteRequest(m: RaftMessage, req: RaftVoteRequest): void {
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

  private handleVoteResponse(m: RaftMessage, resp: RaftVoteResponse): void {
    const expectPreVote = this.roleValue === RaftRole.PreCandidate;
    if (this.roleValue !== RaftRole.PreCandidate && this.roleValue !== RaftRole.Candidate) {
      return this.drop(m, `this member is ${this.roleValue}`);
    }
    if (resp.preVote !== expectPreVote) return this.drop(m, `it answers a ${resp.preVote ? "pre-vote" : "vote"} this member is not in`);
    if (resp.preVote && resp.granted && Number(m.term) !== this.termValue + 1) return this.drop(m, "it answers an older pre-vote");
    this.votes.set(m.from, resp.granted);
    this.tally();
  }

  // ---- follower: appends and snapshots ---------------------------------------------

  private respondAppend(to: string, value: MessageInitShape<typeof RaftAppendEntriesResponseSchema>): void {
    this.send(to, this.termValue, { case: "appendEntriesResponse", value: value });
  }

  /** Entries must follow prev_log_index one by one, with terms between prev_log_term and the message's term. */
  private validateAppend(m: RaftMessage, req: RaftAppendEntriesRequest): void {
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

  private handleAppend(m: RaftMessage, req: RaftAppendEntriesRequest): void {
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

  private handleSnapshot(m: RaftMessage, snapshot: RaftSnapshot | undefined): void {
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

  // ---- the log and memberships -----------------------------------------------------

  private recordMembership(e: RaftEntry): void {
    if (e.type === RaftEntryType.MEMBERSHIP) this.memberships.add(Number(e.index), Membership.decode(e.data));
  }

  /** Updates the membership for entries just appended (after a possible truncation). */
  private recordAppended(entries: readonly RaftEntry[]): void {
    const before = this.memberships.currentIndex();
    this.memberships.truncateFrom(Number(entries[0]!.index));
    for (const e of entries) this.recordMembership(e);
    if (this.memberships.currentIndex() !== before) {
      this.logger.info(`Raft ${this.id}: membership is now ${this.membership()}`);
      this.syncProgress();
    }
  }

  private appendToLog(entries: RaftEntry[]): void {
    this.log.append(entries);
    this.recordAppended(entries);
  }

  private appendOwn(type: RaftEntryType, data: Uint8Array): ProposalPosition {
    const index = this.log.lastIndex() + 1;
    this.appendToLog([create(RaftEntrySchema, { term: BigInt(this.termValue), index: BigInt(index), type, data })]);
    this.broadcastPending = true;
    return { index, term: this.termValue };
  }

  // ---- leader: replication ---------------------------------------------------------

  private handleAppendResponse(m: RaftMessage): void {
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
      if (!resp.success) return this.replicator.onRejected(m.from, pr, resp);
      this.onMatch(m.from, pr, Number(resp.index));
    } else if (body.case === "installSnapshotResponse") {
      this.onMatch(m.from, pr, Number(body.value.index));
    }
  }

  private onMatch(from: string, pr: Progress, index: number): void {
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
  private maybeCommit(): boolean {
    const index = this.membership().committedIndex((id) => this.replicator.get(id)?.match ?? 0);
    if (!this.log.maybeCommit(index, this.termValue)) return false;
    this.reads.committedInTerm(this.log.committed);
    const m = this.membership();
    if (!m.voters.has(this.id) && this.log.committed >= this.memberships.currentIndex()) {
      this.becomeFollower(this.termValue, "", "this member was removed from the voters");
    }
    return true;
  }

  private onReadAck(pr: Progress, round: number): void {
    if (round <= pr.readAck) return;
    pr.readAck = round;
    const m = this.membership();
    const confirmed = m.committedIndex((id) => (id === this.id ? this.reads.round : this.replicator.get(id)?.readAck ?? 0));
    for (const r of this.reads.confirm(confirmed)) this.readStates.push(r);
  }

  // ---- client requests -------------------------------------------------------------

  private requireLeader(): void {
    if (this.roleValue !== RaftRole.Leader) throw notLeader(this.id, this.leaderValue);
    if (this.leadTransferee !== "") throw transferInProgress(this.leadTransferee);
  }

  /** Appends a command; it succeeded iff the entry applied at the returned index has the returned term. */
  propose(data: Uint8Array): ProposalPosition {
    this.requireLeader();
    this.stats.proposals++;
    return this.appendOwn(RaftEntryType.NORMAL, data);
  }

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

  private abortLeaderTransfer(why: string): void {
    this.logger.info(`Raft ${this.id}: leadership transfer to ${this.leadTransferee} aborted: ${why}`);
    this.leadTransferee = "";
  }

  // ---- Ready -----------------------------------------------------------------------

  /** Sends what proposals, commits and reads are waiting for (batched per Ready). */
  private flush(): void {
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
   * Records the generations heard from members not pinned yet, in a membership entry with
   * the same voters and learners (when no other membership change is in progress).
   */
  private maybePinGenerations(): void {
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

  /** With a single voter, a read round is confirmed by the leader alone. */
  private onReadAckSelf(): void {
    const m = this.membership();
    if (m.quorum() === 1 && m.voters.has(this.id)) for (const r of this.reads.confirm(this.reads.round)) this.readStates.push(r);
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

/** A random storage generation (16 hex digits). */
export function newGeneration(random: Random): string {
  let s = "";
  for (let i = 0; i < 4; i++) s += random.int(0x10000).toString(16).padStart(4, "0");
  return s;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.term === b.term && a.leader === b.leader && a.role === b.role;
}
