/**
 * A framework's durable state over one log of the masters' replicated log service,
 * written before acting and fenced by takeover.
 *
 * Opening the store takes it over: a compare-and-set of the log's value makes its version
 * this writer's epoch, and every later append and truncation is conditional on that
 * version (AppendRequest.expected_version), so a writer that lost the lease can no longer
 * write: its calls fail with FAILED_PRECONDITION. Then the log is replayed into memory.
 *
 * The state is a deterministic machine the framework gives: `empty()`, `apply(state, op)`
 * and `snapshot(state)` (ops that rebuild the state from empty). `write(ops)` appends
 * the ops (concurrent writes go together in one append), applies them to the in-memory
 * state once committed, and resolves: act on a change only after its write resolved.
 * Every `snapshotEvery` records the store appends a snapshot (begin marker, parts, end
 * marker) and truncates the log before it. The snapshot is taken (encoded) at once but
 * appended one call at a time with the writes that come meanwhile in between, so a large
 * state does not hold writes back; replay applies those writes after the snapshot. Records carry (epoch, seq) so an append
 * retried by the client and applied twice is replayed once.
 *
 * Any failed write (fenced, or no answer within the client's timeout: it may or may not
 * have been applied) closes the store: the writer must stop acting, and a leader reopens
 * (replays) to continue. `onClosed` says why.
 */
