/**
 * The per-task layout of the status update streams (AgentOptions.statusUpdateLog "files",
 * and what agents before session 9 wrote): one append-only file of JSON lines per task,
 * one record per update received and per acknowledgement, each fsynced before the caller
 * goes on (Mesos's TaskStatusUpdateStream checkpoint). A torn last line (a crash in the
 * middle of a write) is skipped on reading. `StreamFileWriter` group-commits the appends.
 * The records' JSON is shared with the agent's journal (update-journal.ts), which reads
 * these files when it finds them (an upgraded agent) and moves their records into itself.
 */
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { dirname, join } from "node:path";
import { StatusUpdateSchema, type StatusUpdate } from "../../gen/dcos/v1/internal_pb.js";
import type { AppendFile, FileSystem } from "../../runtime/file-system.js";
import { openForAppend, syncDirectory } from "./durable.js";
import { pathComponent } from "./paths.js";

/**
 * Session 9's journal's file name, in the streams' directory itself (where a framework whose id
 * is `journal` has its per-task files): the journal is now beside that directory
 * (update-journal.ts journalPath), and an agent finding this file moves it there.
 */
export const LEGACY_JOURNAL_NAME = "journal";

/**
 * `drop`: the update `uuid` was never sent and never will be (recovery drops the unsent
 * RUNNING of a task whose executor no checkpoint holds: recovery.ts); replay takes it out of
 * the pending updates without counting it acknowledged.
 */
export type StreamRecord = { kind: "update"; update: StatusUpdate } | { kind: "ack"; uuid: Uint8Array } | { kind: "drop"; uuid: Uint8Array } | DoneRecord | BaseRecord;

/**
 * What is left of the history of a stream still live (journal only: written by its
 * compaction after the stream's updates not yet taken out, in place of the rest): the uuids
 * (hex) of its last updates taken out of it, oldest first (at most RETIRED_KEPT in
 * status-update-manager.ts), those of them dropped rather than acknowledged, and whether its
 * terminal update was acknowledged. `latest`: the uuid of its newest update when that one was
 * taken out too (its update record is written just before this one, so that it is read back
 * as the newest). Replay takes these uuids out of the pending updates.
 */
export interface BaseRecord {
  kind: "base";
  retired: string[];
  dropped: string[];
  terminated: boolean;
  latest?: string;
}

/**
 * What is left of a stream whose terminal update was acknowledged (journal only: written by
 * its compaction in place of the stream's records): the uuids it received and those
 * acknowledged (hex), so that a duplicate is still told apart, and its executor, whose
 * checkpoint may still list the task (the stream goes with that executor: forgetExecutor).
 */
export interface DoneRecord {
  kind: "done";
  executorId: string;
  received: string[];
  acknowledged: string[];
}

export const STREAM_FILE_SUFFIX = ".updates";
const SUFFIX = STREAM_FILE_SUFFIX;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function streamFilePath(dir: string, frameworkId: string, taskId: string): string {
  return join(dir, pathComponent("framework id", frameworkId), pathComponent("task id", taskId) + SUFFIX);
}

/** The record as the JSON object both layouts write (`t` its kind). */
export function recordJson(record: StreamRecord): Record<string, JsonValue> {
  switch (record.kind) {
    case "update":
      return { t: "update", update: toJson(StatusUpdateSchema, record.update) };
    case "done":
      return { t: "done", ex: record.executorId, received: record.received, acked: record.acknowledged };
    case "base":
      return { t: "base", retired: record.retired, dropped: record.dropped, term: record.terminated, ...(record.latest === undefined ? {} : { latest: record.latest }) };
    default:
      return { t: record.kind, uuid: Buffer.from(record.uuid).toString("base64") };
  }
}

