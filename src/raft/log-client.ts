import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  AppendRequestSchema,
  AppendResponseSchema,
  CompareAndSetRequestSchema,
  CompareAndSetResponseSchema,
  GetValueRequestSchema,
  GetValueResponseSchema,
  ReadRequestSchema,
  ReadResponseSchema,
  ReplicatedLogService,
  TruncateRequestSchema,
  TruncateResponseSchema,
  type LogRecord,
} from "../gen/dcos/v1/replicated_log_pb.js";
import { statusError } from "../runtime/grpc/service.js";
import { Code, DcosError } from "../runtime/error.js";
import { Backoff } from "../runtime/backoff.js";
import { Random } from "../runtime/random.js";
import { clientConstructor } from "../runtime/grpc/service.js";
import { credentialChannelOptions, type ClientCredential } from "../security/auth/client-credential.js";

const Client = clientConstructor(ReplicatedLogService);

export interface ReplicatedLogClientOptions {
  /** host:port of the masters (any one will do; the client follows `dcos-leader`). */
  masters: readonly string[];
  /** The framework principal whose namespace the logs are in. */
  principal: string;
  /** Authenticate as this (its principal is normally `principal`); none: unauthenticated. */
  credential?: ClientCredential;
  /** How to reach the masters: TLS trusting the cluster CA (and a client certificate); default plaintext. */
  channelCredentials?: grpc.ChannelCredentials;
  /** Give up on a call after this long (default 10 s). */
  timeoutMs?: number;
  /**
   * Give up on one master after this long within a call and try the next (default 4 s): a
   * master cut off by a partition never answers, and the call must reach the others.
   */
  attemptTimeoutMs?: number;
  /** First pause between attempts while no leader answers (default 100 ms; doubles up to 1 s, jittered). */
  retryMs?: number;
  /** The pauses' jitter source (default: seeded from the OS). */
  random?: Random;
  /**
   * Unconditional appends to one log that may be in flight at once (default 2). Appends
   * made while that many calls run wait and go out together in one Append call when one
   * returns (at most APPEND_BATCH_ENTRIES records, APPEND_BATCH_BYTES bytes): under load
   * a busy master answers fewer, larger calls, much as Raft's group commit writes many
   * proposals with one fsync. 0: one call per append, nothing waits.
   */
  appendsInFlight?: number;
}

/** Records, and their bytes, that appends waiting together may reach in one Append call (one larger append goes alone). */
export const APPEND_BATCH_ENTRIES = 1_000;
export const APPEND_BATCH_BYTES = 1024 * 1024;

/** An unconditional append waiting for its log's next call. */
interface WaitingAppend {
  entries: readonly Uint8Array[];
  bytes: number;
  resolve: (positions: number[]) => void;
  reject: (err: unknown) => void;
}

/** One log's unconditional appends: calls in flight, and the appends waiting to go out together. */
interface AppendQueue {
  inFlight: number;
  waiting: WaitingAppend[];
}

/**
 * A framework's client of dcos.v1.ReplicatedLogService. It calls the master it last heard
 * lead; a standby's UNAVAILABLE with `dcos-leader` sends it there, other UNAVAILABLE and
 * ABORTED (a proposal lost in a leadership change, not applied) try the next master until
 * the timeout, and so does a master that does not answer within the attempt timeout (a
 * partition drops its packets: without this a client stuck on it would never reach the
 * majority). Errors are DcosErrors with the server's code (NOT_FOUND, OUT_OF_RANGE,
 * FAILED_PRECONDITION...). An append retried after a connection broke mid-call may be
 * applied twice (use compareAndSet for exactly-once state).
 *
 * Appends without `expectedVersion` to one log are coalesced while the client waits on the
 * master (`appendsInFlight`): each caller still gets its own positions, in the order it
 * called; appends that went out together succeed or fail together (a principal's quota
 * refusing their sum refuses each).
 */
export class ReplicatedLogClient {
  private readonly clients = new Map<string, grpc.Client>();
  private current: string;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly retryMs: number;
  private readonly random: Random;
  private readonly appendsInFlight: number;
  private readonly appendQueues = new Map<string, AppendQueue>();

  constructor(private readonly options: ReplicatedLogClientOptions) {
    if (options.masters.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "ReplicatedLogClient needs at least one master address");
    this.current = options.masters[0]!;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 4_000;
    this.retryMs = options.retryMs ?? 100;
    this.random = options.random ?? Random.fromOs();
    this.appendsInFlight = options.appendsInFlight ?? 2;
    if (!Number.isInteger(this.appendsInFlight) || this.appendsInFlight < 0) {
      throw new DcosError(Code.INVALID_ARGUMENT, `appendsInFlight must be a whole number >= 0, not ${this.appendsInFlight}`);
    }
  }

  /** The master the client calls now. */
  get master(): string {
    return this.current;
  }

  /** Appends records; with `expectedVersion`, only while the log's value is at that version (else FAILED_PRECONDITION). */
  append(log: string, entries: readonly Uint8Array[], expectedVersion?: number): Promise<number[]> {
    const bytes = entries.reduce((n, e) => n + e.byteLength, 0);
    const alone = expectedVersion !== undefined || this.appendsInFlight === 0 || entries.length === 0 || entries.length > APPEND_BATCH_ENTRIES || bytes > APPEND_BATCH_BYTES;
    if (alone) return this.appendNow(log, entries, expectedVersion);
    let queue = this.appendQueues.get(log);
    if (!queue) this.appendQueues.set(log, (queue = { inFlight: 0, waiting: [] }));
    const done = new Promise<number[]>((resolve, reject) => queue.waiting.push({ entries, bytes, resolve, reject }));
    this.sendWaiting(log, queue);
    return done;
  }

