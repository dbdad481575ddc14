/**
 * The task status update manager (Mesos's TaskStatusUpdateManager): every status update a
 * task produces is checkpointed (to the agent's journal, update-journal.ts, or with
 * `log: "files"` to its task's stream file) before it is forwarded to the master, and forwarded again with exponential backoff until the scheduler's acknowledgement
 * for that update (by uuid) comes back: the ceiling is 10 s, doubling up to 10 min, and each
 * wait is drawn from the agent's seeded Random in [ceiling/2, ceiling] (the runtime's Backoff),
 * so that the agents of a cluster whose master failed over do not all resend at one instant. Only the oldest
 * unacknowledged update of a task is in flight; the next one goes when it is acknowledged.
 * Duplicate updates, duplicate acknowledgements and unexpected acknowledgements are ignored
 * and counted: a stream knows the uuids of its pending updates and of the last RETIRED_KEPT
 * taken out of it (acknowledged or dropped), not of its whole history, so that a task that
 * flaps its health for days costs the agent (and its journal) a bounded amount. On start,
 * `recover()` reads the streams back from disk, to the same state. A stream whose terminal
 * update is acknowledged keeps only those uuids and its executor (a `done` record in the
 * journal) until its executor is removed (forgetExecutor) or its framework (cleanup).
 *
 * It is an actor of its own; the public methods dispatch into it and return promises.
 */
import type { Counter, Metrics } from "../../metrics/metrics.js";
import type { StatusUpdate } from "../../gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { Actor } from "../../runtime/actor.js";
import type { Timer } from "../../runtime/clock.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Backoff } from "../../runtime/backoff.js";
import { Random } from "../../runtime/random.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { AgentFileSystem } from "./agent-file-system.js";
import { isTerminal, taskStateName } from "../task-states.js";
import type { BaseRecord, StreamRecord } from "./update-stream-file.js";
import { UpdateJournal } from "./update-journal.js";
import { FileStore, type UpdateStore } from "./update-store.js";
import { DiskActivity } from "./disk-activity.js";

export const DEFAULT_STATUS_UPDATE_RETRY_MS = 10_000;
export const DEFAULT_STATUS_UPDATE_MAX_RETRY_MS = 600_000;

/**
 * The uuids a stream remembers of the updates taken out of it (acknowledged or dropped),
 * newest last: a duplicate of one of them (an executor re-sending an update whose
 * acknowledgement it missed, a scheduler acknowledging twice) is told apart. An executor
 * re-sends only updates the agent did not tell it were acknowledged, and a stream has one
 * update in flight at a time: 64 covers an executor that missed 64 acknowledgements in a row.
 */
export const RETIRED_KEPT = 64;

export interface StatusUpdateManagerOptions {
  /** The stream files' directory (`<dir>/<framework>/<task>.updates`); the journal is beside it, `<dir>.journal`. */
  dir: string;
  /** One journal for every stream (default) or a file per task (the layout before session 9). */
  log?: "journal" | "files";
  /** The journal is compacted from this size on (update-journal.ts; default 4 MiB). */
  compactMinBytes?: number;
  /** Sends an update towards the master; called inside the manager's actor. */
  forward: (update: StatusUpdate) => void;
  metrics: Metrics;
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Start paused (nothing is forwarded until resume()). Default false. */
  paused?: boolean;
  name?: string;
  /** Where its disk work is counted (the agent's); its own by default. */
  disk?: DiskActivity;
  /** The retry jitter's source (the agent's seeded Random; default: seeded from the OS). */
  random?: Random;
  /** The disk the stream files are on (the agent's; default the real one). */
  fs?: FileSystem;
}

/** What happened to an update handed to the manager. */
export enum UpdateOutcome {
  /** Checkpointed and queued (forwarded now if it is the oldest pending one). */
  ACCEPTED = "accepted",
  /** Its uuid was seen before; ignored. */
  DUPLICATE = "duplicate",
}

/** What happened to an acknowledgement. */
export enum AckOutcome {
  ACKNOWLEDGED = "acknowledged",
  DUPLICATE = "duplicate",
  UNEXPECTED = "unexpected",
}

/** A stream found on disk by recover(). */
export interface RecoveredStream {
  frameworkId: string;
  taskId: string;
  /** The newest update received for the task (acknowledged or not). */
  latest: StatusUpdate | undefined;
  pending: number;
  terminated: boolean;
}