import { Code, DcosError, asDcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { decodeJson, encodeJson, valueOrEmpty, type LogStore } from "./log-store.js";

export interface StateMachine<S, Op> {
  empty(): S;
  /** Applies one op to the state (mutating it); deterministic, never throws for a written op. */
  apply(state: S, op: Op): void;
  /** Ops that rebuild `state` from empty(). */
  snapshot(state: S): Op[];
}

export interface StateStoreOptions<S, Op> {
  store: LogStore;
  /** The log, e.g. "services-state". */
  log: string;
  /** Who writes (the lease holder id), recorded in the log's value. */
  writer: string;
  /**
   * The writer's lease term (the lease's version when this writer last held it: it grows with
   * every takeover and renewal of the lease, whoever makes them), recorded in the log's value.
   * A takeover is refused (FAILED_PRECONDITION) when the log was taken over at a higher term:
   * a holder that lost the lease while its takeover was on the way (a partition healing) does
   * not fence out the leader that replaced it. Without it (0), no term is checked.
   */
  term?: number;
  machine: StateMachine<S, Op>;
  /** Records appended between snapshots (default 2,000). */
  snapshotEvery?: number;
  /** Bytes of ops per record (default 64 KiB) and per append call (default 1 MiB). */
  maxRecordBytes?: number;
  maxAppendBytes?: number;
  /** Records per Read while replaying (default 50: 50 full records stay under gRPC's 4 MiB). */
  readPage?: number;
  logger?: Logger;
  /** The store closed: fenced by a newer writer, or a write failed. */
  onClosed?(reason: DcosError): void;
}

/** One record in the log. */
type StoreRecord<Op> =
  | { e: number; s: number; ops: Op[] }
  | { e: number; s: number; snap: "begin" | "end" }
  | { e: number; s: number; part: Op[] }
  | { e: number; s: number; meta: Record<string, string> };

/** A snapshot being appended: its records' kinds and encoded contents, the next to append, where it began, writes appended since. */
interface SnapshotInProgress {
  bodies: [string, string][];
  next: number;
  begin: number;
  ops: number;
  after: number;
}

interface PendingWrite<Op> {
  ops: Op[];
  meta?: Record<string, string>;
  resolve(): void;
  reject(err: DcosError): void;
}

const encoder = new TextEncoder();

const DEFAULTS = { snapshotEvery: 2_000, maxRecordBytes: 64 * 1024, maxAppendBytes: 1024 * 1024, readPage: 50 };

/** The first position of a truncated log, from an OUT_OF_RANGE read error (details or message). */
function truncatedBegin(err: unknown): number | undefined {
  const e = asDcosError(err);
  if (e.code !== Code.OUT_OF_RANGE) return undefined;
  const text = e.details["begin"] ?? /the log begins at (\d+)/.exec(e.message)?.[1];
  return text === undefined ? undefined : Number(text);
}

export class FencedStateStore<S, Op> {
  private readonly log: Logger;
  private seq = 0;
  private sinceSnapshot = 0;
  private queue: PendingWrite<Op>[] = [];
  private writing = false;
  private closedBy: DcosError | undefined;
  private readonly metaValues: Record<string, string> = {};
  private snapshotting: SnapshotInProgress | undefined;

  private constructor(
    private readonly options: StateStoreOptions<S, Op>,
    /** The state as committed, built by replay and by every resolved write. */
    readonly state: S,
    /** This writer's epoch: the version of the log's value it set when it took over. */
    readonly epoch: number,
  ) {
    this.log = (options.logger ?? silentLogger()).child({ component: "state-store", log: options.log, epoch });
  }

  /** Takes the log over (fencing out earlier writers) and replays it. */
  static async open<S, Op>(options: StateStoreOptions<S, Op>): Promise<FencedStateStore<S, Op>> {
    const o = { ...DEFAULTS, ...options };
    const current = await valueOrEmpty(o.store, o.log);
    const term = o.term ?? 0;
    const taken = decodeJson<{ writer?: string; term?: number }>(current.value, `the value of log ${o.log}`);
    if (taken?.term !== undefined && taken.term > term) {
      throw new DcosError(Code.FAILED_PRECONDITION, `The state log ${o.log} was taken over by ${taken.writer ?? "another writer"} at lease term ${taken.term}, after this writer's term ${term}: a newer leader holds it`);
    }
    const epoch = await o.store.compareAndSet(o.log, encodeJson({ writer: o.writer, previous: current.version, ...(term > 0 ? { term } : {}) }), current.version);
    const replay = new Replay(o.machine);
    let from = 0;
    let records = 0;
    let begin = 0;
    for (;;) {
      let page: Awaited<ReturnType<LogStore["read"]>>;
      try {
        page = await o.store.read(o.log, from, from + o.readPage);
      } catch (err) {
        const truncatedTo = truncatedBegin(err);
        if (truncatedTo !== undefined && truncatedTo > from) {
          from = truncatedTo;
          continue;
        }
        throw err;
      }
      begin = page.begin;
      for (const r of page.records) {
        const what = `record ${r.position} of log ${o.log}`;
        replay.add(decodeJson<StoreRecord<Op>>(r.data, what)!, () => decodeJson<StoreRecord<Op>>(r.data, what)!);
        records++;
      }
      from += page.records.length;
      if (page.records.length === 0 || from >= page.end) break;
    }
    const store = new FencedStateStore<S, Op>(o, replay.state, epoch);
    Object.assign(store.metaValues, replay.meta);
    store.sinceSnapshot = replay.sinceSnapshot;
    store.log.info({ records, begin, epoch }, `Took over the state log ${o.log}: replayed ${records} records`);
    return store;
  }

  /** Framework-wide values written with the state (e.g. the framework id). */
  meta(key: string): string | undefined {
    return this.metaValues[key];
  }

  get closed(): DcosError | undefined {
    return this.closedBy;
  }

  /** Appends ops; resolves once committed and applied to `state`. Rejects (and closes) on any failure. */
  write(ops: Op | readonly Op[]): Promise<void> {
    const list = Array.isArray(ops) ? [...(ops as Op[])] : [ops as Op];
    return this.enqueue({ ops: list });
  }

  /** Writes framework-wide values (merged into meta()). */
  writeMeta(values: Record<string, string>): Promise<void> {
    return this.enqueue({ ops: [], meta: values });
  }

  /** Stops writing; pending writes reject. */
  close(reason = "the state store was closed"): void {
    this.fail(new DcosError(Code.CANCELLED, reason));
  }

  private enqueue(w: Omit<PendingWrite<Op>, "resolve" | "reject">): Promise<void> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...w, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    let batch: PendingWrite<Op>[] = [];
    try {
      while ((this.queue.length > 0 || this.snapshotting) && !this.closedBy) {
        // A snapshot goes out one append at a time, writes in between (replay applies those after it).
        if (this.snapshotting) await this.appendSnapshotPart(this.snapshotting);
        if (this.queue.length === 0 || this.closedBy) continue;
        batch = this.takeBatch();
        const records: StoreRecord<Op>[] = [];
        for (const w of batch) {
          if (w.meta) records.push({ e: this.epoch, s: ++this.seq, meta: w.meta });
          for (const ops of this.chunk(w.ops)) records.push({ e: this.epoch, s: ++this.seq, ops });
        }
        await this.appendRecords(records);
        for (const w of batch) {
          if (w.meta) Object.assign(this.metaValues, w.meta);
          for (const op of w.ops) this.options.machine.apply(this.state, op);
        }
        this.sinceSnapshot += records.length;
        if (this.snapshotting) this.snapshotting.after += records.length;
        for (const w of batch) w.resolve();
        batch = [];
        if (!this.snapshotting && this.sinceSnapshot >= (this.options.snapshotEvery ?? DEFAULTS.snapshotEvery)) this.snapshotting = this.takeSnapshot();
      }
    } catch (err) {
      const e = asDcosError(err);
      for (const w of batch) w.reject(e);
      this.fail(e);
    } finally {
      this.writing = false;
    }
  }

  /** Pending writes that fit in one append (at least one). */
  private takeBatch(): PendingWrite<Op>[] {
    const limit = this.options.maxAppendBytes ?? DEFAULTS.maxAppendBytes;
    const batch: PendingWrite<Op>[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const size = JSON.stringify(this.queue[0]!.ops).length;
      if (batch.length > 0 && bytes + size > limit) break;
      batch.push(this.queue.shift()!);
      bytes += size;
    }
    return batch;
  }

  private chunk(ops: Op[]): Op[][] {
    const limit = this.options.maxRecordBytes ?? DEFAULTS.maxRecordBytes;
    const out: Op[][] = [];
    let cur: Op[] = [];
    let bytes = 0;
    for (const op of ops) {
      const size = JSON.stringify(op).length + 1;
      if (cur.length > 0 && bytes + size > limit) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(op);
      bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** Appends records in calls of at most maxAppendBytes, each conditional on the epoch. Resolves with the first position. */
  private async appendRecords(records: StoreRecord<Op>[]): Promise<number> {
    const limit = this.options.maxAppendBytes ?? DEFAULTS.maxAppendBytes;
    let first = -1;
    let call: Uint8Array[] = [];
    let bytes = 0;
    const flush = async () => {
      if (call.length === 0) return;
      const positions = await this.fenced(() => this.options.store.append(this.options.log, call, this.epoch));
      if (first < 0) first = positions[0]!;
      call = [];
      bytes = 0;
    };
    for (const r of records) {
      const data = encodeJson(r);
      if (call.length > 0 && bytes + data.length > limit) await flush();
      call.push(data);
      bytes += data.length;
    }
    await flush();
    return first;
  }

  /**
   * The state now as snapshot records (begin marker, meta, parts, end marker), their
   * contents encoded at once (the state moves on); each record gets its sequence number
   * when appended, so the numbers grow in log order with the writes in between.
   */
  private takeSnapshot(): SnapshotInProgress {
    const ops = this.options.machine.snapshot(this.state);
    const bodies: [string, string][] = [["snap", '"begin"']];
    if (Object.keys(this.metaValues).length > 0) bodies.push(["meta", JSON.stringify(this.metaValues)]);
    for (const part of this.chunk(ops)) bodies.push(["part", JSON.stringify(part)]);
    bodies.push(["snap", '"end"']);
    return { bodies, next: 0, begin: -1, ops: ops.length, after: 0 };
  }

  /** Appends the snapshot's next records (one call); after the end marker, truncates the log before its begin. */
  private async appendSnapshotPart(snap: SnapshotInProgress): Promise<void> {
    const limit = this.options.maxAppendBytes ?? DEFAULTS.maxAppendBytes;
    const call: Uint8Array[] = [];
    let bytes = 0;
    // The first call carries the begin marker with what follows it (the meta record among them).
    while (snap.next < snap.bodies.length && (call.length < 2 || bytes + snap.bodies[snap.next]![1].length <= limit)) {
      const [key, body] = snap.bodies[snap.next++]!;
      const data = encoder.encode(`{"e":${this.epoch},"s":${++this.seq},"${key}":${body}}`);
      bytes += data.length;
      call.push(data);
    }
    const positions = await this.fenced(() => this.options.store.append(this.options.log, call, this.epoch));
    if (snap.begin < 0) snap.begin = positions[0]!;
    if (snap.next < snap.bodies.length) return;
    await this.fenced(() => this.options.store.truncate(this.options.log, snap.begin, this.epoch));
    this.snapshotting = undefined;
    this.sinceSnapshot = snap.after;
    this.log.info({ ops: snap.ops, records: snap.bodies.length, begin: snap.begin, writesDuring: snap.after }, "Wrote a snapshot of the state and truncated the log before it");
  }

  private async fenced<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = asDcosError(err);
      if (e.code === Code.FAILED_PRECONDITION) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Fenced: another writer took over the state log ${this.options.log} (${e.message})`, { cause: err });
      }
      throw e;
    }
  }

  private fail(err: DcosError): void {
    if (this.closedBy) return;
    this.closedBy = err;
    const pending = this.queue;
    this.queue = [];
    for (const w of pending) w.reject(err);
    if (err.code !== Code.CANCELLED) this.log.warn({ err: err.message }, "State store closed");
    this.options.onClosed?.(err);
  }
}

/** Rebuilds the state from the records of a log. */
class Replay<S, Op> {
  state: S;
  meta: Record<string, string> = {};
  sinceSnapshot = 0;
  /**
   * A snapshot being read: its state so far, and the writes appended between its begin and
   * end markers (the writer does not hold writes back while it appends a snapshot). Those
   * came after the snapshot's state was taken: they are applied to it at the end marker.
   * Until then they are applied to the state before the snapshot too, which stands if the
   * writer died before the end marker.
   */
  private building: { epoch: number; state: S; meta: Record<string, string>; after: (() => StoreRecord<Op>)[] } | undefined;
  private last = { e: -1, s: -1 };

  constructor(private readonly machine: StateMachine<S, Op>) {
    this.state = machine.empty();
  }

  /** `again` decodes the record anew (a write during a snapshot is applied to two states). */
  add(r: StoreRecord<Op>, again: () => StoreRecord<Op>): void {
    if (r.e < this.last.e || (r.e === this.last.e && r.s <= this.last.s)) return; // a duplicate of a retried append
    this.last = { e: r.e, s: r.s };
    this.sinceSnapshot++;
    if (this.building && this.building.epoch !== r.e) this.building = undefined; // its writer died mid-snapshot
    if ("snap" in r) {
      if (r.snap === "begin") this.building = { epoch: r.e, state: this.machine.empty(), meta: {}, after: [] };
      else if (this.building) {
        const b = this.building;
        this.building = undefined;
        this.state = b.state;
        this.meta = { ...this.meta, ...b.meta };
        for (const later of b.after) this.applyWrite(later());
        this.sinceSnapshot = b.after.length;
      }
    } else if ("part" in r) {
      if (this.building) for (const op of r.part) this.machine.apply(this.building.state, op);
    } else if ("meta" in r && this.building && this.justBegan) {
      // The snapshot's own meta record: right after its begin marker, in the same append.
      Object.assign(this.building.meta, r.meta);
    } else {
      this.applyWrite(r);
      this.building?.after.push(again);
    }
    this.justBegan = "snap" in r && r.snap === "begin";
  }

  private justBegan = false;

  private applyWrite(r: StoreRecord<Op>): void {
    if ("meta" in r) Object.assign(this.meta, r.meta);
    else if ("ops" in r) for (const op of r.ops) this.machine.apply(this.state, op);
  }
}
