import { LeaderSilence } from "./leader-silence.js";
import { RaftEntryType, RaftMessageSchema, type RaftEntry, type RaftHardState, type RaftMembership, type RaftMessage } from "../gen/dcos/v1/raft_pb.js";
import type { Counter, Samples } from "../metrics/metrics.js";
import { Actor } from "../runtime/actor.js";
import { actsAs, describePeer } from "../runtime/identity.js";
import type { Timer } from "../runtime/clock.js";
import { Code, DcosError, asDcosError } from "../runtime/error.js";
import { Pid } from "../runtime/pid.js";
import { Random } from "../runtime/random.js";
import { ClientSessions, encodeProposal, type ApplyResult } from "./client-sessions.js";
import { Raft } from "./core/raft.js";
import { RaftRole, sentBeforeDurable, type Ready, type SoftState } from "./core/ready.js";
import type { RaftLogStorage } from "./core/log-storage.js";
import { ProposalWaiters, ReadWaiters } from "./pending-requests.js";
import { DEFAULT_SNAPSHOT_CHUNK_BYTES, SnapshotAssembler, snapshotChunks } from "./snapshot-chunks.js";
import type { ProposalId, RestoreSteps, SnapshotPieces, StateMachine } from "./state-machine.js";
import type { PersistBatch } from "./storage/durable-storage.js";
import { transitionChecker } from "../runtime/transitions.js";

/** What the raft actor needs of its storage: the core's reads, and durable writes. */
export interface RaftNodeStorage extends RaftLogStorage {
  persist(batch: PersistBatch): Promise<void>;
  /** Stores a snapshot of the machine as of `index`, its data given in pieces (concatenated), and compacts the log. */
  compact(index: number, membership: RaftMembership, data: readonly Uint8Array[], keepEntries?: number): Promise<unknown>;
}

export interface RaftNodeOptions<M extends StateMachine> {
  /** Actor name; every member of a group must use the same. Default "raft". */
  name?: string;
  group?: string;
  storage: RaftNodeStorage;
  machine: M;
  /** The voters of a new group (pids of the raft actors, this one included); ignored once the log has state. */
  peers?: readonly Pid[];
  /**
   * The role (PeerIdentity.role) a sender's connection must be authenticated as for its Raft
   * messages to be heard. Default "master": only the master group speaks Raft.
   */
  memberRole?: string;
  /** Milliseconds per tick. Default 50. */
  tickMs?: number;
  /** Ticks before an election (randomized in [n, 2n)). Default 10 (0.5–1 s). */
  electionTicks?: number;
  /** Ticks between heartbeats. Default 2 (100 ms). */
  heartbeatTicks?: number;
  random?: Random;
  /** Take a state machine snapshot and compact the log every this many applied entries. Default 10,000. */
  snapshotEntries?: number;
  /**
   * How a snapshot's encoding is sliced (DEFAULT_SNAPSHOT_SLICE); tests slice by pieces and
   * pause on the clock, so that entries arrive while a snapshot is taken.
   */
  snapshotSlice?: Partial<SnapshotSlice>;
  /** A snapshot sent to a follower goes in chunks of at most this many bytes of data. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** How committed entries are applied (DEFAULT_APPLY_SLICE); tests slice by entries. */
  applySlice?: Partial<ApplySlice>;
  /** Entries kept below a snapshot for slow followers. Default 1,000. */
  catchUpEntries?: number;
  /** A proposal not applied within this time fails DEADLINE_EXCEEDED. Default 30 s. */
  proposalTimeoutMs?: number;
  /**
   * Called at each step of an entry's way through this member (diagnostics: the raft
   * bench's commit timeline, `--trace`), with the last entry index the step covers.
   */
  trace?: (mark: RaftTraceMark, index: number) => void;
}

/**
 * The steps of one commit a member can mark (RaftNodeOptions.trace): on the leader
 * proposed → append_sent → persist_start → durable … ack_received → committed → applied;
 * on a follower append_received → persist_start → durable → ack_sent. `durable` is when
 * the storage's promise settled, `durable_turn` when the member's loop took it up.
 */
export type RaftTraceMark =
  | "proposed"
  | "append_sent"
  | "append_received"
  | "persist_start"
  | "durable"
  | "durable_turn"
  | "ack_sent"
  | "ack_received"
  | "committed"
  | "applied";

export const DEFAULT_TICK_MS = 50;
export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 2;

/** How a snapshot is encoded: slices of at most `ms` (or `pieces` pieces), `pauseMs` on the clock between them. */
export interface SnapshotSlice {
  ms: number;
  pieces: number;
  pauseMs: number;
}