const hex = (uuid: Uint8Array): string => Buffer.from(uuid).toString("hex");

class Stream {
  /** The uuids of the updates received and not taken out, and of the last RETIRED_KEPT taken out. */
  readonly received = new Set<string>();
  /** Those of the last RETIRED_KEPT taken out that were acknowledged. */
  readonly acknowledged = new Set<string>();
  /** The uuids of the last RETIRED_KEPT updates taken out, oldest first. */
  retired: string[] = [];
  /** The lines (as the store keeps them) of the updates received and not taken out, in order. */
  readonly lines = new Map<string, Uint8Array>();
  /** The line of `latest`. */
  latestLine: Uint8Array | undefined;
  /** Checkpointed, not yet acknowledged, oldest first; pending[0] is in flight. */
  readonly pending: StatusUpdate[] = [];
  latest: StatusUpdate | undefined;
  /** The terminal update was acknowledged: the stream takes nothing more. */
  terminated = false;
  timer: Timer | undefined;
  /** Pending updates not to be sent yet (update()'s sendAfter has not settled). */
  readonly held = new Set<StatusUpdate>();
  /** Retry timing: the ceiling doubles (docs/protocols.md), each wait jittered below it. */
  readonly backoff: Backoff;
  /** Its executor, kept once the stream is settled (its updates are dropped then). */
  executorId = "";

  constructor(
    readonly frameworkId: string,
    readonly taskId: string,
    retry: { initialMs: number; maxMs: number },
    random: Random,
  ) {
    this.backoff = new Backoff(retry, random);
  }

  /** The update is taken out of the stream (acknowledged, or dropped unsent): its line, if known. */
  retire(id: string, acknowledged: boolean): Uint8Array | undefined {
    if (acknowledged) this.acknowledged.add(id);
    this.retired.push(id);
    if (this.retired.length > RETIRED_KEPT) {
      const old = this.retired.shift()!;
      this.received.delete(old);
      this.acknowledged.delete(old);
    }
    const line = this.lines.get(id);
    this.lines.delete(id);
    return line;
  }

  /** What stands for the stream's history of updates taken out (the journal's compaction writes it). */
  base(): BaseRecord {
    const latest = this.latest && !this.lines.has(uuidOf(this.latest)) ? uuidOf(this.latest) : undefined;
    return {
      kind: "base",
      retired: [...this.retired],
      dropped: this.retired.filter((id) => !this.acknowledged.has(id)),
      terminated: this.terminated,
      ...(latest === undefined ? {} : { latest }),
    };
  }
}

const uuidOf = (u: StatusUpdate): string => hex(u.status?.uuid.length ? u.status.uuid : u.uuid);

export class StatusUpdateManager extends Actor {
  private readonly streams = new Map<string, Stream>();
  private readonly initialRetryMs: number;
  private readonly maxRetryMs: number;
  private paused: boolean;
  private readonly disk: DiskActivity;
  /** Appends records in order per stream, group-committed (the journal: one fdatasync per batch). */
  private readonly store: UpdateStore;
  private readonly fs: FileSystem;
  private readonly random: Random;
  private readonly counters: Record<
    "forwarded" | "retried" | "duplicate_updates" | "duplicate_acks" | "unexpected_acks" | "rejected_updates" | "recovery_errors",
    Counter
  >;

  constructor(private readonly options: StatusUpdateManagerOptions) {
    super(options.name ?? "status-update-manager");
    this.initialRetryMs = options.initialRetryMs ?? DEFAULT_STATUS_UPDATE_RETRY_MS;
    this.maxRetryMs = options.maxRetryMs ?? DEFAULT_STATUS_UPDATE_MAX_RETRY_MS;
    this.paused = options.paused ?? false;
    this.disk = options.disk ?? new DiskActivity();
    this.random = options.random ?? Random.fromOs();
    this.fs = options.fs ?? new AgentFileSystem();
    this.store =
      options.log === "files"
        ? new FileStore(this.fs, options.dir)
        : new UpdateJournal(this.fs, options.dir, {
            ...(options.compactMinBytes === undefined ? {} : { compactMinBytes: options.compactMinBytes }),
            onCompactionError: (err) => this.log.error({ err }, `Failed to compact the status update journal in ${options.dir}: ${err.message}`),
          });
    const m = options.metrics;
    const c = (name: string, help: string): Counter => m.counter(`slave/status_updates/${name}`, help);
    this.counters = {
      forwarded: c("forwarded", "Status updates forwarded to the master, retries included"),
      retried: c("retried", "Status updates forwarded again because no acknowledgement came"),
      duplicate_updates: c("duplicate_updates", "Status updates ignored because their uuid was seen before"),
      duplicate_acks: c("duplicate_acknowledgements", "Acknowledgements ignored because the update was acknowledged before"),
      unexpected_acks: c("unexpected_acknowledgements", "Acknowledgements ignored because no such update is pending"),
      rejected_updates: c("rejected_updates", "Status updates refused after the task's terminal update was acknowledged"),
      recovery_errors: c("recovery_errors", "Unreadable records skipped while recovering update streams"),
    };
    m.gauge("slave/status_updates/pending", () => this.pendingCount(), "Status updates waiting for an acknowledgement");
  }

