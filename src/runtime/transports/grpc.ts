import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectResponseSchema, HelloSchema, TransportService } from "../../gen/dcos/v1/runtime_pb.js";
import { SystemClock, type Clock } from "../clock.js";
import { Code, DcosError } from "../error.js";
import { readOneofField } from "../frame-codec.js";
import { serviceDefinition } from "../grpc/service.js";
import { listenMixed, listenNoDelay } from "../grpc/mixed-port.js";
import { silentLogger, type Logger } from "../log.js";
import type { PeerIdentity } from "../identity.js";
import { DEFAULT_MAX_FRAME_BYTES, type Outbound, type Transport, type TransportSink } from "../transport.js";
import { Backoff, type BackoffOptions } from "../backoff.js";
import { Random } from "../random.js";
import { deliverFrame } from "./frame-delivery.js";
import { GrpcConnection } from "./grpc-connection.js";

export interface GrpcTransportOptions {
  /** Interface to listen on (default 127.0.0.1); also the host part of this node's address. */
  host?: string;
  /** Port to listen on; 0 picks a free one (default 0). */
  port?: number;
  /** Largest frame accepted from a peer; bigger ones are dropped and counted (default 16 MiB). */
  maxFrameBytes?: number;
  /** Frames are cut at about this size (default 64 KiB). */
  targetFrameBytes?: number;
  /**
   * false sends every message as its own frame and write: the naive baseline the
   * benchmark compares batching with. Default true.
   */
  coalesce?: boolean;
  /** Reconnection backoff per peer (default 50 ms doubling up to 5 s, with jitter). */
  backoff?: Partial<BackoffOptions>;
  /** The jitter's source (default: seeded from the OS, once per transport). */
  random?: Random;
  /** A stream the peer does not answer within this time counts as failed (default 5 s). */
  connectTimeoutMs?: number;
  /** HTTP/2 keepalive ping interval and timeout: a silent dead peer is noticed after both (defaults 10 s, 5 s). */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
  /** Most bytes queued for one peer before new messages to it are dropped (default 256 MiB). */
  maxQueuedBytes?: number;
  clock?: Clock;
  logger?: Logger;
  /** TLS for the port and the outbound streams, and who a peer is; default plaintext, every peer unauthenticated. */
  security?: GrpcTransportSecurity;
}

/**
 * How the transport secures its connections (mutual TLS); built from certificates by
 * src/security/pki, so the runtime knows nothing of them.
 */
export interface GrpcTransportSecurity {
  /** Credentials the node's port is bound with (the public services share them). */
  server: grpc.ServerCredentials;
  /** Credentials of the streams this node opens to peers (its client certificate). */
  client: grpc.ChannelCredentials;
  /**
   * Who the node that opened a stream claiming `address` is, from the connection (its
   * verified certificate); a string says why the stream is refused.
   */
  authenticate(call: grpc.ServerDuplexStream<Buffer, Buffer>, address: string): PeerIdentity | string;
  /**
   * Also serve clients that do not speak TLS on the same port (a loopback dev cluster's
   * tools); streams of the actor transport still need what `authenticate` accepts.
   */
  plaintextClients?: boolean;
}

/** Counters a benchmark or an operator reads to see how well messages are coalesced. */
export interface GrpcTransportStats {
  framesSent: number;
  envelopesSent: number;
  framesReceived: number;
  envelopesReceived: number;
  connects: number;
  /** Times a write returned false and sending waited for 'drain'. */
  drainWaits: number;
  /** Streams refused because the peer could not be authenticated. */
  refusedStreams: number;
}

type ServerStream = grpc.ServerDuplexStream<Buffer, Buffer>;

/**
 * Actor messages over gRPC: every node runs a TransportService server, and opens one
 * long-lived Connect stream to each peer it sends to (so a pair of nodes talking both ways
 * has a stream in each direction, each carrying one direction's frames in order).
 * Create with `GrpcTransport.listen`, which binds the port first so the address is known.
 */
export class GrpcTransport implements Transport {
  readonly stats: GrpcTransportStats = { framesSent: 0, envelopesSent: 0, framesReceived: 0, envelopesReceived: 0, connects: 0, drainWaits: 0, refusedStreams: 0 };
  private sink: TransportSink | undefined;
  private readonly connections = new Map<string, GrpcConnection>();
  private readonly inbound = new Set<ServerStream>();
  /**
   * Per sender address and the address it dialed, its newest accepted stream: frames of an older stream of the same
   * incarnation are dropped (order holds per connection, and a healed network can still
   * deliver an abandoned connection's data after the sender's newer connection carried
   * later messages).
   */
  private readonly newest = new Map<string, { incarnation: string; connection: bigint; call: ServerStream }>();
  private readonly incarnation: string;
  private readonly maxFrameBytes: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: Random;
  private stopped = false;
  /** Closes the listener of a port shared by TLS and plaintext clients. */
  private closeMixed: (() => void) | undefined;

