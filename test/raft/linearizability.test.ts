import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Random } from "../../src/runtime/random.js";
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from "../support/linearizability.js";

type Op = Operation<KvInput, KvOutput>;
const put = (client: number, key: string, value: string, call: number, ret: number): Op => ({ client, input: { op: "put", key, value }, output: true, call, ret });
const get = (client: number, key: string, output: string | null | undefined, call: number, ret: number): Op => ({ client, input: { op: "get", key }, output, call, ret });
const cas = (client: number, key: string, from: string | null, to: string, output: boolean | undefined, call: number, ret: number): Op => ({
  client,
  input: { op: "cas", key, from, to },
  output,
  call,
  ret,
});

describe("The linearizability checker", () => {
  it("accepts a sequential history that reads what was written", () => {
    assert.ok(checkLinearizable(kvModel, [put(1, "x", "a", 0, 1), get(2, "x", "a", 2, 3), put(1, "x", "b", 4, 5), get(2, "x", "b", 6, 7)]).ok);
  });

  it("rejects a stale read after a completed write", () => {
    const r = checkLinearizable(kvModel, [put(1, "x", "a", 0, 1), get(2, "x", null, 2, 3)]);
    assert.equal(r.ok, false);
    assert.ok(r.partition!.some((s) => s.includes("get(x)")));
  });

  it("accepts either value for a read concurrent with a write", () => {
    assert.ok(checkLinearizable(kvModel, [put(1, "x", "a", 0, 10), get(2, "x", null, 1, 2)]).ok);
    assert.ok(checkLinearizable(kvModel, [put(1, "x", "a", 0, 10), get(2, "x", "a", 1, 2)]).ok);
  });

  it("rejects two reads that see a concurrent write in opposite orders (new, then old)", () => {
    const h = [put(1, "x", "a", 0, 1), put(1, "x", "b", 2, 20), get(2, "x", "b", 3, 4), get(3, "x", "a", 5, 6)];
    assert.equal(checkLinearizable(kvModel, h).ok, false);
  });

  it("rejects a value changing after every write completed", () => {
    const h = [put(1, "x", "1", 0, 5), put(2, "x", "2", 0, 5), get(3, "x", "1", 6, 7), get(3, "x", "2", 8, 9)];
    assert.equal(checkLinearizable(kvModel, h).ok, false);
  });

  it("compare-and-set: two concurrent swaps from the same value cannot both succeed", () => {
    assert.equal(checkLinearizable(kvModel, [cas(1, "x", null, "a", true, 0, 5), cas(2, "x", null, "b", true, 0, 5)]).ok, false);
    assert.ok(checkLinearizable(kvModel, [cas(1, "x", null, "a", true, 0, 5), cas(2, "x", null, "b", false, 0, 5), get(3, "x", "a", 6, 7)]).ok);
  });

  it("an operation of unknown outcome may have happened or not", () => {
    const unknown = put(1, "x", "a", 0, Infinity);
    unknown.output = undefined;
    assert.ok(checkLinearizable(kvModel, [unknown, get(2, "x", "a", 5, 6)]).ok);
    assert.ok(checkLinearizable(kvModel, [unknown, get(2, "x", null, 5, 6)]).ok);
    assert.equal(checkLinearizable(kvModel, [unknown, get(2, "x", "a", 5, 6), get(2, "x", null, 7, 8)]).ok, false);
  });

  it("keys are independent (checked per key)", () => {
    assert.ok(checkLinearizable(kvModel, [put(1, "x", "a", 0, 1), put(1, "y", "b", 2, 3), get(2, "x", "a", 4, 5), get(2, "y", "b", 4, 5)]).ok);
  });

  it("accepts long random histories of atomic operations and rejects them once one read is corrupted", () => {
    for (const seed of [1, 2, 3]) {
      const rng = new Random(seed);
      const state = new Map<string, string | null>();
      const history: Op[] = [];
      let t = 0;
      for (let i = 0; i < 400; i++) {
        const key = rng.pick(["a", "b", "c"]);
        const call = t + rng.int(5);
        const at = call + rng.int(10); // the instant the operation takes effect
        const ret = at + rng.int(10);
        t += 2; // operations overlap heavily
        const k = rng.int(3);
        if (k === 0) history.push({ ...put(i % 8, key, `v${i}`, call, ret), at } as Op);
        else if (k === 1) history.push({ ...get(i % 8, key, null, call, ret), at } as Op);
        else history.push({ ...cas(i % 8, key, rng.chance(0.3) ? null : `v${rng.int(i + 1)}`, `v${i}`, undefined, call, ret), at } as Op);
      }
      // Apply in the order of the instants at which they take effect, to get real outputs.
      const byInstant = [...history].sort((x, y) => (x as unknown as { at: number }).at - (y as unknown as { at: number }).at);
      for (const op of byInstant) {
        const cur = state.get(op.input.key) ?? null;
        const r = kvModel.step(cur, op.input, undefined);
        op.output = op.input.op === "get" ? cur : op.input.op === "cas" ? r.state !== cur || cur === op.input.from : true;
        state.set(op.input.key, r.state);
      }
      assert.ok(checkLinearizable(kvModel, history).ok, `seed ${seed}`);
      const read = history.find((op) => op.input.op === "get")!;
      read.output = "never-written";
      assert.equal(checkLinearizable(kvModel, history).ok, false, `seed ${seed} corrupted`);
    }
  });
});