  override initialize(): void {
    this.disk.attach(this.clock);
  }

  override finalize(): void {
    this.store.close();
    this.disk.detach();
  }

  // ---- public API (dispatches into the actor) ---------------------------------------

  /**
   * Checkpoints the update, then queues it for forwarding. Rejects for a terminated stream.
   * `sendAfter`: the update is checkpointed at once but sent only once that settles (the
   * agent's RUNNING of a task it runs, written beside the container's checkpoint: launch.ts).
   */
  update(update: StatusUpdate, sendAfter?: Promise<unknown>): Promise<UpdateOutcome> {
    return this.system.dispatch(this, (a) => a.handleUpdate(update, sendAfter));
  }

  /**
   * Takes the task's pending updates in `state` out of its stream, durably (a `drop` record),
   * without sending them; the one in flight is kept unless forwarding is paused (recovery,
   * before the agent registers, when nothing was sent yet). Resolves with how many.
   */
  dropUnsent(frameworkId: string, taskId: string, state: TaskState): Promise<number> {
    return this.system.dispatch(this, (a) => a.handleDrop(frameworkId, taskId, state));
  }

  /** Applies the scheduler's acknowledgement of update `uuid` of the task. */
  acknowledge(frameworkId: string, taskId: string, uuid: Uint8Array): Promise<AckOutcome> {
    return this.system.dispatch(this, (a) => a.handleAck(frameworkId, taskId, uuid));
  }

  /** Reads the stream files back; forwards what is pending unless paused. */
  recover(): Promise<RecoveredStream[]> {
    return this.system.dispatch(this, (a) => a.handleRecover());
  }

  /** Stops forwarding (the master is gone); pending updates wait. */
  pause(): Promise<void> {
    return this.system.dispatch(this, (a) => a.setPaused(true));
  }

  /** Forwards every stream's oldest pending update now, with the backoff reset. */
  resume(): Promise<void> {
    return this.system.dispatch(this, (a) => a.setPaused(false));
  }

  /** Forgets a framework's streams (the framework is gone); the journal drops them at its next compaction (per-task files stay). */
  cleanup(frameworkId: string): Promise<number> {
    return this.system.dispatch(this, (a) => a.dropFramework(frameworkId));
  }

  /**
   * Forgets the settled streams of the executor's tasks (its checkpoint, which listed them,
   * is removed durably: a restarted agent will not look for them). Resolves with how many.
   */
  forgetExecutor(frameworkId: string, executorId: string): Promise<number> {
    return this.system.dispatch(this, (a) => a.dropSettled(frameworkId, executorId));
  }

  /** Updates of the task not yet acknowledged, oldest first (for reregistration and tests). */
  pendingOf(frameworkId: string, taskId: string): Promise<StatusUpdate[]> {
    return this.system.dispatch(this, (a) => [...(a.streams.get(key(frameworkId, taskId))?.pending ?? [])]);
  }

  /** Whether the task has an update here not yet acknowledged, or its terminal one acknowledged. */
  knows(frameworkId: string, taskId: string): Promise<boolean> {
    return this.system.dispatch(this, (a) => {
      const s = a.streams.get(key(frameworkId, taskId));
      return s !== undefined && (s.pending.length > 0 || s.terminated);
    });
  }

  // ---- inside the actor --------------------------------------------------------------

  private pendingCount(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.pending.length;
    return n;
  }

  private stream(frameworkId: string, taskId: string): Stream {
    const k = key(frameworkId, taskId);
    let s = this.streams.get(k);
    if (!s) {
      s = new Stream(frameworkId, taskId, this.retry(), this.random);
      this.streams.set(k, s);
    }
    return s;
  }

