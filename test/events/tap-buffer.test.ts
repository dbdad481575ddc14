import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
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
    const b = new TapBuffer(100, 4, () => assert.fail("nothing is dropped below capacity"));
    for (let s = 1; s <= 10; s++) b.push(event(s));
    assert.equal(b.length, 10);
    assert.deepEqual(unpack(b.take()!), [1, 2, 3, 4]);
    assert.deepEqual(unpack(b.take()!), [5, 6, 7, 8]);
    assert.deepEqual(unpack(b.take()!), [9, 10]);
    assert.equal(b.take(), undefined);
    assert.equal(b.length, 0);
  });

  it("drops the oldest beyond its capacity, also from the middle of a batch, and counts each", () => {
    let dropped = 0;
    const b = new TapBuffer(5, 4, () => dropped++);
    for (let s = 1; s <= 11; s++) b.push(event(s));
    assert.equal(dropped, 6);
    assert.equal(b.length, 5);
    assert.deepEqual(unpack(b.take()!), [7, 8], "a batch whose first events were dropped starts at its first kept event");
    assert.deepEqual(unpack(b.take()!), [9, 10, 11]);
    assert.equal(b.length, 0);
  });
});
