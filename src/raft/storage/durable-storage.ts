import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  RaftHardStateSchema,
  RaftSnapshotMetadataSchema,
  type RaftEntry,
  type RaftHardState,
  type RaftMembership,
  type RaftSnapshot,
  type RaftWalRecord,
} from "../../gen/dcos/v1/raft_pb.js";
import type { Metrics } from "../../metrics/metrics.js";
import { Code, DcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { MemoryStorage, type RaftInitialState, type RaftLogStorage } from "../core/log-storage.js";
import { NodeFileSystem, type FileSystem } from "../../runtime/file-system.js";
import { Snapshotter, frameSnapshot } from "./snapshotter.js";
import type { WalRecord } from "./wal-codec.js";
import { WriteAheadLog } from "./wal.js";

export interface DurableStorageOptions {
  /** The member's data directory; the log goes to `<dir>/wal`, snapshots to `<dir>/snap`. */
  dir: string;
  fs?: FileSystem;
  segmentBytes?: number;
  /** The bootstrap membership, used while no snapshot exists (as MemoryStorage's). */
  membership?: RaftMembership;
  metrics?: Metrics;
  log?: Logger;
}

/** What one ready() batch asks to persist, in this order: snapshot, entries, hard state. */
export interface PersistBatch {
  snapshot?: RaftSnapshot | undefined;
  entries: readonly RaftEntry[];
  hardState?: RaftHardState | undefined;
}

/**
 * RaftLogStorage over the write-ahead log and snapshot files. Reads are answered from an
 * in-memory copy of the durable log (a MemoryStorage) that changes only after the data is
 * on disk, so the core never reads back anything a crash could take away.
 *
 * On open the newest readable snapshot is loaded and the WAL replayed on top of it:
 * entries at or below the snapshot are skipped, a later entry replaces the conflicting
 * suffix, and a snapshot record (a snapshot received from the leader) drops the log.
 */
export class DurableStorage implements RaftLogStorage {
  private constructor(
    private readonly mem: MemoryStorage,
    private readonly wal: WriteAheadLog,
    private readonly snapshotter: Snapshotter,
    private readonly log: Logger,
  ) {}

  static async open(options: DurableStorageOptions): Promise<DurableStorage> {
    const fs = options.fs ?? new NodeFileSystem();
    const log = (options.log ?? silentLogger()).child({ component: "raft-storage" });
    const snapshotter = new Snapshotter(fs, join(options.dir, "snap"), log);
    const snap = await snapshotter.loadNewest();
    const base = () => {
      const m = new MemoryStorage(options.membership);
      if (snap) m.applySnapshot(snap);
      return m;
    };
    const baseIndex = Number(snap?.metadata?.index ?? 0n);
    const { wal, records } = await WriteAheadLog.open({
      fs,
      dir: join(options.dir, "wal"),
      segmentBytes: options.segmentBytes,
      firstIndex: baseIndex + 1,
      metrics: options.metrics,
      log,
    });
    const mem = replay(records, base, baseIndex, join(options.dir, "wal"));
    await ensureGeneration(mem, wal, log);
    log.info(
      { dir: options.dir, snapshot: baseIndex, firstIndex: mem.firstIndex(), lastIndex: mem.lastIndex(), term: Number(mem.initialState().hardState.term) },
      "Recovered the raft log",
    );
    return new DurableStorage(mem, wal, snapshotter, log);
  }

  // ---- RaftLogStorage (reads) ----------------------------------------------------

  initialState(): RaftInitialState {
    return this.mem.initialState();
  }

  entries(lo: number, hi: number, maxBytes?: number): RaftEntry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }

  term(i: number): number {
    return this.mem.term(i);
  }

  firstIndex(): number {
    return this.mem.firstIndex();
  }

  lastIndex(): number {
    return this.mem.lastIndex();
  }

  snapshot(): RaftSnapshot {
    return this.mem.snapshot();
  }

  // ---- writes ----------------------------------------------------------------------

  /**
   * Makes a ready() batch durable: a snapshot file first (so a WAL record never names a
   * snapshot that is not on disk), then one WAL append of the snapshot marker, the entries
   * and the hard state, acknowledged after fdatasync. Resolves when all of it is durable
   * and visible to reads.
   */
  async persist(batch: PersistBatch): Promise<void> {
    const records: WalRecord[] = [];
    if (batch.snapshot) {
      await this.snapshotter.save(batch.snapshot);
      records.push({ case: "snapshot", value: batch.snapshot.metadata! });
    }
    for (const e of batch.entries) records.push({ case: "entry", value: e });
    if (batch.hardState) records.push({ case: "hardState", value: batch.hardState });
    await this.wal.append(records);
    if (batch.snapshot) this.mem.applySnapshot(batch.snapshot);
    this.mem.append(batch.entries);
    if (batch.hardState) this.mem.setHardState(batch.hardState);
    if (batch.snapshot) await this.wal.releaseTo(Number(batch.snapshot.metadata!.index));
  }

  /**
   * The state machine has captured its state as of `index` (applied), here in pieces to
   * be concatenated: store that as a snapshot, then drop the entries at and below `index -
   * keepEntries` (the rest stay for followers that are a little behind) and delete the WAL
   * segments wholly below that. The file is framed a slice per turn of the loop and written
   * off it. Resolves with undefined, storing nothing, when the storage moved past `index`
   * meanwhile (a leader's snapshot installed).
   */
  async compact(index: number, membership: RaftMembership, data: Uint8Array | readonly Uint8Array[], keepEntries = 0): Promise<RaftSnapshot | undefined> {
    const term = this.term(index); // before any await: the entry must be in the log now
    const metadata = create(RaftSnapshotMetadataSchema, { index: BigInt(index), term: BigInt(term), membership });
    const framed = await frameSnapshot(metadata, data instanceof Uint8Array ? [data] : data);
    const current = Number(this.mem.snapshot().metadata?.index ?? 0n);
    if (index <= current || index < this.mem.firstIndex() - 1) {
      this.log.info({ index, snapshot: current }, `Not storing the snapshot at ${index}: the storage has one at ${current}`);
      return undefined;
    }
    const snapshot = this.mem.createSnapshot(index, membership, framed.data);
    await this.snapshotter.saveFramed(snapshot, framed.frame);
    const to = index - keepEntries;
    if (to >= this.mem.firstIndex() && to <= this.mem.lastIndex()) this.mem.compact(to);
    const deleted = await this.wal.releaseTo(to);
    this.log.info({ index, compactedTo: to, deletedSegments: deleted, firstIndex: this.mem.firstIndex() }, `Snapshot at ${index}; log compacted to ${to}`);
    return snapshot;
  }

  /** WAL segments on disk (for tests and metrics). */
  segments(): readonly string[] {
    return this.wal.segmentNames().map((s) => s.file);
  }

  close(): Promise<void> {
    return this.wal.close();
  }
}