/** About 4 ms of encoding per turn of the loop: a heartbeat or vote waits for one slice, not the whole snapshot. */
export const DEFAULT_SNAPSHOT_SLICE: SnapshotSlice = { ms: 4, pieces: Number.POSITIVE_INFINITY, pauseMs: 0 };

/** How committed entries are applied: slices of at most `ms` (or `entries` entries) per turn of the loop. */
export interface ApplySlice {
  ms: number;
  entries: number;
}

export const DEFAULT_APPLY_SLICE: ApplySlice = { ms: 10, entries: Number.POSITIVE_INFINITY };

/** A snapshot being encoded (RaftNode.maybeCompact). */
interface SnapshotJob {
  index: number;
  membership: RaftMembership;
  pieces: SnapshotPieces;
  parts: Uint8Array[];
  started: number;
  longestMs: number;
  slices: number;
}

/** A leader's snapshot being restored into the machine (RaftNode.restoreSlice). */
interface RestoreJob {
  index: number;
  steps: RestoreSteps;
  started: number;
  longestMs: number;
  slices: number;
}

/** The raft actor's own lifecycle (the protocol's roles live in the core). */
export enum RaftNodeState {
  Running = "running",
  /** Storage failed: nothing more is persisted, sent or applied; every request fails. */
  Failed = "failed",
  Stopped = "stopped",
}

const checkTransition = transitionChecker<RaftNodeState>({
  [RaftNodeState.Running]: [RaftNodeState.Failed, RaftNodeState.Stopped],
  [RaftNodeState.Failed]: [RaftNodeState.Stopped],
  [RaftNodeState.Stopped]: [],
}, "raft member");

/** Called outside the actor when the leader or term changes; leader is undefined while unknown. */
export type LeaderListener = (leader: Pid | undefined, term: number) => void;

export interface RaftStatus {
  id: string;
  state: RaftNodeState;
  role: RaftRole;
  term: number;
  leader: string;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  pendingProposals: number;
  pendingReads: number;
}

/**
 * The raft actor: runs the pure protocol object over the actor runtime. Raft messages are
 * actor messages between the raft actors of the members (ids are their pids); ticks come
 * from the system's Clock. Each Ready is persisted (fsync) before its votes and
 * acknowledgements are sent and before entries that were not yet on disk are applied; a
 * leader's appends go out while it writes. While a persist runs, messages and proposals
 * keep being stepped into the core, so the next Ready carries all of them in one write and
 * one fsync (group commit).
 */
export class RaftNode<M extends StateMachine> extends Actor {
  /** Served ahead of the other actors of its node (ActorCell.urgent): a busy master's queue must not hold up heartbeats, votes and acknowledgements. */
  readonly urgent = true;
  private core!: Raft;
  private nodeState = RaftNodeState.Running;
  private readonly options: RaftNodeOptions<M>;
  private readonly sessions: ClientSessions<M>;
  private readonly proposals = new ProposalWaiters();
  private readonly reads = new ReadWaiters();
  private readonly listeners = new Set<LeaderListener>();
  private readonly pids = new Map<string, Pid>();
  private readonly chunks = new SnapshotAssembler();
  private persisting = false;
  /** The last index applied to the state machine (can run ahead of the core's, see applyAhead). */
  private appliedIndex = 0;
  private driveQueued = false;
  /** Committed entries to apply, in order, from applyHead (see applyQueued). */
  private applyQueue: RaftEntry[] = [];
  private applyHead = 0;
  private applyScheduled = false;
  private compacting = false;
  /** A leader's snapshot being restored in slices; entries and reads wait behind it. */
  private restoring: RestoreJob | undefined;
  private unsyncedHardState: RaftHardState | undefined;
  private syncedTermVote = "";
  private soft: SoftState = { term: 0, leader: "", role: RaftRole.Follower };
  /** How long this member, following, went without hearing its leader (raft/leader_silence_max_ms). */
  private readonly silence = new LeaderSilence();
  private tickTimer: Timer | undefined;
  /** The leader this member, following, is linked to (its connection watched): "" if none. */
  private linkedLeader = "";
  /** This member's client id in the replicated sessions (dedupes retried proposals); drawn from its Random, so a seed replays. */
  private clientId = "";
  private nextSequence = 0;
  private snapshotMs!: Samples;
  private snapshotTotalMs!: Samples;
  private restoreMs!: Samples;
  private counters!: {
    dropped: Counter;
    refused: Counter;
    leaderChanges: Counter;
    applied: Counter;
    proposals: Counter;
    aborted: Counter;
    stepDownAnswered: Counter;
    snapshotChunksSent: Counter;
    leaderLinksLost: Counter;
  };

  constructor(options: RaftNodeOptions<M>) {
    super(options.name ?? "raft");
    this.options = options;
    this.sessions = new ClientSessions(options.machine);
    this.install(RaftMessageSchema, (m, from) => this.onMessage(m, from));
  }

