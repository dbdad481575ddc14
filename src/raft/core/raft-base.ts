import { create } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { Random } from "../../runtime/random.js";
import { transitionChecker } from "../../runtime/transitions.js";
import { RaftEntrySchema, RaftEntryType, RaftHardStateSchema, RaftMessageSchema, type RaftEntry, type RaftHardState, type RaftMessage, type RaftSnapshotMetadata, RaftSnapshotMetadataSchema } from "../../gen/dcos/v1/raft_pb.js";
import { notLeader, transferInProgress } from "./errors.js";
import type { RaftLogStorage } from "./log-storage.js";
import { Membership, MembershipHistory } from "./membership.js";
import { ProgressState, type Progress } from "./progress.js";
import { Replicator, type RaftMessageBody, type ReplicatorHost } from "./replicator.js";
import { RaftLog } from "./raft-log.js";
import { ReadIndexQueue } from "./read-index.js";
import { RaftRole, type ProposalPosition, type Ready, type ReadState, type SoftState } from "./ready.js";
import { RaftStats } from "./stats.js";

/**
 * A member's role changes (the runtime's one transition helper, as every state table):
 * any role steps down to follower; only a candidate becomes leader; a leader campaigns
 * for nothing; pre-candidates and candidates may start over after a timeout.
 */
const checkRoleTransition = transitionChecker<RaftRole>({
  [RaftRole.Follower]: [RaftRole.Follower, RaftRole.PreCandidate, RaftRole.Candidate],
  [RaftRole.PreCandidate]: [RaftRole.Follower, RaftRole.PreCandidate, RaftRole.Candidate],
  [RaftRole.Candidate]: [RaftRole.Follower, RaftRole.PreCandidate, RaftRole.Candidate, RaftRole.Leader],
  [RaftRole.Leader]: [RaftRole.Follower],
}, "Raft role");

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

/** The state of a Raft member, its transitions, and what every concern uses (sending, the log, memberships). */
export abstract class RaftBase {
  readonly id: string;
  readonly group: string;
  readonly generation: string;
  readonly stats = new RaftStats();
  readonly log: RaftLog;

  protected termValue = 0;
  protected voteValue = "";
  protected leaderValue = "";
  protected roleValue = RaftRole.Follower;

  protected readonly random: Random;
  protected readonly electionTicks: number;
  protected readonly heartbeatTicks: number;
  protected readonly preVote: boolean;
  protected readonly checkQuorum: boolean;
  protected readonly maxCommittedBytes: number;
  protected readonly promoteMaxLag: number;
  protected readonly logger: Logger;

  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;
  /**
   * The driver reported the connection to the leader this member follows broken, and the
   * leader has not been heard from since (election.ts `peerUnreachable`): the member elects
   * soon, and grants pre-votes without waiting out the leader's lease. Cleared by any
   * message from a leader and by every change of leader or term.
   */
  protected leaderLinkLost = false;
  /** The election timer was shortened by `peerUnreachable` (a quick election is due). */
  protected quickElectionArmed = false;
  /** This member's pre-vote round was started by a quick election (it yields to an equal peer with a lower id). */
  protected quickPreVote = false;
  protected readonly votes = new Map<string, boolean>();
  protected readonly replicator: Replicator;
  protected readonly memberships: MembershipHistory;
  protected leadTransferee = "";
  /** The index of the last membership entry the leader appended (or its noop). */
  protected pendingMembershipIndex = 0;
  protected readonly reads = new ReadIndexQueue();
  /**
   * Servers no longer in the membership that the leader goes on replicating to until they
   * hold the membership that removed them, so that they know they are no voters and stop
   * campaigning (without it a removed server that keeps running never hears of its removal:
   * nobody sends it anything once the entry removing it is appended, and it times out and
   * pre-votes for ever). A leader takes them on when it appends a removal, when it is
   * elected (the servers its log's memberships had and the current one has not), and when
   * one asks it for a vote (membership-changes.ts `tellRemoved`). Their Progress sits in the
   * replicator beside the members' and counts for nothing (commit, quorum and reads count
   * voters). The value: CheckQuorum rounds it was not heard in (two, and it is given up).
   */
  protected readonly leaving = new Map<string, number>();
  /** Generations the leader heard from members not pinned in the membership yet. */
  protected readonly learnedGenerations = new Map<string, string>();