/**
 * A storage gets its generation (a random id, see RaftHardState.generation) when it is
 * created, durably, before the member sends anything.
 */
async function ensureGeneration(mem: MemoryStorage, wal: WriteAheadLog, log: Logger): Promise<void> {
  const hs = mem.initialState().hardState;
  if (hs.generation !== "") return;
  const next = create(RaftHardStateSchema, { term: hs.term, vote: hs.vote, commit: hs.commit, generation: randomBytes(8).toString("hex") });
  await wal.append([{ case: "hardState", value: next }]);
  mem.setHardState(next);
  log.info({ generation: next.generation }, "New raft storage generation");
}

/** Rebuilds the durable log from the base snapshot and the WAL records, in order. */
function replay(records: readonly RaftWalRecord[], base: () => MemoryStorage, baseIndex: number, dir: string): MemoryStorage {
  let mem = base();
  for (const r of records) {
    switch (r.record.case) {
      case "hardState":
        mem.setHardState(r.record.value);
        break;
      case "entry": {
        const index = Number(r.record.value.index);
        if (index <= baseIndex) break;
        if (index > mem.lastIndex() + 1) {
          throw new DcosError(Code.DATA_LOSS, `Raft log in ${dir} has a gap: entry ${index} follows ${mem.lastIndex()}; refusing to start`);
        }
        mem.append([r.record.value]);
        break;
      }
      case "snapshot": {
        const index = Number(r.record.value.index);
        if (index < baseIndex) break;
        if (index > baseIndex) {
          throw new DcosError(
            Code.DATA_LOSS,
            `Raft log in ${dir} records a snapshot at ${index} but the newest readable snapshot is at ${baseIndex}; refusing to start`,
          );
        }
        const hs = mem.initialState().hardState;
        mem = base();
        mem.setHardState(hs);
        break;
      }
      case undefined:
        throw new DcosError(Code.DATA_LOSS, `Raft log in ${dir} holds an empty record; refusing to start`);
    }
  }
  return mem;
}
