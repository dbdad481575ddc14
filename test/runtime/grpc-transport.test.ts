import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { after, describe, it } from "node:test";
import { ConnectRequestSchema, EnvelopeSchema, FrameSchema, HelloSchema, ProbeSchema, TransportService } from "../../src/gen/dcos/v1/runtime_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { GrpcTransport, type GrpcTransportOptions } from "../../src/runtime/transports/grpc.js";
import { probe, Recorder } from "../support/actors.js";
import { waitFor } from "../support/wait.js";

const systems: ActorSystem[] = [];
after(async () => {
  for (const s of systems) await s.stop();
});

async function node(options: GrpcTransportOptions = {}) {
  const transport = await GrpcTransport.listen({ logger: testLogger(), ...options });
  const system = new ActorSystem({ transport, logger: testLogger() });
  await system.start();
  systems.push(system);
  return { system, transport, actor: system.spawn(new Recorder("r")) };
}

describe("GrpcTransport", () => {
  it("coalesces the messages queued for a peer into a few frames", async () => {
    const one = await node();
    const two = await node();
    for (let i = 0; i < 5000; i++) one.actor.tell(two.actor.self, probe(i));
    await waitFor(() => two.actor.received.length === 5000, "5000 messages");
    assert.deepEqual(two.actor.seqs(), [...Array(5000).keys()]);
    assert.equal(one.transport.stats.envelopesSent, 5000);
    assert.ok(one.transport.stats.framesSent <= 20, `${one.transport.stats.framesSent} frames for 5000 messages`);
    assert.equal(two.transport.stats.envelopesReceived, 5000);
  });

  it("writes one message per frame when coalescing is off (the benchmark's naive baseline)", async () => {
    const one = await node({ coalesce: false });
    const two = await node();
    for (let i = 0; i < 300; i++) one.actor.tell(two.actor.self, probe(i));
    await waitFor(() => two.actor.received.length === 300, "300 messages");
    assert.deepEqual(two.actor.seqs(), [...Array(300).keys()]);
    assert.equal(one.transport.stats.framesSent, 300);
  });

  it("waits for drain when a write is refused, and still delivers everything in order", async () => {
    const one = await node({ targetFrameBytes: 16 * 1024 });
    const two = await node();
    const big = "x".repeat(2000);
    for (let i = 0; i < 3000; i++) one.actor.tell(two.actor.self, create(ProbeSchema, { sequence: BigInt(i), address: big }));
    await waitFor(() => two.actor.received.length === 3000, "3000 messages of 2 KB", 30_000);
    assert.deepEqual(two.actor.seqs(), [...Array(3000).keys()]);
    assert.ok(one.transport.stats.drainWaits > 0, "6 MB in one turn should fill the stream's buffer at least once");
  });

  it("drops a message too big for any frame at the sender, counted as oversize", async () => {
    const one = await node({ maxFrameBytes: 1024 });
    const two = await node();
    one.actor.tell(two.actor.self, create(ProbeSchema, { sequence: 1n, address: "y".repeat(2000) }));
    one.actor.tell(two.actor.self, probe(2));
    await waitFor(() => two.actor.received.length === 1, "the small message");
    assert.deepEqual(two.actor.seqs(), [2]);
    assert.equal(one.system.metrics.value("runtime/dropped/oversize"), 1);
  });

  it("gives up messages to a node that cannot be reached, counting them as unreachable", async () => {
    const gone = await node();
    const address = gone.system.address;
    await gone.system.stop();
    const one = await node({ backoff: { initialMs: 10, maxMs: 50 } });
    const target = gone.actor.self;
    for (let i = 0; i < 3; i++) one.actor.tell(target, probe(i));
    await waitFor(() => one.system.metrics.value("runtime/dropped/unreachable") === 3, `3 messages to ${address} given up`);
  });
});

describe("GrpcTransport: connections of one sender", () => {
  const RawClient = clientConstructor(TransportService, { raw: { connect: "both" } });
  type Stream = grpc.ClientDuplexStream<Buffer, Buffer>;
  const sender = "127.0.0.1:1";
  const incarnation = "fixed-incarnation";

  /** Opens a stream to `to` as `sender`'s connection number `connection`; resolves once answered, rejects if refused. */
  async function open(to: string, connection: bigint): Promise<Stream> {
    const client = new RawClient(to, grpc.credentials.createInsecure());
    const call = (client as unknown as { connect(): Stream }).connect();
    const hello = create(HelloSchema, { address: sender, incarnation, connection, dialed: to });
    call.write(Buffer.from(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "hello", value: hello } }))));
    await new Promise<void>((resolve, reject) => {
      call.once("data", () => resolve());
      call.once("error", reject);
    });
    return call;
  }

  function send(call: Stream, to: string, seq: number): void {
    const env = create(EnvelopeSchema, { from: `s@${sender}`, to, type: ProbeSchema.typeName, payload: toBinary(ProbeSchema, probe(seq)) });
    const frame = create(FrameSchema, { envelopes: [env] });
    call.write(Buffer.from(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "frame", value: frame } }))));
  }

  it("drops frames arriving on a connection older than the sender's newest, and refuses an older connection opened late", async () => {
    const two = await node();
    const to = two.system.address;
    const target = String(two.actor.self);
    const first = await open(to, 1n);
    send(first, target, 1);
    await waitFor(() => two.actor.received.length === 1, "the first connection's message");
    const second = await open(to, 2n);
    // The network healed and the abandoned first connection still delivers a frame.
    send(first, target, 2);
    send(second, target, 3);
    await waitFor(() => two.actor.received.length === 2, "the second connection's message");
    await waitFor(() => two.system.metrics.value("runtime/dropped/superseded") === 1, "the old connection's frame dropped as superseded");
    assert.deepEqual(two.actor.seqs(), [1, 3]);
    await assert.rejects(open(to, 1n), (e: grpc.ServiceError) => e.code === grpc.status.ABORTED && /newer connection/.test(e.details));
    assert.equal(two.system.metrics.value("runtime/dropped/superseded"), 2);
    for (const c of [first, second]) c.end();
  });
});
