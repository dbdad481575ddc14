/**
 * Where the status update manager keeps its streams' records (AgentOptions.statusUpdateLog):
 * one journal for the whole agent (update-journal.ts, the default) or a file per task
 * (`FileStore` here, the layout before session 9). Both write a record durably before its
 * append resolves, keep each stream's records in order, and read back every stream.
 */
import { Code, DcosError } from "../../runtime/error.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { encodeRecord, readStreamFiles, StreamFileWriter, streamFilePath, type BaseRecord, type DoneRecord, type StreamRecord } from "./update-stream-file.js";

/** The largest record either layout writes (a gRPC request, 4 MiB at most, fits with its JSON and base64). */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/** The encoded record, or INVALID_ARGUMENT if it is larger than MAX_RECORD_BYTES. */
export function checkRecordSize(line: Uint8Array, taskId: string, record: StreamRecord): Uint8Array {
  if (line.length <= MAX_RECORD_BYTES) return line;
  throw new DcosError(
    Code.INVALID_ARGUMENT,
    `The status update ${record.kind} record of task ${taskId} is ${line.length} bytes; a record may have at most ${MAX_RECORD_BYTES} bytes (its message and data are too large)`,
  );
}

/** Streams read back by recover(): each stream's records in the order written. */
export interface StoredStreams {
  /** `lines`: each record's line as the store keeps it (the journal: what rebase() takes back). */
  streams: { frameworkId: string; taskId: string; records: StreamRecord[]; lines?: Uint8Array[] }[];
  /** Records that could not be read (a torn tail, a damaged record), skipped, by file. */
  unreadable: { path: string; count: number }[];
}

export interface UpdateStore {
  /** The record as this store writes it; INVALID_ARGUMENT if it is too large (checkRecordSize). */
  encode(frameworkId: string, taskId: string, record: StreamRecord): Uint8Array;
  /** Appends an encoded record of the stream; resolves once it is on disk. */
  append(frameworkId: string, taskId: string, line: Uint8Array): Promise<void>;
  /** The stream has nothing unacknowledged (it may stay quiet for hours). */
  idle(frameworkId: string, taskId: string): void;
  /**
   * Records of a live stream were taken out durably (an acknowledgement, a drop): the
   * `retired` lines (as appended or read back) need not be kept, `base` stands for its history
   * from now on, with `latestLine` (its newest update, when it is among those taken out)
   * just before it. The journal's compaction so keeps of a live stream only its updates not
   * taken out and its base (update-journal.ts).
   */
  rebase(frameworkId: string, taskId: string, retired: readonly Uint8Array[], base: BaseRecord, latestLine: Uint8Array | undefined): void;
  /** The stream's terminal update is acknowledged (durably): from now on `done` stands for all its records. */
  settle(frameworkId: string, taskId: string, done: DoneRecord): void;
  /** The stream is gone (its executor or framework is); its records need not be kept. */
  forget(frameworkId: string, taskId: string): void;
  /** Closes its files once their writes are done. */
  close(): void;
  /** Reads every stream back (before any append). */
  recover(): Promise<StoredStreams>;
}

/**
 * A file per task (`<dir>/<framework>/<task>.updates`, update-stream-file.ts): every task's
 * first record makes a file and a directory entry, each file has its own fdatasyncs.
 * Forgotten streams' files stay (they are read again by the next recovery).
 */
export class FileStore implements UpdateStore {
  private readonly writer: StreamFileWriter;
  /** Stream files known to exist (a new one's first write also flushes its directory). */
  private readonly known = new Set<string>();

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
  ) {
    this.writer = new StreamFileWriter(fs);
  }

  encode(_frameworkId: string, taskId: string, record: StreamRecord): Uint8Array {
    return checkRecordSize(encodeRecord(record), taskId, record);
  }

  append(frameworkId: string, taskId: string, line: Uint8Array): Promise<void> {
    const path = streamFilePath(this.dir, frameworkId, taskId);
    const created = !this.known.has(path);
    this.known.add(path);
    return this.writer.append(path, line, created);
  }

  idle(frameworkId: string, taskId: string): void {
    this.writer.release(streamFilePath(this.dir, frameworkId, taskId));
  }

  rebase(): void {
    // A file per task keeps every record (it is read whole again after a crash).
  }

  settle(frameworkId: string, taskId: string): void {
    this.idle(frameworkId, taskId);
  }

  forget(frameworkId: string, taskId: string): void {
    const path = streamFilePath(this.dir, frameworkId, taskId);
    this.writer.release(path);
    this.known.delete(path);
  }

  close(): void {
    this.writer.releaseAll();
  }

  async recover(): Promise<StoredStreams> {
    const files = await readStreamFiles(this.fs, this.dir);
    for (const f of files) this.known.add(f.path);
    return {
      streams: files.map((f) => ({ frameworkId: f.frameworkId, taskId: f.taskId, records: f.records })),
      unreadable: files.filter((f) => f.skipped > 0).map((f) => ({ path: f.path, count: f.skipped })),
    };
  }
}