  private handleUpdate(update: StatusUpdate, sendAfter?: Promise<unknown>): Promise<UpdateOutcome> {
    const frameworkId = update.frameworkId?.value ?? "";
    const taskId = update.status?.taskId?.value ?? "";
    const uuid = update.status?.uuid.length ? update.status.uuid : update.uuid;
    if (!frameworkId || !taskId || uuid.length === 0) {
      throw new DcosError(Code.INVALID_ARGUMENT, "Invalid status update: framework id, task id and uuid are required");
    }
    const known = this.streams.get(key(frameworkId, taskId));
    const state = taskStateName(update.status?.state ?? TaskState.UNSPECIFIED);
    if (known?.received.has(hex(uuid))) {
      this.counters.duplicate_updates.inc();
      this.log.info({ frameworkId, taskId, uuid: hex(uuid) }, `Ignoring duplicate ${state} update for task ${taskId}`);
      return Promise.resolve(UpdateOutcome.DUPLICATE);
    }
    if (known?.terminated) {
      this.counters.rejected_updates.inc();
      throw new DcosError(
        Code.FAILED_PRECONDITION,
        `Refusing ${state} update for task ${taskId} of framework ${frameworkId}: its terminal update was already acknowledged`,
      );
    }
    const line = this.store.encode(frameworkId, taskId, { kind: "update", update }); // INVALID_ARGUMENT if too large
    const s = known ?? this.stream(frameworkId, taskId);
    s.received.add(hex(uuid));
    s.lines.set(hex(uuid), line);
    s.latest = update;
    s.latestLine = line;
    if (sendAfter) {
      s.held.add(update);
      const release = (): void => {
        s.held.delete(update);
        if (s.pending[0] === update && !s.timer && this.streams.get(key(frameworkId, taskId)) === s) this.forwardFront(s);
      };
      this.defer(sendAfter, release, release);
    }
    return this.checkpoint(s, line, () => {
      if (this.streams.get(key(frameworkId, taskId)) !== s) return UpdateOutcome.ACCEPTED; // cleaned up meanwhile
      s.pending.push(update);
      if (s.pending.length === 1) this.forwardFront(s);
      return UpdateOutcome.ACCEPTED;
    });
  }

  private handleAck(frameworkId: string, taskId: string, uuid: Uint8Array): Promise<AckOutcome> {
    const s = this.streams.get(key(frameworkId, taskId));
    const id = hex(uuid);
    if (s?.acknowledged.has(id)) {
      this.counters.duplicate_acks.inc();
      this.log.info({ frameworkId, taskId, uuid: id }, `Ignoring duplicate acknowledgement for task ${taskId}`);
      return Promise.resolve(AckOutcome.DUPLICATE);
    }
    const front = s?.pending[0];
    if (!s || !front || hex(front.status?.uuid ?? front.uuid) !== id) {
      this.counters.unexpected_acks.inc();
      this.log.warn(
        { frameworkId, taskId, uuid: id },
        `Ignoring unexpected acknowledgement for task ${taskId} of framework ${frameworkId}: ${s ? "it is not the pending update" : "no such stream"}`,
      );
      return Promise.resolve(AckOutcome.UNEXPECTED);
    }
    s.pending.shift();
    const updateLine = s.retire(id, true);
    s.timer?.cancel();
    s.timer = undefined;
    s.backoff.reset();
    if (isTerminal(front.status?.state ?? TaskState.UNSPECIFIED)) s.terminated = true;
    const ackLine = this.store.encode(frameworkId, taskId, { kind: "ack", uuid });
    const ack = this.checkpoint(s, ackLine, () => {
      if (this.streams.get(key(frameworkId, taskId)) !== s) return AckOutcome.ACKNOWLEDGED;
      // Its terminal update acknowledged, durably: the rest of the stream is its uuids.
      if (s.terminated && s.pending.length === 0) this.settle(s);
      else {
        // The update and its acknowledgement are durable: the journal keeps the stream's base instead.
        this.rebase(s, updateLine ? [updateLine, ackLine] : [ackLine]);
        if (s.pending.length > 0 && !s.timer) this.forwardFront(s);
      }
      return AckOutcome.ACKNOWLEDGED;
    });
    // Nothing unacknowledged: the stream may stay quiet for hours, so its file is closed.
    if (s.pending.length === 0) this.store.idle(frameworkId, taskId);
    return ack;
  }

