import { create } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import {
  RaftEntrySchema,
  RaftHardStateSchema,
  RaftMembershipSchema,
  RaftSnapshotMetadataSchema,
  RaftSnapshotSchema,
  type RaftEntry,
  type RaftHardState,
  type RaftMembership,
  type RaftSnapshot,
} from "../../gen/dcos/v1/raft_pb.js";

/**
 * The log as the Raft core reads it (etcd's `Storage`): what has been persisted, as seen
 * by the protocol. Indices and terms are plain numbers (safe up to 2^53); entries, hard
 * state and snapshots are the protobuf messages of proto/dcos/v1/raft.proto, so the same
 * objects go to the wire and to the write-ahead log.
 *
 * The core never writes through this interface. The driver (the raft actor, or a test)
 * persists what `ready()` hands out — hard state, entries, snapshot — and only then calls
 * `advance()`; entries the core handed out but that were not yet persisted live in the
 * core's own unstable buffer.
 *
 * Layout: the log holds entries firstIndex()..lastIndex(); everything at or below
 * firstIndex() - 1 is covered by the snapshot (whose index is firstIndex() - 1). An empty
 * log of a new member has firstIndex() = 1, lastIndex() = 0.
 */
export interface RaftLogStorage {
  /** The persisted hard state and the membership recorded in the latest snapshot
   *  (empty voters and learners if there is no snapshot yet). Membership entries in the
   *  log after the snapshot are found by the core itself. */
  initialState(): RaftInitialState;
  /**
   * Entries [lo, hi), in order. With maxBytes, stops once the total size exceeds it,
   * but always returns at least one entry if lo < hi.
   * Throws a DcosError OUT_OF_RANGE: `compacted` if lo < firstIndex(), `unavailable` if
   * hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes?: number): RaftEntry[];
  /** The term of entry i, for firstIndex() - 1 <= i <= lastIndex() (the snapshot's term
   *  for firstIndex() - 1). Throws `compacted` below, `unavailable` above. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (index 0 and no data if there is none). */
  snapshot(): RaftSnapshot;
}

export interface RaftInitialState {
  hardState: RaftHardState;
  membership: RaftMembership;
}

/** Why a RaftLogStorage read failed: below the snapshot, or beyond the end of the log. */
export type LogUnavailableReason = "compacted" | "unavailable";

export function logCompacted(i: number, firstIndex: number): DcosError {
  return new DcosError(Code.OUT_OF_RANGE, `Log entry ${i} is compacted: the log starts at ${firstIndex}`, {
    details: { reason: "compacted" },
  });
}

export function logUnavailable(i: number, lastIndex: number): DcosError {
  return new DcosError(Code.OUT_OF_RANGE, `Log entry ${i} is unavailable: the log ends at ${lastIndex}`, {
    details: { reason: "unavailable" },
  });
}

/** True if e is the error a RaftLogStorage throws for a read below its first index. */
export function isCompacted(e: unknown): boolean {
  return DcosError.is(e, Code.OUT_OF_RANGE) && e.details.reason === "compacted";
}

/** The size an entry counts for against a maxBytes limit (payload plus framing). */
export function entrySize(e: RaftEntry): number {
  return e.data.length + 24;
}

