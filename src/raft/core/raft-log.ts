import { Code, DcosError } from "../../runtime/error.js";
import type { RaftEntry, RaftSnapshot } from "../../gen/dcos/v1/raft_pb.js";
import { limitSize, logCompacted, logUnavailable, type RaftLogStorage } from "./log-storage.js";

/**
 * The core's view of the log (etcd's raftLog): the persisted part read through the
 * storage, plus the unstable part — entries (and a snapshot) handed to the driver but not
 * yet persisted. `committed` and `applied` are volatile positions on top of it.
 *
 * Invariants: applied <= committed <= lastIndex(); unstable entries start at `offset`
 * and override whatever the storage holds at and after that index.
 */
export class RaftLog {
  committed: number;
  applied: number;
  /** A snapshot received from the leader and not yet persisted. */
  unstableSnapshot: RaftSnapshot | undefined;
  /** Entries not yet persisted; unstableEntries[0] has index `offset`. */
  unstableEntries: RaftEntry[] = [];
  offset: number;

  constructor(readonly storage: RaftLogStorage, committed: number, applied?: number) {
    this.offset = storage.lastIndex() + 1;
    const first = storage.firstIndex();
    this.applied = applied === undefined ? first - 1 : Math.max(applied, first - 1);
    // What the state machine applied was committed, even if that commit index was not persisted.
    this.committed = Math.max(committed, first - 1, this.applied);
    if (this.committed > storage.lastIndex()) {
      throw new DcosError(
        Code.DATA_LOSS,
        `Commit index ${this.committed} (applied ${this.applied}) is beyond the last persisted entry ${storage.lastIndex()}`,
      );
    }
  }

  private snapshotIndex(): number | undefined {
    const m = this.unstableSnapshot?.metadata;
    return m ? Number(m.index) : undefined;
  }

  firstIndex(): number {
    const s = this.snapshotIndex();
    return s !== undefined ? s + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.offset + this.unstableEntries.length - 1;
    const s = this.snapshotIndex();
    return s !== undefined ? s : this.storage.lastIndex();
  }

  /** The term of entry i; throws `compacted` / `unavailable` outside the log. */
  term(i: number): number {
    if (i >= this.offset && i < this.offset + this.unstableEntries.length) {
      return Number(this.unstableEntries[i - this.offset]!.term);
    }
    const s = this.snapshotIndex();
    if (s !== undefined) {
      if (i === s) return Number(this.unstableSnapshot!.metadata!.term);
      if (i < s) throw logCompacted(i, s + 1);
      throw logUnavailable(i, this.lastIndex());
    }
    if (i > this.lastIndex()) throw logUnavailable(i, this.lastIndex());
    return this.storage.term(i);
  }

  /** The term of entry i, or undefined if it is compacted or beyond the log. */
  termOrUndefined(i: number): number | undefined {
    if (i > this.lastIndex() || i < this.firstIndex() - 1) return undefined;
    try {
      return this.term(i);
    } catch (e) {
      if (DcosError.is(e, Code.OUT_OF_RANGE)) return undefined;
      throw e;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, term: number): boolean {
    return this.termOrUndefined(i) === term;
  }

  /** Whether a log ending at (lastIndex, term) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi), from storage and the unstable part; throws `compacted` if lo is. */
  entries(lo: number, hi: number, maxBytes?: number): RaftEntry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw logCompacted(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw logUnavailable(hi - 1, this.lastIndex());
    let out: RaftEntry[] = [];
    if (lo < this.offset) {
      out = this.storage.entries(lo, Math.min(hi, this.offset), maxBytes);
      if (out.length < Math.min(hi, this.offset) - lo) return out; // size limit reached
    }
    if (hi > this.offset) {
      const from = Math.max(lo, this.offset) - this.offset;
      const unstable = this.unstableEntries.slice(from, hi - this.offset);
      out = out.length === 0 ? unstable : out.concat(unstable);
    }
    return limitSize(out, maxBytes);
  }

  /** The first index in `entries` whose term differs from ours (or is new), or 0. */
  findConflict(entries: readonly RaftEntry[]): number {
    for (const e of entries) {
      const i = Number(e.index);
      if (!this.matchTerm(i, Number(e.term))) return i;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`, and its term:
   * the hint for fast backtracking. Stops at the first compacted index.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.termOrUndefined(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Appends entries from the leader after (prevIndex, prevTerm) if our log matches there,
   * truncating a conflicting suffix. Returns the index of the last new entry, or
   * undefined if the log does not match. `truncatedFrom` reports a truncation.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    leaderCommit: number,
    entries: readonly RaftEntry[],
  ): { lastNew: number; truncatedFrom?: number; appended: RaftEntry[] } | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    let appended: RaftEntry[] = [];
    let truncatedFrom: number | undefined;
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new DcosError(Code.INTERNAL, `Entry ${conflict} conflicts with the committed log (committed ${this.committed})`);
      }
      if (conflict <= this.lastIndex()) truncatedFrom = conflict;
      appended = entries.slice(conflict - prevIndex - 1);
      this.append(appended);
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return truncatedFrom === undefined ? { lastNew, appended } : { lastNew, appended, truncatedFrom };
  }

  /** Appends to the unstable part, replacing anything at and after the first new index. */
  append(entries: readonly RaftEntry[]): void {
    if (entries.length === 0) return;
    const at = Number(entries[0]!.index);
    if (at <= this.committed) {
      throw new DcosError(Code.INTERNAL, `Cannot overwrite committed entry ${at} (committed ${this.committed})`);
    }
    if (at > this.lastIndex() + 1) {
      throw new DcosError(Code.INTERNAL, `Cannot append entry ${at}: the log ends at ${this.lastIndex()}`);
    }
    const end = this.offset + this.unstableEntries.length;
    if (at === end) {
      for (const e of entries) this.unstableEntries.push(e);
    } else if (at <= this.offset) {
      this.offset = at;
      this.unstableEntries = [...entries];
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, at - this.offset).concat(entries);
    }
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) {
      throw new DcosError(Code.INTERNAL, `Commit index ${index} is beyond the last entry ${this.lastIndex()}`);
    }
    this.committed = index;
    return true;
  }

  /** Commits `index` if its entry is of `term` (a leader commits only its own term's entries by counting). */
  maybeCommit(index: number, term: number): boolean {
    return index > this.committed && this.termOrUndefined(index) === term && this.commitTo(index);
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new DcosError(Code.INTERNAL, `Applied index ${index} is out of range [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
  }

  /** Committed entries not yet applied (none while a snapshot is waiting to be persisted). */
  nextCommittedEntries(maxBytes?: number): RaftEntry[] {
    if (this.unstableSnapshot || this.committed <= this.applied) return [];
    return this.entries(this.applied + 1, this.committed + 1, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return !this.unstableSnapshot && this.committed > this.applied;
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(snapshot: RaftSnapshot): void {
    const index = Number(snapshot.metadata!.index);
    this.committed = index;
    this.unstableSnapshot = snapshot;
    this.unstableEntries = [];
    this.offset = index + 1;
  }

  /** The driver persisted entries up to (index, term): they leave the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || index >= this.offset + this.unstableEntries.length) return;
    if (Number(this.unstableEntries[index - this.offset]!.term) !== term) return;
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshotIndex() === index) {
      this.unstableSnapshot = undefined;
      this.applied = Math.max(this.applied, index);
    }
  }

  /** The snapshot to send a follower whose next entry is compacted. */
  snapshot(): RaftSnapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }
}
