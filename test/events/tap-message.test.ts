import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { BATCH_HEADER, groupByKind, packBatches, tapMessageEvents } from "../../src/events/tap-message.js";
import { ClusterEventSchema, type ClusterEvent } from "../../src/gen/dcos/v1/operator_pb.js";
import { eventCaseIndex } from "../../src/events/kinds.js";

function events(n: number): ClusterEvent[] {
  return Array.from({ length: n }, (_, i) =>
    create(ClusterEventSchema, {
      sequence: BigInt(i + 1),
      source: "master@test",
      kind: i % 3 === 0 ? { case: "agentRemoved", value: { agentId: { value: `a${i}` }, reason: "x".repeat(i % 50) } } : { case: "taskAdded", value: { task: { taskId: { value: `t${i}` } } } },
    }),
  );
}

/** The events encoded back to back, as the tap's buffer hands them to its worker. */
function packed(list: ClusterEvent[]): { data: Uint8Array; ends: Uint32Array; kinds: Uint8Array } {
  const parts = list.map((e) => toBinary(ClusterEventSchema, e));
  const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  const ends = new Uint32Array(list.length);
  let at = 0;
  parts.forEach((p, i) => {
    data.set(p, at);
    ends[i] = at += p.length;
  });
  return { data, ends, kinds: Uint8Array.from(list.map((e) => eventCaseIndex(e.kind.case!))) };
}

const batchHeaders = { has: (k: string) => k === BATCH_HEADER };

describe("event tap messages: ClusterEventBatch", () => {
  it("groups by kind in order of first appearance, keeping each kind's order", () => {
    const list = events(10);
    const { kinds } = packed(list);
    assert.deepEqual(groupByKind(kinds), [
      [0, 3, 6, 9],
      [1, 2, 4, 5, 7, 8],
    ]);
  });

  it("packs events into batches a reader decodes back to the same events, split at the size bound", () => {
    const list = events(300);
    const { data, ends, kinds } = packed(list);
    for (const group of groupByKind(kinds)) {
      const batches = packBatches(data, ends, group, 2048);
      assert.ok(batches.length > 1, "split at 2 KiB");
      for (const b of batches) assert.ok(b.payload.length <= 2048, `${b.payload.length} bytes`);
      assert.equal(
        batches.reduce((s, b) => s + b.count, 0),
        group.length,
      );
      const decoded = batches.flatMap((b) => {
        const got = tapMessageEvents(b.payload, batchHeaders);
        assert.equal(got.length, b.count);
        return got;
      });
      assert.deepEqual(
        decoded.map((e) => toBinary(ClusterEventSchema, e)),
        group.map((i) => toBinary(ClusterEventSchema, list[i]!)),
      );
    }
  });

  it("a message without the header is one ClusterEvent, as before", () => {
    const [e] = events(1);
    const got = tapMessageEvents(toBinary(ClusterEventSchema, e!), { has: () => false });
    assert.equal(got.length, 1);
    assert.equal(got[0]!.sequence, 1n);
    assert.equal(tapMessageEvents(toBinary(ClusterEventSchema, e!)).length, 1);
  });
});