  private handleDrop(frameworkId: string, taskId: string, state: TaskState): Promise<number> {
    const s = this.streams.get(key(frameworkId, taskId));
    if (!s) return Promise.resolve(0);
    const from = this.paused ? 0 : 1;
    const dropped = s.pending.filter((u, i) => i >= from && u.status?.state === state);
    if (dropped.length === 0) return Promise.resolve(0);
    const front = s.pending[0];
    const writes = dropped.map((u) => {
      s.pending.splice(s.pending.indexOf(u), 1);
      s.held.delete(u);
      this.log.info({ frameworkId, taskId }, `Dropped the unsent ${taskStateName(state)} update of task ${taskId}`);
      const updateLine = s.retire(uuidOf(u), false);
      const dropLine = this.store.encode(frameworkId, taskId, { kind: "drop", uuid: u.status?.uuid ?? u.uuid });
      return this.checkpoint(s, dropLine, () => {
        if (this.streams.get(key(frameworkId, taskId)) === s && s.latest !== undefined) this.rebase(s, updateLine ? [updateLine, dropLine] : [dropLine]);
      });
    });
    if (s.pending[0] !== front && s.pending.length > 0) this.forwardFront(s);
    return Promise.all(writes).then(() => dropped.length);
  }

  /** Appends the record (as the store encoded it; in order per stream), then runs after() inside the actor. */
  private checkpoint<T>(s: Stream, line: Uint8Array, after: () => T): Promise<T> {
    const write = this.disk.track(this.store.append(s.frameworkId, s.taskId, line));
    return new Promise<T>((resolve, reject) => {
      this.defer(
        write,
        () => {
          try {
            resolve(after());
          } catch (err) {
            reject(err);
          }
        },
        (err) => {
          this.log.error({ err, dir: this.options.dir }, `Failed to checkpoint a status update record for task ${s.taskId}`);
          reject(new DcosError(Code.INTERNAL, `Failed to checkpoint status update for task ${s.taskId}: ${(err as Error).message}`, { cause: err }));
        },
      );
    });
  }

  private forwardFront(s: Stream): void {
    s.timer?.cancel();
    s.timer = undefined;
    const front = s.pending[0];
    if (!front || this.paused || s.held.has(front)) return;
    this.counters.forwarded.inc();
    this.options.forward(front);
    const wait = s.backoff.next();
    s.timer = this.delay(wait, () => {
      s.timer = undefined;
      if (s.pending[0] !== front) return;
      this.counters.retried.inc();
      this.log.info(
        { frameworkId: s.frameworkId, taskId: s.taskId },
        `Resending ${taskStateName(front.status?.state ?? TaskState.UNSPECIFIED)} update for task ${s.taskId}: no acknowledgement after ${wait} ms`,
      );
      this.forwardFront(s);
    });
  }

  private retry(): { initialMs: number; maxMs: number } {
    return { initialMs: this.initialRetryMs, maxMs: Math.max(this.initialRetryMs, this.maxRetryMs) };
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    for (const s of this.streams.values()) {
      if (paused) {
        s.timer?.cancel();
        s.timer = undefined;
      } else {
        s.backoff.reset();
        this.forwardFront(s);
      }
    }
  }

  private dropFramework(frameworkId: string): number {
    let n = 0;
    for (const [k, s] of this.streams) {
      if (s.frameworkId !== frameworkId) continue;
      s.timer?.cancel();
      this.streams.delete(k);
      this.store.forget(s.frameworkId, s.taskId);
      n++;
    }
    return n;
  }

  /** The stream's terminal update is acknowledged: only its uuids and executor are kept. */
  private settle(s: Stream): void {
    s.executorId = s.latest?.executorId?.value ?? s.executorId;
    s.latest = undefined;
    s.latestLine = undefined;
    s.lines.clear();
    s.held.clear();
    this.store.settle(s.frameworkId, s.taskId, { kind: "done", executorId: s.executorId, received: [...s.received], acknowledged: [...s.acknowledged] });
  }

  /** Retired lines of the stream are durable as such: its base stands for them in the store. */
  private rebase(s: Stream, retired: readonly Uint8Array[]): void {
    const base = s.base();
    this.store.rebase(s.frameworkId, s.taskId, retired, base, base.latest === undefined ? undefined : s.latestLine);
  }

