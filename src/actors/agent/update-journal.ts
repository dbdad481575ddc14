/**
 * The agent's status update journal (AgentOptions.statusUpdateLog "journal", the default):
 * the records of every stream of the agent in one append-only file,
 * `<work>/meta/status-updates.journal`, beside the directory of the per-task layout
 * (`<work>/meta/status-updates/<framework>/…`, where any name can be a framework's). Each record is one line, `<crc32> <json>\n`: the
 * CRC-32 (8 hex digits) of the JSON, which is the record of the per-task layout
 * (update-stream-file.ts) with the stream's framework and task ids added to acknowledgements
 * and drops. The records that arrive while a write is in flight go together in the next
 * write with ONE fdatasync, whatever their tasks: no file and no directory entry per task.
 *
 * Reading: a line whose CRC or JSON is wrong is skipped and counted, and the lines after it
 * are read (a damaged record loses only itself); a last line without its newline (a crash in
 * the middle of a write) is skipped, counted, and cut off before the next append.
 *
 * Compaction: the journal keeps in memory, per stream, what a compaction writes of it: for a
 * live stream the lines of its updates not yet taken out (acknowledged or dropped) and,
 * once one was, a `base` record standing for the rest of its history (the status update
 * manager's rebase(): the last uuids taken out, whether its terminal update was
 * acknowledged, with its newest update's line before it when that one was taken out), in
 * the order written, plus the lines written since; for a stream whose terminal update is
 * acknowledged, one `done` record (its uuids and executor). A live stream so costs its
 * pending updates and about 3 KiB, whatever its history (a task flapping its health for
 * days). Once the journal is at least `compactMinBytes` and more than half of it is what
 * nothing keeps, the kept lines are written to `status-updates.journal.compacted`, flushed,
 * renamed over the journal and the directory flushed: a crash at any point leaves the old
 * journal or the new one, which read back the same streams. Its size is so bounded by
 * max(compactMinBytes, 2 x the kept lines) plus one batch.
 *
 * Upgrade: recover() moves session 9's journal (`<work>/meta/status-updates/journal`) to its
 * place (a crash between the rename's two directory flushes can leave the file under both
 * names: the old one is then removed unread). It also reads the per-task files an older
 * agent wrote (a framework whose id is `journal` included), copies their records into the
 * journal (one flush), then removes them. Reading the same record twice (a crash between the
 * copy and the removal) changes nothing: a stream's replay ignores an update whose uuid it
 * has and an acknowledgement or drop of an update no longer pending.
 */