  protected messages: RaftMessage[] = [];
  protected readStates: ReadState[] = [];
  protected broadcastPending = false;
  protected outstanding: Ready | undefined;
  protected prevHardState: RaftHardState;
  protected prevSoftState: SoftState;
  /** The term of the last hard state the driver made durable (advance of a Ready carrying it, or the storage's). */
  protected durableTerm: number;

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
    this.durableTerm = this.termValue;
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
  protected bootstrap(peers: readonly string[]): void {
    const m = new Membership(peers);
    this.termValue = 1;
    this.appendToLog([create(RaftEntrySchema, { term: 1n, index: 1n, type: RaftEntryType.MEMBERSHIP, data: m.encode() })]);
    this.log.commitTo(1);
  }

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

  /**
   * The metadata of a snapshot of the state machine taken at `index`: it must be committed
   * (a driver may apply committed entries ahead of advance(), so it may be past `applied`).
   */
  snapshotMetadata(index: number): RaftSnapshotMetadata {
    if (index > this.log.committed) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot snapshot at ${index}: only ${this.log.committed} is committed`);
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

  protected promotable(): boolean {
    return this.membership().voters.has(this.id) && this.log.unstableSnapshot === undefined;
  }

  protected reset(term: number): void {
    if (this.termValue !== term) {
      this.termValue = term;
      this.voteValue = "";
    }
    this.leaderValue = "";
    this.leaderLinkLost = false;
    this.quickElectionArmed = false;
    this.quickPreVote = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.leadTransferee = "";
    this.votes.clear();
    this.reads.clear();
    this.broadcastPending = false;
    this.replicator.progress = new Map();
    this.leaving.clear();
    this.syncProgress();
  }

  /**
   * Keeps one Progress per member of the current membership. A member added while this
   * member leads starts a new read round, so that late answers to messages sent before
   * (to an earlier server with the same id) are not taken for its own.
   */
  protected syncProgress(): void {
    const m = this.membership();
    for (const id of [...this.replicator.progress.keys()]) {
      if (m.has(id) && !this.leaving.has(id)) continue;
      if (!m.has(id) && this.roleValue === RaftRole.Leader && id !== this.id) {
        this.leaving.set(id, this.leaving.get(id) ?? 0); // removed: caught up until it holds its removal
        continue;
      }
      this.forgetLeaving(id); // a follower's view, or a leaving server added again: it starts afresh
    }
    for (const id of m.members()) {
      if (this.replicator.get(id)) continue;
      const pr = this.replicator.add(id, this.roleValue === RaftRole.Leader ? ++this.reads.round : 0);
      if (id === this.id) pr.match = this.stableIndex();
    }
    if (this.leadTransferee !== "" && !m.voters.has(this.leadTransferee)) this.abortLeaderTransfer("the transferee left");
  }

  protected addLeaving(id: string): void {
    this.leaving.set(id, 0);
    this.replicator.add(id, this.reads.round);
  }

  protected forgetLeaving(id: string): void {
    this.leaving.delete(id);
    this.replicator.retain((other) => other !== id);
  }

  /** At each CheckQuorum round: a leaving server not heard from in two rounds is given up. */
  protected forgetSilentLeaving(): void {
    for (const [id, silent] of [...this.leaving]) {
      if (this.replicator.get(id)?.recentActive) this.leaving.set(id, 0);
      else if (silent >= 1) this.forgetLeaving(id);
      else this.leaving.set(id, silent + 1);
    }
  }

  /** The last index persisted by the driver (entries below the unstable offset). */
  protected stableIndex(): number {
    return this.log.offset - 1;
  }

  /** Checked against ROLE_TRANSITIONS (a move it does not list is a bug: DcosError INTERNAL), then logged. */
  protected transition(to: RaftRole, term: number, why: string): void {
    const from = this.roleValue;
    checkRoleTransition(from, to, `member ${this.id} (term ${term})`);
    this.logger.info({ from, to, term }, `Raft ${this.id}: ${from} -> ${to} in term ${term} (${why})`);
  }

  protected becomeFollower(term: number, leader: string, why = "stepped down"): void {
    this.transition(RaftRole.Follower, term, why);
    this.reset(term);
    this.roleValue = RaftRole.Follower;
    this.leaderValue = leader;
  }

  protected becomePreCandidate(quick = false): void {
    this.transition(RaftRole.PreCandidate, this.termValue, quick ? "the connection to the leader broke" : "election timeout");
    // PreVote changes neither term nor vote.
    this.votes.clear();
    this.leaderValue = "";
    this.leaderLinkLost = false;
    this.quickElectionArmed = false;
    this.quickPreVote = quick;
    this.roleValue = RaftRole.PreCandidate;
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.stats.preVotesStarted++;
  }

  protected becomeCandidate(): void {
    this.transition(RaftRole.Candidate, this.termValue + 1, "campaigning");
    this.reset(this.termValue + 1);
    this.voteValue = this.id;
    this.roleValue = RaftRole.Candidate;
    this.stats.electionsStarted++;
  }

  protected becomeLeader(): void {
    this.transition(RaftRole.Leader, this.termValue, "won the election");
    this.reset(this.termValue);
    this.roleValue = RaftRole.Leader;
    this.leaderValue = this.id;
    this.stats.leaderElected++;
    for (const id of this.memberships.former()) if (id !== this.id && !this.replicator.get(id)) this.addLeaving(id);
    // Entries of earlier terms commit only once an entry of this term does (§5.4.2).
    const noop = this.appendOwn(RaftEntryType.NOOP, new Uint8Array());
    this.pendingMembershipIndex = noop.index;
    this.replicator.broadcastAppend(true);
  }

  protected send(to: string, term: number, body: RaftMessageBody): void {
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

  protected drop(m: RaftMessage, why: string): void {
    this.stats.droppedMessages++;
    this.logger.debug({ from: m.from, type: m.body.case, term: Number(m.term) }, `Raft ${this.id}: ignoring ${m.body.case} from ${m.from} because ${why}`);
  }

  /**
   * A message from or to another generation of a member id (a server that lost its disk
   * and came back under the same pid) is refused: that server must be re-added.
   */
  protected sameGeneration(m: RaftMessage): boolean {
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

  protected recordMembership(e: RaftEntry): void {
    if (e.type === RaftEntryType.MEMBERSHIP) this.memberships.add(Number(e.index), Membership.decode(e.data));
  }

  /** Updates the membership for entries just appended (after a possible truncation). */
  protected recordAppended(entries: readonly RaftEntry[]): void {
    const before = this.memberships.currentIndex();
    this.memberships.truncateFrom(Number(entries[0]!.index));
    for (const e of entries) this.recordMembership(e);
    if (this.memberships.currentIndex() !== before) {
      this.logger.info(`Raft ${this.id}: membership is now ${this.membership()}`);
      this.syncProgress();
    }
  }

  protected appendToLog(entries: RaftEntry[]): void {
    this.log.append(entries);
    this.recordAppended(entries);
  }

  protected appendOwn(type: RaftEntryType, data: Uint8Array): ProposalPosition {
    const index = this.log.lastIndex() + 1;
    this.appendToLog([create(RaftEntrySchema, { term: BigInt(this.termValue), index: BigInt(index), type, data })]);
    this.broadcastPending = true;
    return { index, term: this.termValue };
  }

  protected requireLeader(): void {
    if (this.roleValue !== RaftRole.Leader) throw notLeader(this.id, this.leaderValue);
    if (this.leadTransferee !== "") throw transferInProgress(this.leadTransferee);
  }

  protected abortLeaderTransfer(why: string): void {
    this.logger.info(`Raft ${this.id}: leadership transfer to ${this.leadTransferee} aborted: ${why}`);
    this.leadTransferee = "";
  }
}

/** A random storage generation (16 hex digits). */
export function newGeneration(random: Random): string {
  let s = "";
  for (let i = 0; i < 4; i++) s += random.int(0x10000).toString(16).padStart(4, "0");
  return s;
}