  private dropSettled(frameworkId: string, executorId: string): number {
    let n = 0;
    for (const [k, s] of this.streams) {
      if (s.frameworkId !== frameworkId || !s.terminated || s.pending.length > 0 || s.latest !== undefined || s.executorId !== executorId) continue;
      this.streams.delete(k);
      this.store.forget(s.frameworkId, s.taskId);
      n++;
    }
    return n;
  }

  private handleRecover(): Promise<RecoveredStream[]> {
    return new Promise((resolve, reject) => {
      this.defer(
        this.disk.track(this.store.recover()),
        ({ streams, unreadable }) => {
          const out: RecoveredStream[] = [];
          for (const u of unreadable) {
            this.counters.recovery_errors.inc(u.count);
            this.log.warn({ path: u.path, skipped: u.count }, `Skipped ${u.count} unreadable record(s) in ${u.path}`);
          }
          for (const f of streams) {
            const s = this.replay(f.frameworkId, f.taskId, f.records, f.lines);
            if (!s) {
              this.store.forget(f.frameworkId, f.taskId); // records of no update: nothing to keep
              continue;
            }
            out.push({ frameworkId: s.frameworkId, taskId: s.taskId, latest: s.latest, pending: s.pending.length, terminated: s.terminated });
            if (s.terminated && s.pending.length === 0 && s.latest !== undefined) this.settle(s);
            else if (f.lines && s.latest !== undefined) {
              // A live stream: the store keeps its updates not taken out and its base.
              const live = new Set(s.lines.values());
              const retired = f.lines.filter((l) => !live.has(l));
              if (retired.length > 0) this.rebase(s, retired);
            }
          }
          for (const s of this.streams.values()) if (!s.timer) this.forwardFront(s);
          this.log.info({ streams: out.length, pending: this.pendingCount() }, `Recovered ${out.length} status update stream(s)`);
          resolve(out);
        },
        (err) => reject(new DcosError(Code.INTERNAL, `Failed to recover status update streams from ${this.options.dir}`, { cause: err })),
      );
    });
  }

  private replay(frameworkId: string, taskId: string, records: StreamRecord[], lines: Uint8Array[] | undefined): Stream | undefined {
    if (!records.some((r) => r.kind === "update" || r.kind === "done")) return undefined;
    const s = new Stream(frameworkId, taskId, this.retry(), this.random);
    records.forEach((r, at) => {
      if (r.kind === "done") {
        // A settled stream, as a compaction wrote it.
        for (const id of r.received) s.received.add(id);
        for (const id of r.acknowledged) s.acknowledged.add(id);
        s.retired = [...r.received];
        s.pending.length = 0;
        s.lines.clear();
        s.latest = undefined;
        s.latestLine = undefined;
        s.terminated = true;
        s.executorId = r.executorId;
      } else if (r.kind === "base") {
        // A live stream's history, as a compaction wrote it after the updates not taken out.
        const gone = new Set(r.retired);
        if (r.latest !== undefined) gone.add(r.latest);
        for (let i = s.pending.length - 1; i >= 0; i--) if (gone.has(uuidOf(s.pending[i]!))) s.pending.splice(i, 1);
        for (const id of gone) s.lines.delete(id);
        if (r.latest !== undefined && !r.retired.includes(r.latest)) s.received.delete(r.latest);
        const dropped = new Set(r.dropped);
        s.retired = [...r.retired];
        s.acknowledged.clear();
        for (const id of r.retired) {
          s.received.add(id);
          if (!dropped.has(id)) s.acknowledged.add(id);
        }
        s.terminated ||= r.terminated;
      } else if (r.kind === "update") {
        const id = uuidOf(r.update);
        if (s.received.has(id)) return;
        s.received.add(id);
        s.latest = r.update;
        s.latestLine = lines?.[at];
        if (s.latestLine) s.lines.set(id, s.latestLine);
        s.pending.push(r.update);
      } else {
        const id = hex(r.uuid);
        const i = s.pending.findIndex((u) => uuidOf(u) === id);
        if (i < 0) return;
        const [acked] = s.pending.splice(i, 1);
        s.retire(id, r.kind === "ack"); // a drop: never sent, gone, not acknowledged
        if (r.kind === "ack" && isTerminal(acked!.status?.state ?? TaskState.UNSPECIFIED)) s.terminated = true;
      }
    });
    this.streams.set(key(frameworkId, taskId), s);
    return s;
  }
}

function key(frameworkId: string, taskId: string): string {
  return `${frameworkId}\u0000${taskId}`;
}
