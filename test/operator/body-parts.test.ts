import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32, gunzipSync } from "node:zlib";
import { BodyPart, crc32Combine, PartsBody } from "../../src/operator/body-parts.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

function bytes(r: Random, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

describe("body parts", () => {
  it("crc32Combine gives the CRC-32 of two buffers one after the other", () => {
    const seed = testSeed(11);
    const r = new Random(seed);
    for (let i = 0; i < 300; i++) {
      const a = bytes(r, r.int(2000));
      const b = bytes(r, i % 10 === 0 ? 0 : r.int(70_000));
      assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])), `seed ${seed}, case ${i}: ${a.length} + ${b.length} bytes`);
    }
  });

  it("gzip of kept parts is one gzip member of the whole body; a new body compresses only its new parts", async () => {
    const texts = ['{"a":[', "x".repeat(70_000), "", ',"ü\\n",', JSON.stringify({ y: [1, 2, 3] }).repeat(500), "]}"];
    let made = 0;
    const parts = texts.map((t) => new BodyPart(() => (made++, t)));
    assert.equal(made, 0, "text is made only when needed");
    const body = new PartsBody(parts);
    const gz = await body.gzipped();
    assert.equal(gz.subarray(0, 2).toString("hex"), "1f8b");
    assert.equal(gunzipSync(gz).toString(), texts.join(""));
    assert.equal(body.bytes.toString(), texts.join(""));
    assert.equal(body.length, Buffer.byteLength(texts.join("")));
    const changed = new BodyPart("[1]");
    const next = new PartsBody([parts[0]!, changed, ...parts.slice(2)]);
    assert.equal(next.uncompressed(), 1, "only the new part is left to compress");
    assert.equal(gunzipSync(await next.gzipped()).toString(), [texts[0], "[1]", ...texts.slice(2)].join(""));
    await next.prepare(0);
    assert.equal(Buffer.concat(next.buffers()).toString(), [texts[0], "[1]", ...texts.slice(2)].join(""));
  });
});
