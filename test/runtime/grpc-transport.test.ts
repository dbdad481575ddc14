import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { after, describe, it } from "node:test";
import { ProbeSchema } from "../../src/gen/dcos/v1/runtime_pb.js";
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
