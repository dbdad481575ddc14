/**
 * The agent's status update journal (AgentOptions.statusUpdateLog "journal", the default):
 * the records of every stream of the agent in one append-only file,
 * `<work>/meta/status-updates/journal`. Each record is one line, `<crc32> <json>\n`: the
 * CRC-32 (8 hex digits) of the JSON, which is the record of the per-task layout
 * (update-stream-file.ts) with the stream's framework and task ids added to acknowledgements
 * and drops. The records that arrive while a write is in flight go together in the next
 * write with ONE fdatasync, whatever their tasks: no file and no directory entry per task.
 *
 * Reading: a line whose CRC or JSON is wrong is skipped and counted, and the lines after it
 * are read (a damaged record loses only itself); a last line without its newline (a crash in
 * the middle of a write) is skipped, counted, and cut off before the next append.
 *
 * Compaction: the journal keeps, per stream, the lines of its records (in memory, only
 * those of streams still live) or, for a stream whose terminal update is acknowledged, one
 * `done` record (its uuids and executor). Once the journal is at least `compactMinBytes` and
 * more than half of it is what nothing keeps (settled streams' records, forgotten streams),
 * the kept lines are written to `journal.compacted`, flushed, renamed over the journal and
 * the directory flushed: a crash at any point leaves the old journal or the new one, which
 * read back the same streams. Its size is so bounded by max(compactMinBytes, 2 x the kept
 * lines) plus one batch.
 *
 * Upgrade: recover() also reads the per-task files an older agent wrote, copies their
 * records into the journal (one flush), then removes them. Reading the same record twice
 * (a crash between the copy and the removal) changes nothing: a stream's replay ignores an
 * update whose uuid it has and an acknowledgement or drop of an update no longer pending.
 */
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { AppendFile, FileSystem } from "../../runtime/file-system.js";
import { openForAppend, syncDirectory } from "./durable.js";
import { checkRecordSize, type StoredStreams, type UpdateStore } from "./update-store.js";
import { COMPACTED_NAME, JOURNAL_NAME, readStreamFiles, recordFromJson, recordJson, type DoneRecord, type StreamRecord } from "./update-stream-file.js";

/** The journal is compacted only once it is this large (and mostly dead). */
export const DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;
/** 8 hex digits of CRC-32 and a space. */
const HEADER = 9;

export function journalPath(dir: string): string {
  return join(dir, JOURNAL_NAME);
}

/** One line of the journal. */
export function encodeJournalRecord(frameworkId: string, taskId: string, record: StreamRecord): Uint8Array {
  const json = recordJson(record);
  if (record.kind !== "update") Object.assign(json, { fw: frameworkId, task: taskId });
  const body = Buffer.from(JSON.stringify(json));
  const line = Buffer.allocUnsafe(HEADER + body.length + 1);
  line.write(crc32(body).toString(16).padStart(8, "0") + " ", 0, "latin1");
  body.copy(line, HEADER);
  line[line.length - 1] = NEWLINE;
  return checkRecordSize(line, taskId, record);
}

export interface JournalEntry {
  frameworkId: string;
  taskId: string;
  record: StreamRecord;
  /** The line as it is in the journal. */
  line: Uint8Array;
}

export interface ParsedJournal {
  entries: JournalEntry[];
  /** Damaged lines and a torn last line, skipped. */
  skipped: number;
  /** Bytes up to the end of the last whole line (the rest is a torn tail). */
  validLength: number;
}

/** Reads a journal's bytes (see the file's comment for what is skipped). */
export function parseJournal(data: Uint8Array): ParsedJournal {
  const entries: JournalEntry[] = [];
  let skipped = 0;
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(NEWLINE, start);
    if (end < 0) {
      skipped++; // torn tail
      break;
    }
    const line = data.subarray(start, end + 1);
    start = end + 1;
    if (line.length === 1) continue;
    const entry = decodeLine(line);
    if (entry) entries.push(entry);
    else skipped++;
  }
  return { entries, skipped, validLength: start < data.length ? start : data.length };
}

