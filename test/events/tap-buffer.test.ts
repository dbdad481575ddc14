import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ClusterEventSchema, type ClusterEvent } from "../../src/gen/dcos/v1/operator_pb.js";
import { EVENT_CASES } from "../../src/events/kinds.js";
import { TapBuffer, type PackedEvents } from "../../src/events/tap-buffer.js";

function event(sequence: number): ClusterEvent {
  const kind: ClusterEvent["kind"] =
    sequence % 2 === 0
      ? { case: "heartbeat", value: { $typeName: "dcos.v1.ClusterEvent.Heartbeat" } }
      : { case: "agentRemoved", value: { $typeName: "dcos.v1.ClusterEvent.AgentRemoved", agentId: { $typeName: "dcos.v1.AgentID", value: `agent-${sequence}` }, reason: "gone" } };
  return { $typeName: "dcos.v1.ClusterEvent", sequence: BigInt(sequence), timestamp: sequence, source: "master@test:5050", kind };
}

/** Each packed event decoded: its sequence number and whether its kind index names its kind. */
function unpack(p: PackedEvents): number[] {
  assert.equal(p.ends.length, p.kinds.length);
  const seqs: number[] = [];
  for (let i = 0, start = 0; i < p.ends.length; start = p.ends[i]!, i++) {
    const e = fromBinary(ClusterEventSchema, p.data.subarray(start, p.ends[i]));
    assert.equal(EVENT_CASES[p.kinds[i]!], e.kind.case, `event ${e.sequence}: kind index`);
    seqs.push(Number(e.sequence));
  }
  assert.equal(p.ends[p.ends.length - 1], p.data.length, "the last end is the data's length");
  return seqs;
}

describe("TapBuffer (the tap's encoded events on the master's thread)", () => {
  it("hands over whole batches in order, with each event's end and kind", () => {
    const b = new TapBuffer({ maxBytes: 1 << 20, maxEvents: 100 }, 4, () => assert.fail("nothing is dropped below capacity"));
    for (let s = 1; s <= 10; s++) b.push(event(s));
    assert.equal(b.length, 10);
    assert.deepEqual(unpack(b.take()!), [1, 2, 3, 4]);
    assert.deepEqual(unpack(b.take()!), [5, 6, 7, 8]);
    assert.deepEqual(unpack(b.take()!), [9, 10]);
    assert.equal(b.take(), undefined);
    assert.equal(b.length, 0);
  });

  it("drops the oldest beyond its event bound, also from the middle of a batch, and counts each", () => {
    let dropped = 0;
    const b = new TapBuffer({ maxBytes: 1 << 20, maxEvents: 5 }, 4, () => dropped++);
    for (let s = 1; s <= 11; s++) b.push(event(s));
    assert.equal(dropped, 6);
    assert.equal(b.length, 5);
    assert.deepEqual(unpack(b.take()!), [7, 8], "a batch whose first events were dropped starts at its first kept event");
    assert.deepEqual(unpack(b.take()!), [9, 10, 11]);
    assert.equal(b.length, 0);
  });

  it("is bounded in bytes: drops the oldest while the encoded events held exceed the bound, and counts each", () => {
    const size = (s: number): number => toBinary(ClusterEventSchema, event(s)).length;
    // Room for the last three events (11, 12, 13) and not for four.
    const maxBytes = size(11) + size(12) + size(13);
    assert.ok(size(10) + maxBytes > maxBytes);
    let dropped = 0;
    const b = new TapBuffer({ maxBytes }, 4, () => dropped++);
    for (let s = 1; s <= 13; s++) {
      b.push(event(s));
      assert.ok(b.bytes <= maxBytes, `after event ${s}: ${b.bytes} bytes held, bound ${maxBytes}`);
    }
    assert.equal(dropped, 10);
    assert.equal(b.length, 3);
    assert.equal(b.bytes, maxBytes);
    const taken = [...unpack(b.take()!), ...unpack(b.take()!)];
    assert.deepEqual(taken, [11, 12, 13]);
    assert.equal(b.take(), undefined);
    assert.equal(b.bytes, 0);
  });

  it("an event bigger than the whole bound is dropped and counted, and the buffer stays usable", () => {
    let dropped = 0;
    const b = new TapBuffer({ maxBytes: 8 }, 4, () => dropped++);
    b.push(event(3));
    assert.equal(dropped, 1);
    assert.equal(b.length, 0);
    assert.equal(b.bytes, 0);
    assert.equal(b.take(), undefined);
    assert.throws(() => new TapBuffer({ maxBytes: 0 }, 4, () => {}), /positive byte bound/);
  });

  it("a batch grows past its first typed arrays while batchSize is raised (a worker behind): the backlog goes over as one transfer", () => {
    const b = new TapBuffer({ maxBytes: 64 << 20 }, 1000, () => assert.fail("nothing is dropped"));
    for (let s = 1; s <= 1500; s++) b.push(event(s));
    b.batchSize = 10_000;
    for (let s = 1501; s <= 9000; s++) b.push(event(s));
    const first = b.take()!;
    assert.deepEqual(unpack(first), Array.from({ length: 1000 }, (_, i) => i + 1), "the batch closed at the old size");
    const second = unpack(b.take()!);
    assert.equal(second.length, 8000, "the open batch kept every event after the raise: 2,048 initial slots doubled twice");
    assert.deepEqual(second, Array.from({ length: 8000 }, (_, i) => i + 1001));
    assert.equal(b.take(), undefined);
    b.batchSize = 1000;
    for (let s = 9001; s <= 10_500; s++) b.push(event(s));
    assert.equal(unpack(b.take()!).length, 1000, "back to the normal size once the worker caught up");
    assert.equal(unpack(b.take()!).length, 500);
  });

  it("a batch after a backlog's big one starts with the room its batch size needs, not the big one's", () => {
    const b = new TapBuffer({ maxBytes: 64 << 20 }, 100_000, () => assert.fail("nothing is dropped"));
    for (let s = 1; s <= 60_000; s++) b.push(event(s));
    const big = b.take()!;
    assert.equal(unpack(big).length, 60_000);
    b.batchSize = 1000;
    for (let s = 60_001; s <= 61_000; s++) b.push(event(s));
    const next = b.take()!;
    assert.equal(unpack(next).length, 1000);
    const room = next.data.buffer.byteLength;
    assert.ok(room >= next.data.length && room <= 2 * next.data.length, `a batch of ${next.data.length} bytes started with ${room} (the backlog's batch held ${big.data.length})`);
  });
});
