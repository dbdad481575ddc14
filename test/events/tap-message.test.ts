import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { BATCH_HEADER, groupByKind, packBatches, tapMessageEvents } from "../../src/events/tap-message.js";
import { ClusterEventSchema, type ClusterEvent } from "../../src/gen/dcos/v1/operator_pb.js";
import { eventCaseIndex } from "../../src/events/kinds.js";
import { Random } from "../../src/runtime/random.js";

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
    assert.deepEqual(groupByKind(kinds).map((g) => [...g]), [
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
        Array.from(group, (i) => toBinary(ClusterEventSchema, list[i]!)),
      );
    }
  });

  it("fills each payload as far as the bound allows, in order, at its exact size; an event over the bound goes alone (lengths of 1-3 byte varints, seeded)", () => {
    const seed = Number(process.env["SEED"] ?? 1208);
    const random = new Random(seed);
    const list = Array.from({ length: 400 }, (_, i) => {
      // Around the varint steps of a length (127/128, 16,383/16,384) and over the bound.
      const size = [random.int(120), 115 + random.int(20), 16_370 + random.int(30), 20_000 + random.int(5000)][random.int(4)]!;
      return create(ClusterEventSchema, { sequence: BigInt(i + 1), source: "m", kind: { case: "agentRemoved", value: { agentId: { value: `a${i}` }, reason: "r".repeat(size) } } });
    });
    const { data, ends, kinds } = packed(list);
    const maxBytes = 20_000;
    const framed = (i: number): number => {
      const len = ends[i]! - (i === 0 ? 0 : ends[i - 1]!);
      return 1 + (len < 128 ? 1 : len < 16_384 ? 2 : 3) + len;
    };
    const group = Array.from(groupByKind(kinds)[0]!);
    const batches = packBatches(data, ends, group, maxBytes);
    let k = 0;
    for (const [n, b] of batches.entries()) {
      const picks = group.slice(k, k + b.count);
      k += b.count;
      assert.equal(b.payload.length, picks.reduce((s, i) => s + framed(i), 0), `payload ${n}: its events framed (seed ${seed})`);
      assert.equal(b.payload.buffer.byteLength, b.payload.length, `payload ${n}: allocated at its size (seed ${seed})`);
      assert.ok(b.payload.length <= maxBytes || b.count === 1, `payload ${n}: within the bound, or one event over it (seed ${seed})`);
      if (k < group.length) assert.ok(b.payload.length + framed(group[k]!) > maxBytes, `payload ${n}: the next event did not fit (seed ${seed})`);
      assert.deepEqual(
        tapMessageEvents(b.payload, batchHeaders).map((e) => toBinary(ClusterEventSchema, e)),
        picks.map((i) => toBinary(ClusterEventSchema, list[i]!)),
        `payload ${n} (seed ${seed})`,
      );
    }
    assert.equal(k, list.length);
  });

  it("a message without the header is one ClusterEvent, as before", () => {
    const [e] = events(1);
    const got = tapMessageEvents(toBinary(ClusterEventSchema, e!), { has: () => false });
    assert.equal(got.length, 1);
    assert.equal(got[0]!.sequence, 1n);
    assert.equal(tapMessageEvents(toBinary(ClusterEventSchema, e!)).length, 1);
  });
});
