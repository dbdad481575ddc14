import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectRequestSchema, ConnectResponseSchema, HelloSchema, TransportService, type Envelope } from "../../gen/dcos/v1/runtime_pb.js";
import type { Clock, Timer } from "../clock.js";
import { clientConstructor } from "../grpc/service.js";
import type { Logger } from "../log.js";
import type { TransportSink } from "../transport.js";
import type { Backoff } from "../backoff.js";
import { FrameQueue } from "./frame-queue.js";
import { transitionChecker } from "../transitions.js";

export enum ConnectionState {
  /** No stream and nothing to send. */
  Idle = "idle",
  /** Stream opened, Hello written, waiting for the peer's ConnectResponse. */
  Connecting = "connecting",
  /** Frames flow. */
  Connected = "connected",
  /** The last attempt failed or the stream broke; the next one waits for the backoff. */
  Backoff = "backoff",
  /** The transport stopped. */
  Closed = "closed",
}

const checkTransition = transitionChecker<ConnectionState>({
  [ConnectionState.Idle]: [ConnectionState.Connecting, ConnectionState.Closed],
  [ConnectionState.Connecting]: [ConnectionState.Connected, ConnectionState.Backoff, ConnectionState.Closed],
  [ConnectionState.Connected]: [ConnectionState.Backoff, ConnectionState.Closed],
  [ConnectionState.Backoff]: [ConnectionState.Connecting, ConnectionState.Idle, ConnectionState.Closed],
  [ConnectionState.Closed]: [],
}, "connection");

export interface GrpcConnectionOptions {
  self: string;
  incarnation: string;
  peer: string;
  sink: TransportSink;
  clock: Clock;
  log: Logger;
  queue: ConstructorParameters<typeof FrameQueue>[0];
  backoff: Backoff;
  /** Plaintext, or TLS with this node's client certificate. */
  credentials: grpc.ChannelCredentials;
  connectTimeoutMs: number;
  /** Most bytes queued for a peer that is not keeping up; beyond it messages are dropped. */
  maxQueuedBytes: number;
  channelOptions: grpc.ChannelOptions;
  stats: { framesSent: number; envelopesSent: number; connects: number; drainWaits: number };
}

const RawClient = clientConstructor(TransportService, { raw: { connect: "both" } });

/**
 * The outbound half of one peer pair: a long-lived TransportService.Connect stream from
 * this node to the peer, carrying the envelopes queued for it as batched frames. Writes
 * respect backpressure (a write returning false waits for 'drain'; meanwhile new messages
 * pile up into bigger frames). When the stream breaks, what is queued is given up, linked
 * actors get exited, and the next message reconnects after a capped exponential backoff.
 */
export class GrpcConnection {
  private state = ConnectionState.Idle;
  private readonly queue: FrameQueue;
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private timer: Timer | undefined;
  private flushScheduled = false;
  private waitingDrain = false;
  private linked = false;
  /** Connections opened to the peer so far (the Hello's `connection`). */
  private opened = 0n;

  constructor(private readonly o: GrpcConnectionOptions) {
    this.queue = new FrameQueue(o.queue);
  }

  get current(): ConnectionState {
    return this.state;
  }

  /** Bytes queued for the peer, not yet handed to the stream. */
  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /** Queues an envelope for the peer, connecting if needed. */
  send(env: Envelope): void {
    if (this.state === ConnectionState.Closed) {
      this.o.sink.sendFailed(this.o.peer, 1, "transport stopped");
      return;
    }
    if (this.queue.bytes > this.o.maxQueuedBytes) {
      this.o.sink.sendFailed(this.o.peer, 1, `more than ${this.o.maxQueuedBytes} bytes already queued for ${this.o.peer}`);
      return;
    }
    if (this.queue.push(env) < 0) {
      this.o.sink.frameDropped(
        this.o.peer,
        "oversize",
        `message ${env.type} from ${env.from} to ${env.to} (${env.payload.length} bytes) does not fit in a frame of ${this.o.queue.maxFrameBytes} bytes`,
      );
      return;
    }
    if (this.state === ConnectionState.Connected) this.scheduleFlush();
    else if (this.state === ConnectionState.Idle) this.connect();
  }

  /** Watches the connection: peerExited when it breaks or cannot be made. */
  link(): void {
    if (this.state === ConnectionState.Closed) return;
    this.linked = true;
    if (this.state === ConnectionState.Idle) this.connect();
  }