function decodeLine(line: Uint8Array): JournalEntry | undefined {
  if (line.length < HEADER + 2 || line[HEADER - 1] !== 0x20) return undefined;
  const hex = Buffer.from(line.subarray(0, HEADER - 1)).toString("latin1");
  const body = line.subarray(HEADER, line.length - 1);
  if (!/^[0-9a-f]{8}$/.test(hex) || crc32(body) !== Number.parseInt(hex, 16)) return undefined;
  try {
    const json = JSON.parse(Buffer.from(body).toString("utf8")) as Parameters<typeof recordFromJson>[0] & { fw?: unknown; task?: unknown };
    const record = recordFromJson(json);
    const frameworkId = record.kind === "update" ? record.update.frameworkId?.value : json.fw;
    const taskId = record.kind === "update" ? record.update.status?.taskId?.value : json.task;
    if (typeof frameworkId !== "string" || typeof taskId !== "string" || !frameworkId || !taskId) return undefined;
    return { frameworkId, taskId, record, line: line.slice() };
  } catch {
    return undefined;
  }
}

/** The lines a compaction writes for one stream. */
interface Kept {
  lines: Uint8Array[];
  bytes: number;
}

interface Pending {
  line: Uint8Array;
  kept: Kept;
  key: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface JournalOptions {
  /** The journal is compacted only from this size on (default DEFAULT_COMPACT_MIN_BYTES). */
  compactMinBytes?: number;
  /** Told of a compaction that failed (the old journal stays; tried again after the next write). */
  onCompactionError?: (err: Error) => void;
}

export class UpdateJournal implements UpdateStore {
  private readonly path: string;
  private readonly compactedPath: string;
  private readonly compactMinBytes: number;
  private readonly onCompactionError: (err: Error) => void;
  private handle: AppendFile | undefined;
  /** The open journal was empty when opened: its first flush also flushes its directory entry. */
  private fresh = false;
  /** Bytes of whole, durable records (what is past it after a failed write is cut off before the next). */
  private goodSize: number | undefined;
  private queue: Pending[] = [];
  private busy = false;
  private idleWaiters: (() => void)[] = [];
  private closing = false;
  private readonly kept = new Map<string, Kept>();
  private keptBytes = 0;
  /** Compactions done (for metrics and tests). */
  compactions = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    options: JournalOptions = {},
  ) {
    this.path = journalPath(dir);
    this.compactedPath = join(dir, COMPACTED_NAME);
    this.compactMinBytes = options.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
    this.onCompactionError = options.onCompactionError ?? (() => undefined);
  }

  /** Bytes in the journal (written, synced or not). */
  get size(): number {
    return this.handle?.size ?? this.goodSize ?? 0;
  }

  encode(frameworkId: string, taskId: string, record: StreamRecord): Uint8Array {
    return encodeJournalRecord(frameworkId, taskId, record);
  }

