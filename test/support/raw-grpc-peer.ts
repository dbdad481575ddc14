import * as grpc from "@grpc/grpc-js";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectRequestSchema, EnvelopeSchema, FrameSchema, HelloSchema, TransportService } from "../../src/gen/dcos/v1/runtime_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { waitFor } from "./wait.js";

const RawClient = clientConstructor(TransportService, { raw: { connect: "both" } });

/**
 * A misbehaving gRPC peer for tests: opens a TransportService.Connect stream, says Hello
 * as `address`, then writes whatever frame bytes it is given (wrapped as ConnectRequest.frame).
 */
export class RawGrpcPeer {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private answered = false;
  private failure: Error | undefined;

  private constructor(
    target: string,
    readonly address: string,
    credentials: grpc.ChannelCredentials,
  ) {
    this.client = new RawClient(target, credentials, { "grpc.use_local_subchannel_pool": 1 });
    this.call = (this.client as unknown as { connect(): grpc.ClientDuplexStream<Buffer, Buffer> }).connect();
    this.call.on("data", () => (this.answered = true));
    this.call.on("error", (e: Error) => (this.failure = e));
    const hello = create(HelloSchema, { address, incarnation: "raw" });
    this.call.write(Buffer.from(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "hello", value: hello } }))));
  }

  /** Opens the stream and says Hello without waiting for an answer (for refused peers). */
  static open(target: string, address: string, credentials = grpc.credentials.createInsecure()): RawGrpcPeer {
    return new RawGrpcPeer(target, address, credentials);
  }

  /** Connects and waits for the node's answer to Hello. */
  static async connect(target: string, address = "rogue:1", credentials = grpc.credentials.createInsecure()): Promise<RawGrpcPeer> {
    const peer = new RawGrpcPeer(target, address, credentials);
    await waitFor(() => {
      if (peer.failure) throw peer.failure;
      return peer.answered;
    }, `an answer from ${target} to Hello`);
    return peer;
  }

  async frame(bytes: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const req = create(ConnectRequestSchema, { kind: { case: "frame", value: { envelopes: [] } } });
    // Wrap raw bytes as field 2 (frame) by hand: they may not be a valid Frame at all.
    const head = Buffer.from(toBinary(ConnectRequestSchema, req)).subarray(0, 1);
    const len = varint(bytes.length);
    this.call.write(Buffer.concat([head, len, bytes]));
  }

  /** Writes envelopes as one well-formed frame (for forged-sender tests). */
  async envelopes(envelopes: MessageInitShape<typeof EnvelopeSchema>[]): Promise<void> {
    await this.frame(toBinary(FrameSchema, create(FrameSchema, { envelopes })));
  }

  /** Why the node ended the stream, if it did. */
  get error(): Error | undefined {
    return this.failure;
  }

  async close(): Promise<void> {
    this.call.end();
    this.client.close();
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