  close(): void {
    if (this.state === ConnectionState.Closed) return;
    this.transition(ConnectionState.Closed, "transport stopping");
    this.timer?.cancel();
    this.queue.clear();
    this.teardown();
  }

  private transition(to: ConnectionState, why: string): void {
    const from = this.state;
    checkTransition(from, to, `peer ${this.o.peer} (${why})`);
    this.state = to;
    this.o.log.debug({ peer: this.o.peer, from, to, why }, `Connection to ${this.o.peer}: ${from} -> ${to} (${why})`);
  }

  private connect(): void {
    this.transition(ConnectionState.Connecting, this.o.backoff.attempts === 0 ? "first attempt" : `attempt ${this.o.backoff.attempts + 1}`);
    const client = new RawClient(this.o.peer, this.o.credentials, this.o.channelOptions);
    const call = (client as unknown as { connect(): grpc.ClientDuplexStream<Buffer, Buffer> }).connect();
    this.client = client;
    this.call = call;
    const fail = (why: string) => {
      if (this.call === call) this.broken(why);
    };
    call.on("data", (bytes: Buffer) => {
      if (this.call !== call || this.state !== ConnectionState.Connecting) return;
      try {
        const res = fromBinary(ConnectResponseSchema, bytes);
        if (res.address !== this.o.peer) {
          fail(`peer answered as ${res.address}, not ${this.o.peer}`);
          return;
        }
      } catch (err) {
        fail(`bad ConnectResponse: ${(err as Error).message}`);
        return;
      }
      this.connected();
    });
    call.on("error", (err: grpc.ServiceError) => fail(err.details || err.message));
    call.on("end", () => fail("peer closed the stream"));
    call.on("close", () => fail("stream closed"));
    call.on("drain", this.onDrain);
    this.opened++;
    const hello = create(HelloSchema, { address: this.o.self, incarnation: this.o.incarnation, connection: this.opened, dialed: this.o.peer });
    call.write(Buffer.from(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "hello", value: hello } }))));
    this.timer = this.o.clock.setTimer(this.o.connectTimeoutMs, () => {
      if (this.call === call && this.state === ConnectionState.Connecting) fail(`no answer within ${this.o.connectTimeoutMs} ms`);
    });
  }

  private connected(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.o.backoff.reset();
    this.o.stats.connects++;
    this.transition(ConnectionState.Connected, "peer answered");
    this.o.log.info({ peer: this.o.peer }, `Connected to ${this.o.peer}`);
    this.scheduleFlush();
  }

  private broken(why: string): void {
    const wasConnected = this.state === ConnectionState.Connected;
    this.timer?.cancel();
    this.teardown();
    const dropped = this.queue.clear();
    const delay = this.o.backoff.next();
    this.transition(ConnectionState.Backoff, why);
    this.o.log.info({ peer: this.o.peer, why, retryInMs: delay, dropped }, `${wasConnected ? "Connection to" : "Cannot connect to"} ${this.o.peer}: ${why}`);
    if (dropped > 0) this.o.sink.sendFailed(this.o.peer, dropped, why);
    if (this.linked) {
      this.linked = false;
      this.o.sink.peerExited(this.o.peer);
    }
    this.timer = this.o.clock.setTimer(delay, () => {
      this.timer = undefined;
      if (this.state !== ConnectionState.Backoff) return;
      if (this.queue.length > 0 || this.linked) this.connect();
      else this.transition(ConnectionState.Idle, "nothing to send");
    });
  }

  private teardown(): void {
    const call = this.call;
    const client = this.client;
    this.call = undefined;
    this.client = undefined;
    this.waitingDrain = false;
    if (call) {
      call.removeAllListeners("data");
      call.on("error", () => {}); // a cancelled call reports CANCELLED; nobody is listening any more
      call.cancel();
    }
    client?.close();
  }

  /**
   * Writes what is queued once the current callback is done: envelopes sent in one turn of
   * the actor system (its drain is one callback) go out together, and without waiting for
   * the next turn of the event loop (a setImmediate here cost every message a loop turn:
   * the follower's acknowledgement of a Raft append waited for it, src/raft/README.md).
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.waitingDrain) return;
    this.flushScheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.scheduleFlush();
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const call = this.call;
    if (this.state !== ConnectionState.Connected || !call || this.waitingDrain) return;
    if (!this.queue.writeTo((frame) => call.write(frame), this.o.stats)) {
      this.waitingDrain = true;
      this.o.stats.drainWaits++;
    }
  };
}