  get machine(): M {
    return this.options.machine;
  }

  override initialize(): void {
    const storage = this.options.storage;
    const snap = storage.snapshot();
    const snapIndex = Number(snap.metadata?.index ?? 0n);
    if (snapIndex > 0) this.sessions.restore(snap.data);
    this.appliedIndex = snapIndex;
    const hs = storage.initialState().hardState;
    this.syncedTermVote = `${hs.term}/${hs.vote}`;
    const random = this.options.random ?? Random.fromOs();
    this.clientId = random.fork().uuid().replaceAll("-", "").slice(0, 16);
    this.core = new Raft({
      id: this.self.toString(),
      group: this.options.group,
      storage,
      random,
      electionTicks: this.options.electionTicks ?? DEFAULT_ELECTION_TICKS,
      heartbeatTicks: this.options.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
      peers: this.options.peers?.map((p) => p.toString()),
      applied: snapIndex,
      logger: this.log,
    });
    this.soft = this.core.softState();
    const m = this.system.metrics;
    this.counters = {
      dropped: m.counter("raft/dropped_messages", "Raft messages and requests dropped by a guard"),
      refused: m.counter("raft/unauthorized_messages", "Raft messages refused: not from a member of the group on its own authenticated connection"),
      leaderChanges: m.counter("raft/leader_changes", "Changes of the known leader"),
      applied: m.counter("raft/entries_applied", "Entries applied to the state machine"),
      proposals: m.counter("raft/proposals", "Proposals accepted by this member as leader"),
      aborted: m.counter("raft/proposals_aborted", "Proposals lost in a leadership change"),
      stepDownAnswered: m.counter("raft/proposals_failed_at_step_down", "Pending proposals answered UNAVAILABLE (with the leader hint) when this member stopped leading"),
      snapshotChunksSent: m.counter("raft/snapshot_chunks_sent", "InstallSnapshot chunks sent (a snapshot larger than a chunk goes in pieces)"),
      leaderLinksLost: m.counter("raft/leader_links_lost", "Times the connection of this member, following, to its leader was reported broken (the runtime's link: exited; a dead leader is reported again at each reconnection attempt)"),
    };
    this.snapshotMs = m.sampled("raft/snapshot_ms", "The longest time a snapshot held up the member's event loop at once (capturing the state, one slice of its encoding, starting the write)");
    this.restoreMs = m.sampled("raft/snapshot_restore_ms", "The longest time restoring a leader's snapshot held up the member's event loop at once (one slice)");
    this.snapshotTotalMs = m.sampled("raft/snapshot_total_ms", "Time from capturing a snapshot's state to the snapshot durable (its slices spread over the loop, and the write)");
    const stats = this.core.stats;
    m.gauge("raft/elections_started", () => stats.electionsStarted, "Elections this member started (its election timeout passed without a leader, after a won pre-vote)");
    m.gauge("raft/quick_elections", () => stats.quickElections, "(Pre-)elections this member started early because the connection to its leader broke (not on the election timeout)");
    m.gauge("raft/pre_votes_started", () => stats.preVotesStarted, "Pre-votes this member started (its election timeout passed without hearing a leader)");
    m.gauge("raft/spurious_elections", () => stats.spuriousElections, "Times this member was deposed while leading with a majority behind it (an election no fault called for)");
    m.gauge("raft/check_quorum_step_downs", () => stats.checkQuorumStepDowns, "Times this leader stepped down because a majority was not heard from in an election timeout");
    m.gauge("raft/term", () => this.core.term, "Current term");
    m.gauge("raft/is_leader", () => (this.core.role === RaftRole.Leader ? 1 : 0), "1 on the leader");
    m.gauge("raft/commit_index", () => this.core.committed, "Commit index");
    m.gauge("raft/applied_index", () => this.appliedIndex, "Applied index");
    m.gauge("raft/apply_backlog", () => this.applyBacklog(), "Committed entries waiting to be applied (applied in slices between turns of the event loop)");
    m.gauge("raft/leader_silence_max_ms", () => this.silence.maxMs(this.clock.now()), "Longest gap between two messages from the leader this member follows, in the last 30-60 s (ms): near the election timeout, the term was nearly lost");
    this.log.info({ snapshot: snapIndex, lastIndex: storage.lastIndex(), term: this.core.term }, `Raft member ${this.self.toString()} started`);
    this.scheduleTick();
    this.kick();
  }

  override finalize(): void {
    this.tickTimer?.cancel();
    if (this.nodeState === RaftNodeState.Running) this.transition(RaftNodeState.Stopped, "actor terminated");
    const gone = new DcosError(Code.UNAVAILABLE, `Raft member ${this.self.toString()} stopped`);
    this.proposals.failAll(gone);
    this.reads.failAll(gone);
  }