import { basename, dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import type { AppendFile, FileSystem } from "../../runtime/file-system.js";
import { openForAppend, syncDirectory } from "./durable.js";
import { checkRecordSize, type StoredStreams, type UpdateStore } from "./update-store.js";
import { LEGACY_JOURNAL_NAME, readStreamFiles, recordFromJson, recordJson, type BaseRecord, type DoneRecord, type StreamRecord } from "./update-stream-file.js";

/** The journal is compacted only once it is this large (and mostly dead). */
export const DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;
/** 8 hex digits of CRC-32 and a space. */
const HEADER = 9;

/** The journal of the streams whose per-task directory is `dir` (`<work>/meta/status-updates.journal`): beside it, so no framework's directory can take its name. */
export function journalPath(dir: string): string {
  return join(dirname(dir), `${basename(dir)}.journal`); // not inside dir, even written with a trailing '/'
}

/** Where session 9's agent kept the journal: in the per-task directory, as `journal` (and `journal.compacted`). */
export function legacyJournalPath(dir: string): string {
  return join(dir, LEGACY_JOURNAL_NAME);
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

/** A live stream's history as its last rebase() left it (written by a compaction in its place among the stream's lines). */
interface Base {
  record: BaseRecord;
  /** Its newest update's line, when that update was taken out. */
  latest: Uint8Array | undefined;
  /** About what it writes (kept bytes are what decides a compaction). */
  bytes: number;
}

/** What a compaction writes for one stream, in order. */
interface Kept {
  frameworkId: string;
  taskId: string;
  entries: Set<Uint8Array | Base>;
  base: Base | undefined;
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
  /** The journal's directory (`<work>/meta`). */
  private readonly journalDir: string;
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
    this.compactedPath = `${this.path}.compacted`;
    this.journalDir = dirname(this.path);
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
    const kept = this.keptOf(key, frameworkId, taskId);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, kept, key, resolve, reject });
      if (!this.busy) void this.flush();
    });
  }

  idle(): void {
    // One file for every stream: it stays open.
  }

  rebase(frameworkId: string, taskId: string, retired: readonly Uint8Array[], record: BaseRecord, latestLine: Uint8Array | undefined): void {
    const k = this.kept.get(streamKey(frameworkId, taskId));
    if (!k) return;
    let bytes = 0;
    for (const line of retired) if (k.entries.delete(line)) bytes += line.length;
    if (k.base && k.entries.delete(k.base)) bytes += k.base.bytes;
    // 64 bytes of keys, 35 per uuid (hex, quoted, a comma), 8 for the CRC.
    const base: Base = { record, latest: latestLine, bytes: 72 + 35 * (record.retired.length + record.dropped.length + 1) + (latestLine?.length ?? 0) };
    k.entries.add(base); // after the lines kept so far: the updates written later are newer than its `latest`
    k.base = base;
    k.bytes += base.bytes - bytes;
    this.keptBytes += base.bytes - bytes;
  }

  settle(frameworkId: string, taskId: string, done: DoneRecord): void {
    const key = streamKey(frameworkId, taskId);
    this.forget(frameworkId, taskId);
    const line = this.encode(frameworkId, taskId, done);
    this.kept.set(key, { frameworkId, taskId, entries: new Set([line]), base: undefined, bytes: line.length });
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

  private keptOf(key: string, frameworkId: string, taskId: string): Kept {
    let k = this.kept.get(key);
    if (!k) this.kept.set(key, (k = { frameworkId, taskId, entries: new Set(), base: undefined, bytes: 0 }));
    return k;
  }

  /** The line is durable: a compaction keeps it unless its stream was settled or forgotten since, or it was taken out (rebase). */
  private keep(key: string, kept: Kept, line: Uint8Array): void {
    if (this.kept.get(key) !== kept || kept.entries.has(line)) return;
    kept.entries.add(line);
    kept.bytes += line.length;
    this.keptBytes += line.length;
  }

  private async read(): Promise<StoredStreams> {
    await this.fs.remove(this.compactedPath); // a compaction cut short: the journal is the old one
    let data = await readIfFile(this.fs, this.path);
    const legacy = legacyJournalPath(this.dir);
    const legacyData = await readIfFile(this.fs, legacy);
    if (legacyData !== undefined) {
      // Session 9's journal: moved to its place; under both names only after a crash that kept both (the same file).
      if (data === undefined) {
        await this.fs.rename(legacy, this.path);
        await syncDirectory(this.fs, this.journalDir);
        data = legacyData;
      } else {
        await this.fs.unlink(legacy);
      }
      await syncDirectory(this.fs, this.dir);
    }
    await unlinkIfFile(this.fs, `${legacy}.compacted`); // session 9's compaction cut short
    data ??= new Uint8Array(0);
    const old = await readStreamFiles(this.fs, this.dir);
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
      const k = this.keptOf(key, s.frameworkId, s.taskId);
      for (const line of s.lines) this.keep(key, k, line);
    }
    const unreadable = old.filter((f) => f.skipped > 0).map((f) => ({ path: f.path, count: f.skipped }));
    if (parsed.skipped > 0) unreadable.push({ path: this.path, count: parsed.skipped });
    return { streams: [...streams.values()], unreadable };
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
      await Promise.all([h.sync(), syncDirectory(this.fs, this.journalDir)]);
      this.fresh = false;
    } else {
      await h.sync();
    }
    this.goodSize = h.size;
  }

  /** Writes the kept lines to a new journal and renames it over the old one (see the file's comment). */
  private async compact(): Promise<void> {
    const lines: Uint8Array[] = [];
    for (const k of this.kept.values()) {
      for (const e of k.entries) {
        if (e instanceof Uint8Array) lines.push(e);
        else {
          if (e.latest) lines.push(e.latest);
          lines.push(this.encode(k.frameworkId, k.taskId, e.record));
        }
      }
    }
    const data = Buffer.concat(lines);
    await this.fs.writeFile(this.compactedPath, data, 0o600);
    await this.fs.syncFile(this.compactedPath);
    await this.handle?.close();
    this.handle = undefined;
    await this.fs.rename(this.compactedPath, this.path);
    this.goodSize = data.length;
    await syncDirectory(this.fs, this.journalDir);
    this.compactions++;
  }
}

/** The file's bytes; undefined if there is none (or it is a directory). */
async function readIfFile(fs: FileSystem, path: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    if (NOT_A_FILE.has((err as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw err;
  }
}

async function unlinkIfFile(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (!NOT_A_FILE.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
  }
}

/** A name that is not a file: missing, or a directory (a framework's, in the per-task layout). */
const NOT_A_FILE = new Set(["ENOENT", "EISDIR", "EPERM", "ENOTDIR"]);

function streamKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}\u0000${taskId}`;
}
