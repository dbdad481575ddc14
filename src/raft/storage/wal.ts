import { fromBinary } from "@bufbuild/protobuf";
import { join } from "node:path";
import { RaftWalRecordSchema, type RaftHardState, type RaftWalRecord } from "../../gen/dcos/v1/raft_pb.js";
import { Metrics, type Counter, type Samples } from "../../metrics/metrics.js";
import { Code, DcosError, asDcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { AppendFile, FileSystem } from "../../runtime/file-system.js";
import { segmentFile, segmentsIn, type SegmentName } from "./segment-name.js";
import { encodeRecords, type WalRecord } from "./wal-codec.js";
import { corruption, scanFrames } from "./wal-frame.js";

export interface WalOptions {
  fs: FileSystem;
  dir: string;
  /** A segment is closed and a new one started once it grows past this. */
  segmentBytes?: number;
  /** The index the first entry will have if the directory holds no segment yet. */
  firstIndex?: number;
  metrics?: Metrics;
  log?: Logger;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

interface Pending {
  records: readonly WalRecord[];
  /** The records, framed. */
  bytes: Uint8Array;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The segmented write-ahead log. Records are framed with a length and a checksum, appended
 * to the last segment, and acknowledged only after fdatasync. Appends that arrive while a
 * sync runs are queued and go to disk together in the next write and the next single sync
 * (group commit). A segment that grows past `segmentBytes` is closed and the next one starts
 * with the latest hard state, so segments wholly below a snapshot can be deleted.
 *
 * `open` replays the directory: a torn tail of the last segment is truncated away; damage
 * anywhere else is refused with DATA_LOSS naming the file and offset.
 */
export class WriteAheadLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: DcosError | undefined;
  private closed = false;
  private hardState: RaftHardState | undefined;
  private lastIndex: number;
  private readonly fsyncs: Counter;
  private readonly recordsWritten: Counter;
  private readonly bytesWritten: Counter;
  private readonly fsyncMs: Samples;
  private readonly batchRecords: Samples;

  private constructor(
    private readonly options: Required<Pick<WalOptions, "fs" | "dir" | "segmentBytes">> & { log: Logger },
    private segments: SegmentName[],
    private file: AppendFile,
    lastIndex: number,
    metrics: Metrics,
  ) {
    this.lastIndex = lastIndex;
    this.fsyncs = metrics.counter("raft/wal_fsyncs", "fdatasync calls of the write-ahead log");
    this.recordsWritten = metrics.counter("raft/wal_records_written", "Records appended to the write-ahead log");
    this.bytesWritten = metrics.counter("raft/wal_bytes_written", "Bytes appended to the write-ahead log");
    this.fsyncMs = metrics.sampled("raft/wal_fsync_ms", "Time of one write + fdatasync of the write-ahead log");
    this.batchRecords = metrics.sampled("raft/wal_batch_records", "Records made durable by one fdatasync");
    metrics.gauge("raft/wal_segments", () => this.segments.length, "Segments of the write-ahead log");
  }

  /** Opens (creating if needed) the log in options.dir and returns it with every record on disk, in order. */
  static async open(options: WalOptions): Promise<{ wal: WriteAheadLog; records: RaftWalRecord[] }> {
    const { fs, dir } = options;
    const log = (options.log ?? silentLogger()).child({ component: "wal" });
    await fs.mkdirp(dir);
    const segments = segmentsIn(await fs.list(dir));
    const records: RaftWalRecord[] = [];
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      if (i > 0 && seg.seq !== segments[i - 1]!.seq + 1) {
        throw new DcosError(Code.DATA_LOSS, `Write-ahead log segment missing in ${dir}: ${seg.file} follows ${segments[i - 1]!.file}; refusing to start`, {
          details: { file: join(dir, seg.file) },
        });
      }
      await readSegment(fs, join(dir, seg.file), i === segments.length - 1, records, log);
    }
    let lastIndex = (options.firstIndex ?? 1) - 1;
    for (const r of records) if (r.record.case === "entry" || r.record.case === "snapshot") lastIndex = Number(r.record.value.index);
    if (segments.length === 0) {
      const first = { seq: 0, firstIndex: lastIndex + 1, file: segmentFile(0, lastIndex + 1) };
      segments.push(first);
      const file = await fs.openAppend(join(dir, first.file));
      await file.sync();
      await fs.syncDir(dir);
      await file.close();
      log.info({ dir, segment: first.file }, "Created a new write-ahead log");
    }
    const last = segments[segments.length - 1]!;
    const file = await fs.openAppend(join(dir, last.file));
    const resolved = { fs, dir, segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, log };
    const wal = new WriteAheadLog(resolved, segments, file, lastIndex, options.metrics ?? new Metrics());
    for (const r of records) if (r.record.case === "hardState") wal.hardState = r.record.value;
    log.info({ dir, segments: segments.length, records: records.length, lastIndex }, "Opened the write-ahead log");
    return { wal, records };
  }

  /** The segments on disk, oldest first. */
  segmentNames(): readonly SegmentName[] {
    return this.segments;
  }

  /** Appends records; resolves once they are on disk (after fdatasync). */
  append(records: readonly WalRecord[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new DcosError(Code.FAILED_PRECONDITION, "Cannot append: the write-ahead log is closed"));
    if (records.length === 0) return Promise.resolve();
    const bytes = encodeRecords(records);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Follows the durable hard state and last index (what a new segment starts from). */
  private track(r: WalRecord): void {
    if (r.case === "hardState") this.hardState = r.value;
    else this.lastIndex = Number(r.value.index);
  }

  /** Writes whatever is queued with one write and one fdatasync, until the queue is empty. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.queue;
        this.queue = [];
        const chunks = batch.map((p) => p.bytes);
        let records = 0;
        for (const p of batch) records += p.records.length;
        try {
          const started = performance.now();
          // One trip to the thread pool where the file system allows (O_DSYNC), else two.
          if (this.file.appendDurable) await this.file.appendDurable(chunks);
          else {
            await this.file.append(chunks);
            await this.file.sync();
          }
          this.fsyncMs.observe(performance.now() - started);
          this.fsyncs.inc();
          this.recordsWritten.inc(records);
          this.batchRecords.observe(records);
          for (const c of chunks) this.bytesWritten.inc(c.length);
        } catch (e) {
          this.fail(e, batch);
          return;
        }
        for (const p of batch) for (const r of p.records) this.track(r);
        for (const p of batch) p.resolve();
        if (this.file.size >= this.options.segmentBytes) await this.rotateOrFail();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** A failed write or sync is not retried (the kernel may have dropped the dirty pages). */
  private fail(e: unknown, batch: Pending[]): void {
    this.failure = new DcosError(Code.INTERNAL, `Write-ahead log failed writing ${this.file.path}: ${(e as Error).message ?? String(e)}`, { cause: e });
    this.options.log.error({ err: e, file: this.file.path }, "Write-ahead log write failed; no further appends are accepted");
    for (const p of [...batch, ...this.queue]) p.reject(this.failure);
    this.queue = [];
  }

  private async rotateOrFail(): Promise<void> {
    try {
      await this.rotate();
    } catch (e) {
      this.fail(e, []);
    }
  }

  /** Closes the current segment and starts the next, beginning with the latest hard state. */
  private async rotate(): Promise<void> {
    const { fs, dir } = this.options;
    const prev = this.segments[this.segments.length - 1]!;
    const next = { seq: prev.seq + 1, firstIndex: this.lastIndex + 1, file: segmentFile(prev.seq + 1, this.lastIndex + 1) };
    const file = await fs.openAppend(join(dir, next.file));
    if (this.hardState) await file.append([encodeRecords([{ case: "hardState", value: this.hardState }])]);
    await file.sync();
    await fs.syncDir(dir);
    await this.file.close();
    this.file = file;
    this.segments.push(next);
    this.options.log.info({ segment: next.file, previous: prev.file }, "Started a new write-ahead log segment");
  }

  /**
   * Deletes the segments whose every entry is at or below `index` (covered by a durable
   * snapshot). The last segment is always kept.
   */
  async releaseTo(index: number): Promise<number> {
    if (this.failure) throw this.failure;
    const { fs, dir } = this.options;
    let n = 0;
    while (this.segments.length > 1 && this.segments[1]!.firstIndex - 1 <= index) {
      const seg = this.segments.shift()!;
      await fs.unlink(join(dir, seg.file));
      n++;
    }
    if (n > 0) {
      await fs.syncDir(dir);
      this.options.log.info({ index, deleted: n, segments: this.segments.length }, "Deleted write-ahead log segments below the snapshot");
    }
    return n;
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.file.close();
  }
}

async function readSegment(fs: FileSystem, path: string, isLast: boolean, out: RaftWalRecord[], log: Logger): Promise<void> {
  const bytes = await fs.readFile(path);
  const scanned = scanFrames(bytes, path);
  if (scanned.tornTail) {
    if (!isLast) throw corruption(path, scanned.validEnd, `${scanned.tornTail} in a segment that is not the last`);
    log.warn({ file: path, offset: scanned.validEnd, damage: scanned.tornTail, dropped: bytes.length - scanned.validEnd },
      `Truncating the torn tail of ${path} at offset ${scanned.validEnd} (${scanned.tornTail})`);
    await fs.truncate(path, scanned.validEnd);
    await fs.syncFile(path);
  }
  for (const f of scanned.frames) {
    try {
      out.push(fromBinary(RaftWalRecordSchema, f.payload));
    } catch (e) {
      throw corruption(path, f.offset, `record with a valid checksum does not decode (${asDcosError(e).message})`);
    }
  }
}