  // ---- requests (run inside the actor; see ReplicatedStateMachine) ---------------------

  propose(command: Uint8Array, id?: ProposalId): Promise<Uint8Array> {
    this.requireRunning();
    const data = encodeProposal(id?.client ?? this.clientId, id?.sequence ?? ++this.nextSequence, command);
    const pos = this.core.propose(data);
    this.options.trace?.("proposed", pos.index);
    this.counters.proposals.inc();
    const deadline = this.clock.now() + (this.options.proposalTimeoutMs ?? 30_000);
    const result = new Promise<Uint8Array>((resolve, reject) => this.proposals.add(pos.index, pos.term, deadline, resolve, reject));
    this.kick();
    return result;
  }

  read<T>(fn: (machine: M) => T): Promise<T> {
    this.requireRunning();
    return new Promise<T>((resolve, reject) => {
      const ctx = this.reads.add(() => {
        try {
          resolve(fn(this.options.machine));
        } catch (e) {
          reject(e);
        }
      }, reject);
      try {
        this.core.readIndex(ctx);
      } catch (e) {
        this.reads.drop(ctx);
        throw e;
      }
      this.kick();
    });
  }

  transferLeadership(to: Pid): void {
    this.requireRunning();
    this.core.transferLeader(to.toString());
    this.kick();
  }

  /** Starts an election now, as an election timeout would (etcd's Campaign); a leader ignores it. */
  campaign(): void {
    this.requireRunning();
    this.core.campaign();
    this.kick();
  }

  leaderPid(): Pid | undefined {
    return this.soft.leader === "" ? undefined : this.pid(this.soft.leader);
  }

  status(): RaftStatus {
    return {
      id: this.self.toString(),
      state: this.nodeState,
      role: this.core.role,
      term: this.core.term,
      leader: this.core.leader,
      commit: this.core.committed,
      applied: this.appliedIndex,
      firstIndex: this.options.storage.firstIndex(),
      lastIndex: this.core.lastIndex,
      pendingProposals: this.proposals.size,
      pendingReads: this.reads.size,
    };
  }

