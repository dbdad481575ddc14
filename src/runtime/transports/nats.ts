import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect, headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { PeerIdentity } from "../identity.js";
import { ProbeReplySchema, ProbeSchema } from "../../gen/dcos/v1/runtime_pb.js";
import { SystemClock, type Clock, type Timer } from "../clock.js";
import { Code, DcosError } from "../error.js";
import { silentLogger, type Logger } from "../log.js";
import { DEFAULT_MAX_FRAME_BYTES, type Outbound, type Transport, type TransportSink } from "../transport.js";
import { deliverFrame } from "./frame-delivery.js";
import { FrameQueue } from "./frame-queue.js";
import { NatsSubjects } from "./nats-subjects.js";
import { natsConnectOptions, type NatsSecurity } from "./nats-security.js";

export interface NatsTransportOptions {
  /** NATS server URL(s), e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** This node's address (its pids are name@address); any text without whitespace or '@'. */
  address: string;
  /** First subject token(s) of every subject the transport uses (default "dcos.rt"). */
  subjectRoot?: string;
  /** Largest frame accepted; bigger ones are dropped and counted (default 16 MiB; sends are also capped by the server's max_payload). */
  maxFrameBytes?: number;
  /** Frames are cut at about this size (default 64 KiB). */
  targetFrameBytes?: number;
  /** How often a linked peer is probed (default 1 s). */
  heartbeatIntervalMs?: number;
  /** A probe not answered within this time makes the peer count as exited (default 3 s). */
  heartbeatTimeoutMs?: number;
  /** After publishing this many bytes, wait for the server to acknowledge (PING/PONG) before publishing more (default 8 MiB). */
  maxUnflushedBytes?: number;
  /** Most bytes queued for one peer before new messages to it are dropped (default 256 MiB). */
  maxQueuedBytes?: number;
  clock?: Clock;
  logger?: Logger;
  /** TLS and credentials for the connection to NATS (default none). */
  security?: NatsSecurity;
  /**
   * Signs every frame this node publishes and checks the signature of every frame it
   * receives (security/pki/nats-signing.ts): a frame's sender is then the identity its
   * signature proves, and frames without a valid one are dropped as `unauthenticated`.
   * Absent: the subject names the sender and peers are unauthenticated (trusted in every role).
   */
  frameAuth?: FrameAuthenticator;
}

/** Proof of who published a frame on a subject (NATS carries no sender identity of its own). */
export interface FrameAuthenticator {
  /** Headers proving this node published `frame` on `subject`. */
  sign(subject: string, frame: Uint8Array): Record<string, string>;
  /** The identity the headers prove for `sender` (the address the subject names), or why the frame is refused. */
  verify(subject: string, sender: string, frame: Uint8Array, headers: (name: string) => string | undefined): PeerIdentity | string;
}

export interface NatsTransportStats {
  framesSent: number;
  envelopesSent: number;
  framesReceived: number;
  envelopesReceived: number;
  probesSent: number;
}

/** A linked peer being probed. */
interface Watch {
  timer: Timer | undefined;
  sequence: number;
}

/**
 * Actor messages over NATS: each node subscribes to its own subjects; frames for a peer
 * are published on `<root>.<peer>.frames.<self>`, so the subject says who sent them and
 * one publisher's frames to one subject stay in order. There is no connection per peer,
 * so liveness is probed: a linked peer that does not answer a probe within the heartbeat
 * timeout (or has no subscriber at all) counts as exited.
 */