/** Cuts entries to the maxBytes budget, keeping at least one. */
export function limitSize(entries: RaftEntry[], maxBytes?: number): RaftEntry[] {
  if (maxBytes === undefined || entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

export function emptySnapshot(membership?: RaftMembership): RaftSnapshot {
  return create(RaftSnapshotSchema, {
    metadata: create(RaftSnapshotMetadataSchema, {
      index: 0n,
      term: 0n,
      membership: membership ?? create(RaftMembershipSchema, {}),
    }),
  });
}

/**
 * The log in memory (etcd's MemoryStorage): for tests and simulations, and as the model
 * the durable storage follows. The driver calls append / setHardState / applySnapshot
 * when it "persists" a ready batch; createSnapshot + compact when the state machine has
 * taken a snapshot.
 */
export class MemoryStorage implements RaftLogStorage {
  private hardState: RaftHardState = create(RaftHardStateSchema, {});
  private snap: RaftSnapshot;
  /** ents[0] is a placeholder carrying the snapshot's index and term. */
  private ents: RaftEntry[];

  constructor(membership?: RaftMembership) {
    this.snap = emptySnapshot(membership);
    this.ents = [create(RaftEntrySchema, { index: 0n, term: 0n })];
  }

  initialState(): RaftInitialState {
    return {
      hardState: this.hardState,
      membership: this.snap.metadata?.membership ?? create(RaftMembershipSchema, {}),
    };
  }

  setHardState(hs: RaftHardState): void {
    this.hardState = hs;
  }

  private offset(): number {
    return Number(this.ents[0]!.index);
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number {
    const off = this.offset();
    if (i < off) throw logCompacted(i, off + 1);
    if (i > this.lastIndex()) throw logUnavailable(i, this.lastIndex());
    return Number(this.ents[i - off]!.term);
  }

  entries(lo: number, hi: number, maxBytes?: number): RaftEntry[] {
    const off = this.offset();
    if (lo <= off) throw logCompacted(lo, off + 1);
    if (hi > this.lastIndex() + 1) throw logUnavailable(hi - 1, this.lastIndex());
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  snapshot(): RaftSnapshot {
    return this.snap;
  }

  /**
   * Appends entries, replacing any conflicting suffix (the new entries win from their
   * first index on). Entries already covered by the snapshot are ignored. Throws if the
   * entries would leave a gap after the last index.
   */
  append(entries: readonly RaftEntry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    let from = entries;
    const lastNew = Number(entries[entries.length - 1]!.index);
    if (lastNew < first) return;
    const start = Number(entries[0]!.index);
    if (start < first) from = entries.slice(first - start);
    const at = Number(from[0]!.index);
    if (at > this.lastIndex() + 1) {
      throw new DcosError(Code.INTERNAL, `Cannot append entry ${at}: the log ends at ${this.lastIndex()}, a gap would form`);
    }
    this.ents.length = at - this.offset();
    for (const e of from) this.ents.push(e);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: RaftSnapshot): void {
    const index = Number(snapshot.metadata?.index ?? 0n);
    if (index <= Number(this.snap.metadata?.index ?? 0n)) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Snapshot at ${index} is out of date: storage has one at ${this.snap.metadata?.index ?? 0n}`);
    }
    this.snap = snapshot;
    this.ents = [create(RaftEntrySchema, { index: BigInt(index), term: snapshot.metadata!.term })];
  }

  /**
   * Records a snapshot of the state machine as of `index` (which must be in the log) and
   * returns it. Does not drop entries: call compact() for that.
   */
  createSnapshot(index: number, membership: RaftMembership, data: Uint8Array): RaftSnapshot {
    const current = Number(this.snap.metadata?.index ?? 0n);
    if (index <= current) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Snapshot at ${index} is out of date: storage has one at ${current}`);
    }
    if (index > this.lastIndex()) {
      throw new DcosError(Code.OUT_OF_RANGE, `Cannot snapshot at ${index}: the log ends at ${this.lastIndex()}`);
    }
    this.snap = create(RaftSnapshotSchema, {
      metadata: create(RaftSnapshotMetadataSchema, { index: BigInt(index), term: BigInt(this.term(index)), membership }),
      data,
    });
    return this.snap;
  }

  /** Drops the entries at and below `index` (which must be covered by a snapshot the
   *  state machine can restore from). */
  compact(index: number): void {
    const off = this.offset();
    if (index <= off) throw logCompacted(index, off + 1);
    if (index > this.lastIndex()) {
      throw new DcosError(Code.OUT_OF_RANGE, `Cannot compact to ${index}: the log ends at ${this.lastIndex()}`);
    }
    const placeholder = create(RaftEntrySchema, { index: BigInt(index), term: this.ents[index - off]!.term });
    this.ents = [placeholder, ...this.ents.slice(index - off + 1)];
  }
}
