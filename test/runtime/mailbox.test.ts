import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ItemKind, Mailbox } from "../../src/runtime/mailbox.js";

describe("Mailbox", () => {
  it("is first in, first out across compactions", () => {
    const box = new Mailbox();
    const item = (i: number) => ({ kind: ItemKind.Function, from: null, sender: null, message: null, fn: () => i, abandon: null, type: null, payload: null });
    const out: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5000; i++) box.push(item(round * 5000 + i));
      for (let i = 0; i < 4000; i++) out.push(box.shift()!.fn!() as unknown as number);
    }
    while (box.length > 0) out.push(box.shift()!.fn!() as unknown as number);
    assert.deepEqual(out, [...Array(15000).keys()]);
    assert.equal(box.shift(), undefined);
  });
});