/** The record of a JSON object recordJson made; throws on anything else. */
export function recordFromJson(json: {
  t?: unknown;
  update?: JsonValue;
  uuid?: unknown;
  ex?: unknown;
  received?: unknown;
  acked?: unknown;
  retired?: unknown;
  dropped?: unknown;
  term?: unknown;
  latest?: unknown;
}): StreamRecord {
  if (json.t === "update" && json.update !== undefined) return { kind: "update", update: fromJson(StatusUpdateSchema, json.update) };
  if ((json.t === "ack" || json.t === "drop") && typeof json.uuid === "string") return { kind: json.t, uuid: new Uint8Array(Buffer.from(json.uuid, "base64")) };
  if (json.t === "done" && typeof json.ex === "string" && isStrings(json.received) && isStrings(json.acked)) {
    return { kind: "done", executorId: json.ex, received: json.received, acknowledged: json.acked };
  }
  if (json.t === "base" && isStrings(json.retired) && isStrings(json.dropped) && typeof json.term === "boolean" && (json.latest === undefined || typeof json.latest === "string")) {
    return { kind: "base", retired: json.retired, dropped: json.dropped, terminated: json.term, ...(json.latest === undefined ? {} : { latest: json.latest }) };
  }
  throw new Error(`unknown record ${JSON.stringify(json).slice(0, 80)}`);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** One line of a stream file. */
export function encodeRecord(record: StreamRecord): Uint8Array {
  return encoder.encode(JSON.stringify(recordJson(record)) + "\n");
}

function decodeRecord(line: string): StreamRecord {
  return recordFromJson(JSON.parse(line) as Parameters<typeof recordFromJson>[0]);
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** One stream file as the writer has it: its open handle and the records waiting for the next write. */
interface OpenFile {
  handle?: AppendFile;
  created: boolean;
  queue: { bytes: Uint8Array; waiter: Waiter }[];
  flushing: boolean;
  /** Close once the queue is empty (release() was called). */
  release: boolean;
}

/**
 * Appends records to many stream files with group commit: each file stays open while its
 * stream is busy, the records that arrive for a file while its previous write is in
 * flight go together in its next write with one fdatasync, and a new file's directory entry
 * is made durable by one directory fsync shared with every other file created meanwhile,
 * asked for together with the file's first fdatasync (one wait for the journal, not two).
 * `append` resolves only once its record is on disk (what a caller may act on after a
 * crash); a new file's directory is fsynced before that too.
 */
export class StreamFileWriter {
  private readonly files = new Map<string, OpenFile>();

  /** fs: the agent's disk (AgentOptions.fs). */
  constructor(private readonly fs: FileSystem) {}

  /** Open handles now (streams with records in flight or not yet released). */
  get open(): number {
    return this.files.size;
  }

  /** record: the record, or its line as encodeRecord made it. */
  append(path: string, record: StreamRecord | Uint8Array, created: boolean): Promise<void> {
    let f = this.files.get(path);
    if (!f) this.files.set(path, (f = { created: false, queue: [], flushing: false, release: false }));
    f.created ||= created;
    f.release = false;
    return new Promise<void>((resolve, reject) => {
      f.queue.push({ bytes: record instanceof Uint8Array ? record : encodeRecord(record), waiter: { resolve, reject } });
      if (!f.flushing) void this.flush(path, f);
    });
  }

  /** The stream is idle (nothing unacknowledged): close its file once its writes are done. */
  release(path: string): void {
    const f = this.files.get(path);
    if (!f) return;
    f.release = true;
    if (!f.flushing) void this.flush(path, f);
  }

  /** Closes every file once its writes are done. */
  releaseAll(): void {
    for (const path of [...this.files.keys()]) this.release(path);
  }

  private async flush(path: string, f: OpenFile): Promise<void> {
    f.flushing = true;
    while (f.queue.length > 0) {
      const batch = f.queue.splice(0);
      try {
        // Status updates carry what executors report (messages, data): owner-only, like the checkpoints.
        f.handle ??= await openForAppend(this.fs, path);
        await f.handle.append(batch.map((b) => b.bytes));
        if (f.created) {
          // A new file: its data and its directory entry, both already written, are flushed at
          // once (two waits for the disk's journal in parallel, not one after the other); the
          // batch is durable once both are.
          await Promise.all([f.handle.sync(), syncDirectory(this.fs, dirname(path))]);
          f.created = false;
        } else {
          await f.handle.sync();
        }
        for (const b of batch) b.waiter.resolve();
      } catch (err) {
        for (const b of batch) b.waiter.reject(err as Error);
        // A failed write may have left part of a line: later records start on a fresh handle,
        // and a reader skips the torn line.
        await f.handle?.close().catch(() => undefined);
        f.handle = undefined;
      }
    }
    if (f.release && this.files.get(path) === f) {
      this.files.delete(path);
      await f.handle?.close().catch(() => undefined);
      f.handle = undefined;
    }
    f.flushing = false;
  }
}
export interface StreamFile {
  path: string;
  /** The stream's ids, from the file's place (`<framework>/<task>.updates`). */
  frameworkId: string;
  taskId: string;
  records: StreamRecord[];
  /** Lines that could not be read (a torn tail), skipped. */
  skipped: number;
}

/** The names in dir; none if it is a file (not a framework's directory). */
async function listDirectory(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.list(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw err;
  }
}

/** Every stream file under dir (`<dir>/<framework>/<task>.updates`; every name in dir is a framework's), parsed. */
export async function readStreamFiles(fs: FileSystem, dir: string): Promise<StreamFile[]> {
  const out: StreamFile[] = [];
  for (const fw of (await fs.list(dir)).sort()) {
    const files = (await listDirectory(fs, join(dir, fw))).filter((f) => f.endsWith(SUFFIX)).sort();
    for (const f of files) {
      const path = join(dir, fw, f);
      const records: StreamRecord[] = [];
      let skipped = 0;
      for (const line of decoder.decode(await fs.readFile(path)).split("\n")) {
        if (line.length === 0) continue;
        try {
          records.push(decodeRecord(line));
        } catch {
          skipped++;
        }
      }
      out.push({ path, frameworkId: fw, taskId: f.slice(0, -SUFFIX.length), records, skipped });
    }
  }
  return out;
}
