import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonText, mixed, RawJson, rawArray } from "../../src/operator/raw-json.js";

describe("raw JSON splicing", () => {
  it("writes what JSON.stringify writes, with kept JSON text spliced in where RawJson stands", () => {
    const task = { id: "t1", statuses: [{ state: "TASK_RUNNING" }], note: 'quote " and \\ slash' };
    const kept = new RawJson(JSON.stringify(task));
    const doc = mixed({ a: 1, skip: undefined, fn: () => 1, list: mixed([kept, { b: [1, "x", null] }, undefined]), nested: { c: "ü\n" }, raw: rawArray([kept.text, "2"]) });
    const expected = { a: 1, skip: undefined, fn: () => 1, list: [task, { b: [1, "x", null] }, undefined], nested: { c: "ü\n" }, raw: [task, 2] };
    assert.equal(jsonText(doc), JSON.stringify(expected));
    assert.deepEqual(JSON.parse(jsonText(doc)), JSON.parse(JSON.stringify(expected)));
  });

  it("leaves values not marked mixed to JSON.stringify", () => {
    for (const v of [null, 0, "s", [1, 2], { x: { y: [true] } }]) assert.equal(jsonText(v), JSON.stringify(v));
    assert.equal(jsonText(undefined), "null");
  });
});