  append(frameworkId: string, taskId: string, line: Uint8Array): Promise<void> {
    const key = streamKey(frameworkId, taskId);
    const kept = this.keptOf(key);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, kept, key, resolve, reject });
      if (!this.busy) void this.flush();
    });
  }

  idle(): void {
    // One file for every stream: it stays open.
  }

  settle(frameworkId: string, taskId: string, done: DoneRecord): void {
    const key = streamKey(frameworkId, taskId);
    this.forget(frameworkId, taskId);
    const line = this.encode(frameworkId, taskId, done);
    this.kept.set(key, { lines: [line], bytes: line.length });
    this.keptBytes += line.length;
  }

  forget(frameworkId: string, taskId: string): void {
    const key = streamKey(frameworkId, taskId);
    const k = this.kept.get(key);
    if (!k) return;
    this.kept.delete(key);
    this.keptBytes -= k.bytes;
  }

  close(): void {
    this.closing = true;
    if (!this.busy) void this.flush();
  }

  async recover(): Promise<StoredStreams> {
    await this.exclusive();
    try {
      return await this.read();
    } finally {
      this.release();
    }
  }

  // ---- inside ----------------------------------------------------------------------------

  private keptOf(key: string): Kept {
    let k = this.kept.get(key);
    if (!k) this.kept.set(key, (k = { lines: [], bytes: 0 }));
    return k;
  }

  /** The line is durable: a compaction keeps it unless its stream was settled or forgotten since. */
  private keep(key: string, kept: Kept, line: Uint8Array): void {
    if (this.kept.get(key) !== kept) return;
    kept.lines.push(line);
    kept.bytes += line.length;
    this.keptBytes += line.length;
  }

  private async read(): Promise<StoredStreams> {
    const old = await readStreamFiles(this.fs, this.dir);
    await this.fs.remove(this.compactedPath); // a compaction cut short: the journal is the old one
    let data: Uint8Array = new Uint8Array(0);
    try {
      data = await this.fs.readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const parsed = parseJournal(data);
    if (parsed.validLength < data.length) await this.fs.truncate(this.path, parsed.validLength);
    this.goodSize = parsed.validLength;
    const streams = new Map<string, { frameworkId: string; taskId: string; records: StreamRecord[]; lines: Uint8Array[] }>();
    const add = (frameworkId: string, taskId: string, record: StreamRecord, line: Uint8Array): void => {
      const key = streamKey(frameworkId, taskId);
      let s = streams.get(key);
      if (!s) streams.set(key, (s = { frameworkId, taskId, records: [], lines: [] }));
      s.records.push(record);
      s.lines.push(line);
    };
    // An upgraded agent's per-task files first (older than anything in the journal), copied into it.
    const copied: Uint8Array[] = [];
    for (const f of old) {
      for (const r of f.records) {
        const line = this.encode(f.frameworkId, f.taskId, r);
        copied.push(line);
        add(f.frameworkId, f.taskId, r, line);
      }
    }
    for (const e of parsed.entries) add(e.frameworkId, e.taskId, e.record, e.line);
    if (copied.length > 0) await this.write(copied);
    if (old.length > 0) {
      for (const fw of new Set(old.map((f) => f.frameworkId))) await this.fs.remove(join(this.dir, fw));
      await syncDirectory(this.fs, this.dir);
    }
    for (const [key, s] of streams) {
      const k = this.keptOf(key);
      for (const line of s.lines) this.keep(key, k, line);
    }
    const unreadable = old.filter((f) => f.skipped > 0).map((f) => ({ path: f.path, count: f.skipped }));
    if (parsed.skipped > 0) unreadable.push({ path: this.path, count: parsed.skipped });
    return { streams: [...streams.values()].map(({ frameworkId, taskId, records }) => ({ frameworkId, taskId, records })), unreadable };
  }

  /** Waits for the writes under way, then holds the journal until release(). */
  private async exclusive(): Promise<void> {
    while (this.busy) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.busy = true;
  }

  private release(): void {
    this.busy = false;
    if (this.queue.length > 0 || this.closing) void this.flush();
    else for (const w of this.idleWaiters.splice(0)) w();
  }

  private async flush(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        await this.write(batch.map((b) => b.line));
        for (const b of batch) {
          this.keep(b.key, b.kept, b.line);
          b.resolve();
        }
      } catch (err) {
        for (const b of batch) b.reject(err as Error);
        // Part of the batch may be in the file: closed, and cut back to goodSize when opened again.
        await this.handle?.close().catch(() => undefined);
        this.handle = undefined;
      }
      if (this.handle && this.handle.size >= this.compactMinBytes && this.handle.size - this.keptBytes > this.keptBytes) {
        await this.compact().catch((err: unknown) => this.onCompactionError(err as Error));
      }
    }
    if (this.closing) {
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
    }
    this.busy = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Appends the lines and flushes them (one fdatasync; with the directory's fsync at once for a new journal). */
  private async write(lines: Uint8Array[]): Promise<void> {
    if (!this.handle) {
      let h = await openForAppend(this.fs, this.path);
      if (this.goodSize !== undefined && h.size > this.goodSize) {
        await h.close();
        await this.fs.truncate(this.path, this.goodSize);
        h = await openForAppend(this.fs, this.path);
      }
      this.handle = h;
      this.fresh = h.size === 0;
    }
    const h = this.handle;
    await h.append(lines);
    if (this.fresh) {
      await Promise.all([h.sync(), syncDirectory(this.fs, this.dir)]);
      this.fresh = false;
    } else {
      await h.sync();
    }
    this.goodSize = h.size;
  }

  /** Writes the kept lines to a new journal and renames it over the old one (see the file's comment). */
  private async compact(): Promise<void> {
    const lines = [...this.kept.values()].flatMap((k) => k.lines);
    const data = Buffer.concat(lines);
    await this.fs.writeFile(this.compactedPath, data, 0o600);
    await this.fs.syncFile(this.compactedPath);
    await this.handle?.close();
    this.handle = undefined;
    await this.fs.rename(this.compactedPath, this.path);
    this.goodSize = data.length;
    await syncDirectory(this.fs, this.dir);
    this.compactions++;
  }
}

function streamKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}\u0000${taskId}`;
}