  private constructor(
    private readonly server: grpc.Server,
    readonly address: string,
    private readonly options: GrpcTransportOptions,
  ) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.clock = options.clock ?? new SystemClock();
    this.random = options.random ?? Random.fromOs();
    this.incarnation = this.random.uuid();
    this.log = (options.logger ?? silentLogger()).child({ transport: "grpc", node: address });
  }

  /**
   * The node's gRPC server, so a role hosts its public services (Scheduler, Executor,
   * Operator) on the same port as the actors' transport. grpc-js accepts services after bind.
   */
  get grpcServer(): grpc.Server {
    return this.server;
  }

  /** Binds the server; the transport's address is `host:port` with the port actually bound. */
  static async listen(options: GrpcTransportOptions = {}): Promise<GrpcTransport> {
    const host = options.host ?? "127.0.0.1";
    const maxFrame = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    // gRPC's own limit sits well above ours, so a frame a bit over the limit is dropped by
    // us (logged, counted) while the stream lives on; only absurd sizes reset the stream.
    const server = new grpc.Server({
      "grpc.max_receive_message_length": Math.min(2 ** 31 - 1, maxFrame * 4 + 1024 * 1024),
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 1000,
    });
    const holder: { transport?: GrpcTransport } = {};
    server.addService(serviceDefinition(TransportService, { raw: { connect: "both" } }), {
      connect: (call: ServerStream) => holder.transport!.accept(call),
    });
    const security = options.security;
    let closeMixed: (() => void) | undefined;
    const port = await (
      security?.plaintextClients
        ? listenMixed(server, host, options.port ?? 0, security.server)
        : listenNoDelay(server, host, options.port ?? 0, security?.server ?? grpc.ServerCredentials.createInsecure())
    )
      .then((m) => {
        closeMixed = m.close;
        return m.port;
      })
      .catch((err: Error) => {
        throw new DcosError(Code.UNAVAILABLE, `Cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, { cause: err });
      });
    holder.transport = new GrpcTransport(server, `${host}:${port}`, options);
    holder.transport.closeMixed = closeMixed;
    return holder.transport;
  }

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    this.log.info(`gRPC transport listening on ${this.address}`);
  }

  send(out: Outbound): void {
    const sink = this.sink;
    if (!sink) throw new DcosError(Code.FAILED_PRECONDITION, `gRPC transport ${this.address} is not started`);
    this.connection(out.to.address, sink)?.send(sink.encode(out));
  }

  link(address: string): void {
    const sink = this.sink;
    if (sink) this.connection(address, sink)?.link();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
    for (const call of this.inbound) call.end();
    this.inbound.clear();
    this.closeMixed?.();
    this.server.forceShutdown();
    this.sink = undefined;
  }

  /** Bytes queued for peers and not yet handed to their streams: in all, and for the peer with most. */
  queuedBytes(): { total: number; max: number } {
    let total = 0;
    let max = 0;
    for (const c of this.connections.values()) {
      const b = c.queuedBytes;
      total += b;
      if (b > max) max = b;
    }
    return { total, max };
  }

  private connection(peer: string, sink: TransportSink): GrpcConnection | undefined {
    let c = this.connections.get(peer);
    if (c) return c;
    if (this.stopped) {
      sink.sendFailed(peer, 1, "transport stopped");
      return undefined;
    }
    c = new GrpcConnection({
      self: this.address,
      incarnation: this.incarnation,
      peer,
      sink,
      clock: this.clock,
      log: this.log,
      queue: {
        maxFrameBytes: this.maxFrameBytes,
        ...(this.options.targetFrameBytes !== undefined ? { targetFrameBytes: this.options.targetFrameBytes } : {}),
        ...(this.options.coalesce === false ? { maxEnvelopesPerFrame: 1 } : {}),
        wrapField: 2,
      },
      backoff: new Backoff({ initialMs: 50, maxMs: 5000, ...this.options.backoff }, this.random),
      credentials: this.options.security?.client ?? grpc.credentials.createInsecure(),
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5000,
      maxQueuedBytes: this.options.maxQueuedBytes ?? 256 * 1024 * 1024,
      channelOptions: {
        "grpc.use_local_subchannel_pool": 1,
        // A Connect stream is never retried; without this grpc-js keeps every written frame
        // in a retry buffer until the call commits.
        "grpc.enable_retries": 0,
        "grpc.keepalive_time_ms": this.options.keepaliveMs ?? 10_000,
        "grpc.keepalive_timeout_ms": this.options.keepaliveTimeoutMs ?? 5_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.max_send_message_length": -1,
      },
      stats: this.stats,
    });
    this.connections.set(peer, c);
    return c;
  }

  /** A peer opened its stream to us: expect Hello, answer, then deliver its frames. */
  private accept(call: ServerStream): void {
    const sink = this.sink;
    if (!sink || this.stopped) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: `Node ${this.address} is not accepting connections` });
      return;
    }
    this.inbound.add(call);
    let peer: string | undefined;
    let identity: PeerIdentity | undefined;
    let stream: string | undefined;
    const remote = call.getPeer();
    call.on("data", (bytes: Buffer) => {
      let field: number;
      let value: Buffer;
      try {
        ({ field, value } = readOneofField(bytes));
      } catch (err) {
        sink.frameDropped(peer ?? remote, "undecodable", `message of ${bytes.length} bytes: ${(err as Error).message}`);
        return;
      }
      if (field === 2 && peer !== undefined) {
        if (this.newest.get(stream ?? "")?.call !== call) {
          sink.frameDropped(peer, "superseded", `frame of ${bytes.length} bytes on a stream from ${peer} older than its newest`);
          return;
        }
        this.stats.framesReceived++;
        this.stats.envelopesReceived += deliverFrame(sink, peer, value, this.maxFrameBytes, identity);
      } else if (field === 1 && peer === undefined) {
        const accepted = this.hello(call, value, remote, sink);
        if (accepted) ({ peer, identity, stream } = accepted);
      } else {
        const what = field === 2 ? "a frame before Hello" : field === 1 ? "a second Hello" : `unknown field ${field}`;
        sink.frameDropped(peer ?? remote, "undecodable", `stream sent ${what}`);
      }
    });
    const done = () => {
      this.inbound.delete(call);
      if (stream !== undefined && this.newest.get(stream)?.call === call) this.newest.delete(stream);
      if (peer !== undefined) this.log.debug({ peer }, `Stream from ${peer} ended`);
    };
    call.on("end", () => {
      done();
      call.end();
    });
    call.on("error", done);
    call.on("cancelled", done);
  }

  private hello(call: ServerStream, bytes: Buffer, remote: string, sink: TransportSink): { peer: string; stream: string; identity?: PeerIdentity } | undefined {
    let address: string;
    let incarnation: string;
    let connection: bigint;
    let dialed: string;
    try {
      ({ address, incarnation, connection, dialed } = fromBinary(HelloSchema, bytes));
    } catch (err) {
      sink.frameDropped(remote, "undecodable", `bad Hello: ${(err as Error).message}`);
      return undefined;
    }
    if (!address) {
      sink.frameDropped(remote, "undecodable", "Hello without an address");
      return undefined;
    }
    let identity: PeerIdentity | undefined;
    if (this.options.security) {
      const verdict = this.options.security.authenticate(call, address);
      if (typeof verdict === "string") {
        this.stats.refusedStreams++;
        sink.frameDropped(remote, "spoofed", `refused the stream of ${address} (${remote}): ${verdict}`);
        call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: `Node ${this.address} refuses ${address}: ${verdict}` });
        return undefined;
      }
      identity = verdict;
    }
    const stream = `${address}\u0000${dialed}`;
    const prior = this.newest.get(stream);
    if (prior && prior.incarnation === incarnation && connection !== 0n && connection < prior.connection) {
      sink.frameDropped(remote, "superseded", `refused connection ${connection} of ${address}: its connection ${prior.connection} is newer`);
      call.emit("error", { code: grpc.status.ABORTED, details: `Node ${this.address} already has a newer connection from ${address}` });
      return undefined;
    }
    this.newest.set(stream, { incarnation, connection, call });
    // An older stream stays open (the sender closes it, or keepalive reaps it once its
    // connection is dead), but whatever still arrives on it is dropped (above).
    if (prior && prior.call !== call) this.log.debug({ peer: address, connection: String(connection) }, `Stream from ${address} replaces its older one`);
    this.log.debug({ peer: address, remote, identity }, `Stream from ${address} (${remote})`);
    call.write(Buffer.from(toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { address: this.address }))));
    return identity ? { peer: address, stream, identity } : { peer: address, stream };
  }
}