  /** Sends the log's waiting appends, as few calls as the limits allow, while fewer than appendsInFlight run. */
  private sendWaiting(log: string, queue: AppendQueue): void {
    while (queue.inFlight < this.appendsInFlight && queue.waiting.length > 0) {
      let n = 0;
      let entries = 0;
      let bytes = 0;
      for (const w of queue.waiting) {
        if (n > 0 && (entries + w.entries.length > APPEND_BATCH_ENTRIES || bytes + w.bytes > APPEND_BATCH_BYTES)) break;
        n++;
        entries += w.entries.length;
        bytes += w.bytes;
      }
      const batch = queue.waiting.splice(0, n);
      queue.inFlight++;
      const settled = (): void => {
        queue.inFlight--;
        if (queue.inFlight === 0 && queue.waiting.length === 0) this.appendQueues.delete(log);
        else this.sendWaiting(log, queue);
      };
      this.appendNow(log, batch.length === 1 ? batch[0]!.entries : batch.flatMap((w) => w.entries)).then(
        (positions) => {
          settled();
          let at = 0;
          for (const w of batch) {
            w.resolve(positions.slice(at, at + w.entries.length));
            at += w.entries.length;
          }
        },
        (err: unknown) => {
          settled();
          for (const w of batch) w.reject(err);
        },
      );
    }
  }

  private async appendNow(log: string, entries: readonly Uint8Array[], expectedVersion?: number): Promise<number[]> {
    const r = await this.call("Append", AppendRequestSchema, AppendResponseSchema, {
      log: this.name(log),
      entries: [...entries],
      expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion),
    });
    return r.positions.map(Number);
  }

  /** Records at [from, to) that exist (to omitted: to the end), with the readable bounds. */
  async read(log: string, from: number, to = 0): Promise<{ records: LogRecord[]; begin: number; end: number }> {
    const r = await this.call("Read", ReadRequestSchema, ReadResponseSchema, { log: this.name(log), from: BigInt(from), to: BigInt(to) });
    return { records: r.records, begin: Number(r.begin), end: Number(r.end) };
  }

  /** Forgets records before `before` (with `expectedVersion`: only while the value is at it); resolves with the log's first position. */
  async truncate(log: string, before: number, expectedVersion?: number): Promise<number> {
    const r = await this.call("Truncate", TruncateRequestSchema, TruncateResponseSchema, {
      log: this.name(log),
      before: BigInt(before),
      expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion),
    });
    return Number(r.begin);
  }

  async getValue(log: string): Promise<{ value: Uint8Array; version: number }> {
    const r = await this.call("GetValue", GetValueRequestSchema, GetValueResponseSchema, { log: this.name(log) });
    return { value: r.value, version: Number(r.version) };
  }

  /** Sets the value if it is at `expectedVersion` (0: never set); resolves with the new version. */
  async compareAndSet(log: string, value: Uint8Array, expectedVersion: number): Promise<number> {
    const r = await this.call("CompareAndSet", CompareAndSetRequestSchema, CompareAndSetResponseSchema, {
      log: this.name(log),
      value,
      expectedVersion: BigInt(expectedVersion),
    });
    return Number(r.version);
  }

  close(): void {
    const closed = new DcosError(Code.UNAVAILABLE, "ReplicatedLogClient closed before the append was sent");
    for (const queue of this.appendQueues.values()) for (const w of queue.waiting.splice(0)) w.reject(closed);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private name(log: string) {
    return { principal: this.options.principal, name: log };
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      c = new Client(address, this.options.channelCredentials ?? grpc.credentials.createInsecure(), {
        ...credentialChannelOptions(this.options.credential),
        // No per-call channelz bookkeeping: nothing reads it, and every append pays for it.
        "grpc.enable_channelz": 0,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  private async call<I extends DescMessage, O extends DescMessage>(
    method: string,
    input: I,
    _output: O,
    fields: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const request = create(input, fields);
    const deadline = Date.now() + this.timeoutMs;
    // Many framework instances cut off by one failover must not come back in lockstep.
    let backoff: Backoff | undefined; // made on the first retry: most calls never need one
    for (;;) {
      try {
        return await this.once<MessageShape<O>>(method, request, Math.min(deadline, Date.now() + this.attemptTimeoutMs));
      } catch (err) {
        const e = statusError(err);
        // No answer from this master in its time (down or cut off): the next one may answer.
        const retryable = e.code === Code.UNAVAILABLE || e.code === Code.ABORTED || e.code === Code.DEADLINE_EXCEEDED;
        if (!retryable || Date.now() >= deadline) {
          throw new DcosError(e.code, `ReplicatedLogService.${method} on ${this.current}: ${e.message}`, { cause: err, details: e.details });
        }
        const leader = e.details["leader"];
        if (leader && leader !== this.current) {
          this.current = leader;
          continue;
        }
        const i = this.options.masters.indexOf(this.current);
        this.current = this.options.masters[(i + 1) % this.options.masters.length]!;
        backoff ??= new Backoff({ initialMs: this.retryMs, maxMs: Math.max(this.retryMs, 1_000) }, this.random);
        await new Promise((r) => setTimeout(r, backoff!.next()));
      }
    }
  }

  private once<R>(method: string, request: unknown, deadline: number): Promise<R> {
    const client = this.client(this.current) as unknown as Record<string, (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<R>) => void>;
    return new Promise<R>((resolve, reject) => {
      client[method]!(request, new grpc.Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res as R)));
    });
  }
}