  /** Safe to call from outside the actor. */
  onLeaderChange(listener: LeaderListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private requireRunning(): void {
    if (this.nodeState !== RaftNodeState.Running) {
      throw new DcosError(Code.UNAVAILABLE, `Raft member ${this.self.toString()} is ${this.nodeState}`);
    }
  }

  // ---- the loop ---------------------------------------------------------------------

  private onMessage(m: RaftMessage, from: Pid): void {
    const why = this.unauthorized(m, from);
    if (why) {
      this.counters.refused.inc();
      this.counters.dropped.inc();
      this.log.warn({ from: from.toString(), claimed: m.from, body: m.body.case, term: Number(m.term) }, `Refusing raft ${m.body.case ?? "message"} from ${from.toString()}: ${why}`);
      return;
    }
    if (this.nodeState !== RaftNodeState.Running) {
      this.counters.dropped.inc();
      this.log.debug({ from: m.from }, `Ignoring raft message from ${m.from} because this member is ${this.nodeState}`);
      return;
    }
    if (m.body.case === "installSnapshotChunk") {
      const r = this.chunks.add(m);
      if ("refused" in r) {
        this.counters.dropped.inc();
        this.log.warn({ from: m.from }, `Dropping a snapshot chunk from ${m.from}: ${r.refused}`);
      }
      if (!("complete" in r)) return;
      m = r.complete;
    }
    if (this.soft.role === RaftRole.Follower) this.silence.heard(m.from, this.soft.leader, this.clock.now());
    const trace = this.options.trace;
    const committed = this.core.committed;
    if (trace) traceReceived(trace, m);
    this.core.step(m);
    if (trace && this.core.committed > committed) trace("committed", this.core.committed);
    if (this.persisting) {
      this.applyAhead();
      // A follower answers heartbeats while its write runs (nothing it says waits for that write).
      for (const ack of this.core.takeFollowerAcks()) this.sendRaft(ack);
    }
    this.kick();
  }

  /** Sends a Raft message; a snapshot larger than `snapshotChunkBytes` goes in chunks. */
  private sendRaft(m: RaftMessage): void {
    if (this.options.trace) traceSent(this.options.trace, m);
    const parts = snapshotChunks(m, this.options.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES);
    if (parts.length > 1) this.counters.snapshotChunksSent.inc(parts.length);
    for (const part of parts) this.send(this.pid(m.to), part);
  }

  /**
   * Why a Raft message may not be heard, or undefined: its connection must be authenticated
   * in the member role, it must speak for the actor that sent it (the raft id is its pid),
   * and that actor must be a member of the group (a member with no configuration yet,
   * joining, hears whoever the role allows).
   */
  private unauthorized(m: RaftMessage, from: Pid): string | undefined {
    const role = this.options.memberRole ?? "master";
    if (!actsAs(this.sender, role)) return `its connection is ${describePeer(this.sender)}, and only a ${role} may speak Raft`;
    if (m.from !== from.toString()) return `it claims to be from member ${m.from}`;
    const members = this.core.membership();
    if (!members.isEmpty() && !members.has(m.from)) return `${m.from} is not a member of the group (${members.members().join(", ")})`;
    return undefined;
  }

  /**
   * On the leader, applies what became committed while a write is in flight, instead of
   * waiting for that write and the next Ready. A leader never rewrites its own log, so its
   * entries up to the commit index are the committed log — including entries it is still
   * writing itself: those were committed by followers alone and are durable on a majority
   * (Raft thesis 10.2.1), so a slow fsync on the leader does not hold up the answer. The
   * next Ready hands the same entries out again; apply skips what is already applied.
   */
  private applyAhead(): void {
    if (this.core.role !== RaftRole.Leader || this.applyBacklog() > 0 || this.restoring) return;
    const upTo = this.core.committed;
    if (upTo <= this.appliedIndex) return;
    for (const e of this.core.log.entries(this.appliedIndex + 1, upTo + 1)) this.apply(e);
    this.reads.applied(this.appliedIndex);
  }

  private scheduleTick(): void {
    this.tickTimer = this.delay(this.options.tickMs ?? DEFAULT_TICK_MS, () => this.onTick(true));
  }

  /**
   * One tick of the Raft clock, after whatever already waits in the mailbox. When a long
   * turn held the loop, Node runs the timers that fell due before it reads the sockets, so
   * the tick reaches the mailbox ahead of the messages that arrived during the turn: a
   * leader whose tick checks the quorum would step down for want of answers it has already
   * received (issue 18). The tick goes behind them once (it is not put off again, however
   * busy the mailbox: a flood of messages cannot stop the clock).
   */
  private onTick(first: boolean): void {
    if (this.nodeState !== RaftNodeState.Running) return;
    if (first && this.queuedItems > 0) {
      this.system.enqueueFunction(this, () => this.onTick(false));
      return;
    }
    this.core.tick();
    this.proposals.expire(this.clock.now());
    this.watchLeader();
    this.kick();
    this.scheduleTick();
  }

  /**
   * A follower watches the connection to its leader (the runtime's link): when it breaks
   * (the leader's process died: its kernel closed the connection; or the network failed)
   * `exited` tells the core at once, which elects without waiting out the election timeout
   * (core/election.ts `peerUnreachable`). Linked when the leader changes; after a break,
   * linked again at the next tick (a dead leader is then reported again at most once per
   * tick and reconnection attempt, and the core takes the first report only).
   */
  private watchLeader(): void {
    const leader = this.soft.role === RaftRole.Follower && this.soft.leader !== this.self.toString() ? this.soft.leader : "";
    if (leader === this.linkedLeader) return;
    if (this.linkedLeader !== "") this.unlink(this.pid(this.linkedLeader));
    this.linkedLeader = leader;
    if (leader !== "") this.link(this.pid(leader));
  }

  override exited(pid: Pid): void {
    const id = pid.toString();
    if (id !== this.linkedLeader || this.nodeState !== RaftNodeState.Running) return;
    this.linkedLeader = "";
    this.counters.leaderLinksLost.inc();
    this.log.info({ leader: id, term: this.core.term }, `The connection to the Raft leader ${id} broke`);
    this.core.peerUnreachable(id);
    this.kick();
  }

  /** Runs drive once after the items already queued (so a burst of proposals is one Ready). */
  private kick(): void {
    if (this.driveQueued) return;
    this.driveQueued = true;
    this.system.enqueueFunction(this, () => {
      this.driveQueued = false;
      this.drive();
    });
  }

  private drive(): void {
    if (this.nodeState !== RaftNodeState.Running) return;
    if (this.persisting) {
      // A leader sends what was proposed meanwhile now, not after its own fsync (Raft thesis 10.2.1).
      for (const m of this.core.takeLeaderMessages()) this.sendRaft(m);
      return;
    }
    if (!this.core.hasReady()) return;
    const rd = this.core.ready();
    if (rd.softState) this.onSoftState(rd.softState);
    const batch = this.persistBatch(rd);
    if (!batch) {
      for (const m of rd.messages) this.sendRaft(m);
      this.finish(rd, 0);
      return;
    }
    // A leader's appends may go out while it writes its own copy (Raft thesis 10.2.1):
    // the core counts the leader toward commit only after advance(). Votes and
    // acknowledgements promise durability, so they wait for the fsync — and only for it:
    // a follower acknowledges before it applies.
    const later: RaftMessage[] = [];
    for (const m of rd.messages) {
      if (sentBeforeDurable(m)) this.sendRaft(m);
      else later.push(m);
    }
    const durable = this.options.storage.lastIndex();
    this.persisting = true;
    const written = this.options.storage.persist(batch); // the write and fdatasync start now
    const trace = this.options.trace;
    const last = batch.entries.length > 0 ? Number(batch.entries[batch.entries.length - 1]!.index) : 0;
    if (trace && last > 0) {
      trace("persist_start", last);
      void written.then(() => trace("durable", last), () => undefined);
    }
    // Committed entries this member already has on disk are applied while the disk works.
    let early = 0;
    while (early < rd.committedEntries.length && Number(rd.committedEntries[early]!.index) <= durable) early++;
    this.enqueueApply(rd.committedEntries, 0, early);
    this.defer(
      written,
      () => {
        if (trace && last > 0) trace("durable_turn", last);
        this.persisting = false;
        if (batch.hardState) this.syncedTermVote = `${batch.hardState.term}/${batch.hardState.vote}`;
        for (const m of later) this.sendRaft(m);
        this.finish(rd, early);
      },
      (e) => this.fail(e),
    );
  }

  /**
   * What of a Ready must be made durable before its messages go out: entries, a snapshot,
   * and the hard state when term or vote changed (a vote is promised only once on disk). A
   * hard state that changed only its commit index is written with the next batch instead
   * of costing an fsync of its own (a lost commit index is learned again from the leader).
   */
  private persistBatch(rd: Ready): PersistBatch | undefined {
    if (rd.hardState) this.unsyncedHardState = rd.hardState;
    const hs = this.unsyncedHardState;
    const termVoteChanged = hs !== undefined && `${hs.term}/${hs.vote}` !== this.syncedTermVote;
    if (rd.entries.length === 0 && !rd.snapshot && !termVoteChanged) return undefined;
    this.unsyncedHardState = undefined;
    return { snapshot: rd.snapshot, entries: rd.entries, hardState: hs };
  }

  /** After the Ready is durable and sent: restore, queue the rest (from `applied` on) to apply, serve reads, advance. */
  private finish(rd: Ready, applied: number): void {
    if (rd.snapshot) {
      const index = Number(rd.snapshot.metadata?.index ?? 0n);
      // Entries still queued are below the snapshot (it is newer than the commit index).
      this.applyQueue = [];
      this.applyHead = 0;
      // Restored in slices between turns of the loop (restoreSlice); entries after the
      // snapshot queue up behind it, and reads wait for it (the applied index moves when
      // the machine holds the snapshot's state). A newer snapshot replaces one under way.
      this.restoring = { index, steps: this.sessions.restoreSteps(rd.snapshot.data), started: performance.now(), longestMs: 0, slices: 0 };
      this.restoreSlice(this.restoring);
    }
    for (const rs of rd.readStates) this.reads.confirmed(rs);
    // The core hands out the next committed entries from here on (etcd's asynchronous
    // apply): this member applies the queue in slices, in order, between turns of the loop.
    this.core.advance(rd);
    this.enqueueApply(rd.committedEntries, applied, rd.committedEntries.length);
    this.reads.applied(this.appliedIndex);
    this.maybeCompact();
    this.kick();
  }

  /** Committed entries handed out by the core and not applied yet. */
  private applyBacklog(): number {
    return this.applyQueue.length - this.applyHead;
  }

  private enqueueApply(entries: readonly RaftEntry[], from: number, to: number): void {
    for (let i = from; i < to; i++) this.applyQueue.push(entries[i]!);
    this.applyQueued();
  }

  /**
   * Applies queued entries for at most one slice (`applySlice`, ~10 ms), then lets the loop
   * run before the next slice: a large batch of committed entries (a registration storm's
   * admissions, a follower catching up) does not hold up this member's heartbeats, votes and
   * acknowledgements, which a long apply turned into elections no fault called for.
   */
  private applyQueued(): void {
    if (this.nodeState !== RaftNodeState.Running || this.restoring) return;
    const slice = { ...DEFAULT_APPLY_SLICE, ...this.options.applySlice };
    const started = performance.now();
    let n = 0;
    while (this.applyHead < this.applyQueue.length) {
      this.apply(this.applyQueue[this.applyHead++]!);
      if (++n >= slice.entries || performance.now() - started >= slice.ms) break;
    }
    if (this.applyHead >= this.applyQueue.length) {
      this.applyQueue = [];
      this.applyHead = 0;
    } else if (!this.applyScheduled) {
      this.applyScheduled = true;
      this.delay(0, () => {
        this.applyScheduled = false;
        this.applyQueued();
        this.reads.applied(this.appliedIndex);
        this.maybeCompact();
      });
    }
  }

  private apply(e: RaftEntry): void {
    const index = Number(e.index);
    if (index <= this.appliedIndex) return;
    this.appliedIndex = index;
    this.options.trace?.("applied", index);
    let result: ApplyResult | undefined;
    if (e.type === RaftEntryType.NORMAL && e.data.length > 0) result = this.sessions.apply(e.data, index);
    const before = this.proposals.aborted;
    this.proposals.applied(index, Number(e.term), result);
    if (this.proposals.aborted > before) this.counters.aborted.inc();
    this.counters.applied.inc();
  }

  private onSoftState(ss: SoftState): void {
    const was = this.soft;
    this.soft = ss;
    this.watchLeader();
    if (was.role === RaftRole.Leader && ss.role !== RaftRole.Leader) {
      const details: Record<string, string> = ss.leader === "" ? { reason: "not_leader" } : { reason: "not_leader", leader: ss.leader };
      this.reads.failAll(new DcosError(Code.UNAVAILABLE, `Read not confirmed: ${this.self.toString()} lost leadership`, { details }));
      // Answered now rather than left to their deadline: the caller retries at the leader (the hint) with the same ProposalId.
      if (this.proposals.size > 0) this.counters.stepDownAnswered.inc(this.proposals.size);
      this.proposals.failAll(
        new DcosError(
          Code.UNAVAILABLE,
          `${this.self.toString()} stepped down before the proposal was applied; its outcome is unknown (retry with the same ProposalId${ss.leader === "" ? "" : ` at the leader ${ss.leader}`})`,
          { details },
        ),
      );
    }
    if (was.leader === ss.leader && was.term === ss.term) return;
    if (was.leader !== ss.leader) this.counters.leaderChanges.inc();
    this.log.info({ term: ss.term, leader: ss.leader, role: ss.role }, `Raft leader is now ${ss.leader || "unknown"} (term ${ss.term}, this member ${ss.role})`);
    const leader = this.leaderPid();
    for (const l of this.listeners) queueMicrotask(() => l(leader, ss.term));
  }

  private maybeCompact(): void {
    const every = this.options.snapshotEntries ?? 10_000;
    const applied = this.appliedIndex;
    const storage = this.options.storage;
    const snapIndex = Number(storage.snapshot().metadata?.index ?? 0n);
    if (this.compacting || this.restoring || applied - snapIndex < every) return;
    // The snapshot is labelled with the index the machine applied; the log is compacted up to
    // it, so that entry must be on this member's disk (apply-ahead can run past it: next time).
    if (applied > storage.lastIndex()) return;
    this.compacting = true;
    const started = performance.now();
    // A view of the state as of `applied` (copy on write: cheap); it is encoded a slice at a
    // time while the member goes on (see encodeSlice), then written by the storage off the loop.
    const job: SnapshotJob = {
      index: applied,
      membership: this.core.snapshotMetadata(applied).membership!,
      pieces: this.sessions.snapshotPieces(),
      parts: [],
      started,
      longestMs: performance.now() - started,
      slices: 0,
    };
    this.encodeSlice(job);
  }

  /**
   * Draws the snapshot's pieces for at most one slice (`snapshotSlice`), then lets the loop
   * run (heartbeats, votes, acknowledgements, proposals) before the next slice; when the
   * pieces are done, hands them to the storage.
   */
  private encodeSlice(job: SnapshotJob): void {
    if (this.nodeState !== RaftNodeState.Running) return;
    const slice = { ...DEFAULT_SNAPSHOT_SLICE, ...this.options.snapshotSlice };
    const started = performance.now();
    let drawn = 0;
    let done = false;
    for (;;) {
      const r = job.pieces.next();
      if (r.done) {
        done = true;
        break;
      }
      if (r.value.length > 0) job.parts.push(r.value);
      if (++drawn >= slice.pieces || performance.now() - started >= slice.ms) break;
    }
    job.slices++;
    job.longestMs = Math.max(job.longestMs, performance.now() - started);
    if (done) this.writeSnapshot(job);
    else this.delay(slice.pauseMs, () => this.encodeSlice(job));
  }

  /**
   * Runs the restore of a leader's snapshot for at most one slice (`snapshotSlice`, as the
   * snapshot's encoding), then lets the loop run (heartbeats, votes, acknowledgements: the
   * log already holds the snapshot) before the next; the last slice makes the machine's
   * state the snapshot's, moves the applied index to it and applies what queued behind.
   */
  private restoreSlice(job: RestoreJob): void {
    if (this.nodeState !== RaftNodeState.Running || this.restoring !== job) return;
    const slice = { ...DEFAULT_SNAPSHOT_SLICE, ...this.options.snapshotSlice };
    const started = performance.now();
    let steps = 0;
    let done = false;
    for (;;) {
      if (job.steps.next().done) {
        done = true;
        break;
      }
      if (++steps >= slice.pieces || performance.now() - started >= slice.ms) break;
    }
    job.slices++;
    job.longestMs = Math.max(job.longestMs, performance.now() - started);
    if (!done) {
      this.delay(slice.pauseMs, () => this.restoreSlice(job));
      return;
    }
    this.restoring = undefined;
    this.appliedIndex = job.index;
    this.proposals.coveredBySnapshot(job.index);
    this.restoreMs.observe(job.longestMs);
    this.log.info(
      { index: job.index, slices: job.slices, longestSliceMs: Math.round(job.longestMs * 10) / 10, totalMs: Math.round(performance.now() - job.started) },
      `Restored the state machine from the leader's snapshot at ${job.index}`,
    );
    this.applyQueued();
    this.reads.applied(this.appliedIndex);
    this.maybeCompact();
  }

  private writeSnapshot(job: SnapshotJob): void {
    const storage = this.options.storage;
    const current = Number(storage.snapshot().metadata?.index ?? 0n);
    if (current >= job.index || storage.firstIndex() > job.index) {
      // A leader's snapshot was installed while this one was encoded: it is out of date.
      this.log.info({ index: job.index, storageSnapshot: current }, `Dropping the snapshot at ${job.index}: the storage has moved on to ${current}`);
      this.compacting = false;
      return;
    }
    // Entries the core has yet to hand out as committed (applied ahead of it) stay in the log.
    const keep = Math.max(this.options.catchUpEntries ?? 1_000, job.index - this.core.applied);
    const started = performance.now();
    const written = storage.compact(job.index, job.membership, job.parts, keep);
    this.snapshotMs.observe(Math.max(job.longestMs, performance.now() - started));
    this.defer(
      written,
      () => {
        this.compacting = false;
        this.snapshotTotalMs.observe(performance.now() - job.started);
        this.log.info({ index: job.index, slices: job.slices, longestSliceMs: Math.round(job.longestMs * 10) / 10, totalMs: Math.round(performance.now() - job.started) }, `Snapshot at ${job.index} written`);
      },
      (e) => this.fail(e),
    );
  }

  private fail(e: unknown): void {
    const err = asDcosError(e, Code.INTERNAL, "Raft storage failed");
    this.log.error({ err }, `Raft member ${this.self.toString()} stops: ${err.message}`);
    if (this.nodeState === RaftNodeState.Running) this.transition(RaftNodeState.Failed, err.message);
    this.proposals.failAll(new DcosError(Code.UNAVAILABLE, `Raft member failed: ${err.message}`, { cause: err }));
    this.reads.failAll(new DcosError(Code.UNAVAILABLE, `Raft member failed: ${err.message}`, { cause: err }));
  }

  private transition(to: RaftNodeState, why: string): void {
    checkTransition(this.nodeState, to);
    this.log.info({ from: this.nodeState, to, why }, `Raft member ${this.nodeState} -> ${to}: ${why}`);
    this.nodeState = to;
  }

  private pid(id: string): Pid {
    let p = this.pids.get(id);
    if (!p) this.pids.set(id, (p = Pid.parse(id)));
    return p;
  }
}

/** Trace marks of a message about to be sent: a leader's append with entries, a follower's durable acknowledgement. */
function traceSent(trace: NonNullable<RaftNodeOptions<StateMachine>["trace"]>, m: RaftMessage): void {
  if (m.body.case === "appendEntriesRequest") {
    const entries = m.body.value.entries;
    if (entries.length > 0) trace("append_sent", Number(entries[entries.length - 1]!.index));
  } else if (m.body.case === "appendEntriesResponse" && m.body.value.success && !m.body.value.writing) {
    trace("ack_sent", Number(m.body.value.index));
  }
}

/** Trace marks of a message received: an append with entries (follower), a durable acknowledgement (leader). */
function traceReceived(trace: NonNullable<RaftNodeOptions<StateMachine>["trace"]>, m: RaftMessage): void {
  if (m.body.case === "appendEntriesRequest") {
    const entries = m.body.value.entries;
    if (entries.length > 0) trace("append_received", Number(entries[entries.length - 1]!.index));
  } else if (m.body.case === "appendEntriesResponse" && m.body.value.success && !m.body.value.writing) {
    trace("ack_received", Number(m.body.value.index));
  }
}