export class NatsTransport implements Transport {
  readonly address: string;
  readonly stats: NatsTransportStats = { framesSent: 0, envelopesSent: 0, framesReceived: 0, envelopesReceived: 0, probesSent: 0 };
  private sink: TransportSink | undefined;
  private readonly subjects: NatsSubjects;
  private readonly queues = new Map<string, FrameQueue>();
  private readonly dirty = new Set<string>();
  private readonly watches = new Map<string, Watch>();
  private readonly subscriptions: Subscription[] = [];
  private readonly maxFrameBytes: number;
  private readonly sendFrameBytes: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private flushScheduled = false;
  private waitingServer = false;
  private unflushed = 0;
  private stopped = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: NatsTransportOptions,
  ) {
    this.address = options.address;
    this.subjects = new NatsSubjects(options.subjectRoot ?? "dcos.rt");
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.sendFrameBytes = Math.min(this.maxFrameBytes, nc.info?.max_payload ?? 1024 * 1024);
    this.clock = options.clock ?? new SystemClock();
    this.log = (options.logger ?? silentLogger()).child({ transport: "nats", node: options.address });
  }

  /** Connects to the NATS server; UNAVAILABLE when it cannot be reached. */
  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    if (!options.address || /[\s@]/.test(options.address)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid NATS node address '${options.address}': must be non-empty, without whitespace or '@'`);
    }
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: options.servers, name: `dcos-node ${options.address}`, maxReconnectAttempts: -1, ...(await natsConnectOptions(options.security)) });
    } catch (err) {
      throw new DcosError(Code.UNAVAILABLE, `Cannot connect to NATS at ${String(options.servers)}: ${(err as Error).message}`, { cause: err });
    }
    return new NatsTransport(nc, options);
  }

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    this.subscriptions.push(
      this.nc.subscribe(this.subjects.framesInbox(this.address), {
        callback: (err, msg) => {
          if (err || this.stopped) return;
          const peer = this.subjects.sender(msg.subject);
          this.stats.framesReceived++;
          let identity: PeerIdentity | undefined;
          if (this.options.frameAuth) {
            const proved = this.options.frameAuth.verify(msg.subject, peer, msg.data, (name) => msg.headers?.get(name) || undefined);
            if (typeof proved === "string") {
              sink.frameDropped(peer, "unauthenticated", `frame of ${msg.data.length} bytes on ${msg.subject}: ${proved}`);
              return;
            }
            identity = proved;
          }
          this.stats.envelopesReceived += deliverFrame(sink, peer, msg.data, this.maxFrameBytes, identity);
        },
      }),
      this.nc.subscribe(this.subjects.probe(this.address), {
        callback: (err, msg) => {
          if (err || this.stopped) return;
          let sequence: bigint;
          try {
            sequence = fromBinary(ProbeSchema, msg.data).sequence;
          } catch (e) {
            sink.frameDropped(msg.reply ?? "?", "undecodable", `bad probe: ${(e as Error).message}`);
            return;
          }
          msg.respond(toBinary(ProbeReplySchema, create(ProbeReplySchema, { address: this.address, sequence })));
        },
      }),
    );
    await this.nc.flush();
    this.log.info(`NATS transport up as ${this.address}`);
  }

  send(out: Outbound): void {
    const sink = this.sink;
    if (!sink || this.stopped) throw new DcosError(Code.FAILED_PRECONDITION, `NATS transport ${this.address} is not running`);
    const peer = out.to.address;
    let queue = this.queues.get(peer);
    if (!queue) {
      queue = new FrameQueue({ maxFrameBytes: this.sendFrameBytes, ...(this.options.targetFrameBytes ? { targetFrameBytes: this.options.targetFrameBytes } : {}) });
      this.queues.set(peer, queue);
    }
    const limit = this.options.maxQueuedBytes ?? 256 * 1024 * 1024;
    if (queue.bytes > limit) {
      sink.sendFailed(peer, 1, `more than ${limit} bytes already queued for ${peer}`);
      return;
    }
    const env = sink.encode(out);
    if (queue.push(env) < 0) {
      sink.frameDropped(peer, "oversize", `message ${env.type} from ${env.from} to ${env.to} (${env.payload.length} bytes) does not fit in a frame of ${this.sendFrameBytes} bytes`);
      return;
    }
    this.dirty.add(peer);
    this.scheduleFlush();
  }

  link(address: string): void {
    if (!this.sink || this.stopped || this.watches.has(address)) return;
    const watch: Watch = { timer: undefined, sequence: 0 };
    this.watches.set(address, watch);
    this.probe(address, watch);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const w of this.watches.values()) w.timer?.cancel();
    this.watches.clear();
    for (const s of this.subscriptions) s.unsubscribe();
    this.flushNow();
    try {
      await this.nc.drain();
    } catch (err) {
      this.log.warn({ err }, "NATS connection did not drain cleanly");
    }
    this.sink = undefined;
  }

  // ---- liveness ---------------------------------------------------------------------

  private probe(peer: string, watch: Watch): void {
    watch.timer = undefined;
    const sequence = ++watch.sequence;
    this.stats.probesSent++;
    const timeout = this.options.heartbeatTimeoutMs ?? 3000;
    const payload = toBinary(ProbeSchema, create(ProbeSchema, { address: this.address, sequence: BigInt(sequence) }));
    this.nc.request(this.subjects.probe(peer), payload, { timeout }).then(
      (reply) => {
        if (this.watches.get(peer) !== watch) return;
        const r = fromBinary(ProbeReplySchema, reply.data);
        if (r.address !== peer) {
          this.exited(peer, `probe answered by ${r.address}`);
          return;
        }
        watch.timer = this.clock.setTimer(this.options.heartbeatIntervalMs ?? 1000, () => this.probe(peer, watch));
      },
      (err: Error) => {
        if (this.watches.get(peer) === watch) this.exited(peer, `no answer to probe ${sequence} within ${timeout} ms: ${err.message}`);
      },
    );
  }

  private exited(peer: string, why: string): void {
    this.watches.delete(peer);
    this.log.info({ peer, why }, `Peer ${peer} counts as exited: ${why}`);
    this.sink?.peerExited(peer);
  }

  // ---- sending ----------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled || this.waitingServer) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.waitingServer || this.stopped) return;
    this.flushNow();
    const limit = this.options.maxUnflushedBytes ?? 8 * 1024 * 1024;
    if (this.unflushed < limit) return;
    // Backpressure: let the server acknowledge what was published before publishing more;
    // meanwhile new messages pile up into bigger frames.
    this.waitingServer = true;
    this.unflushed = 0;
    this.nc.flush().then(
      () => this.resume(),
      (err: Error) => {
        this.log.warn({ err }, "NATS flush failed");
        this.resume();
      },
    );
  };

  private resume(): void {
    this.waitingServer = false;
    if (this.dirty.size > 0) this.scheduleFlush();
  }

  private flushNow(): void {
    for (const peer of this.dirty) {
      const queue = this.queues.get(peer)!;
      const subject = this.subjects.frames(peer, this.address);
      queue.writeTo((frame, envelopes) => {
        try {
          this.nc.publish(subject, frame, this.options.frameAuth ? { headers: signedHeaders(this.options.frameAuth.sign(subject, frame)) } : undefined);
        } catch (err) {
          const lost = envelopes + queue.clear();
          this.sink?.sendFailed(peer, lost, `publish to ${subject} failed: ${(err as Error).message}`);
          return false;
        }
        this.unflushed += frame.length;
        return true;
      }, this.stats);
    }
    this.dirty.clear();
  }
}

function signedHeaders(fields: Record<string, string>): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(fields)) h.set(k, v);
  return h;
}
