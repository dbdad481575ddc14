import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, it } from "node:test";
import { ConnectRequestSchema, EnvelopeSchema, FrameSchema, type Envelope } from "../../src/gen/dcos/v1/runtime_pb.js";
import { decodeFrame, encodeFrame, FrameError, readOneofField } from "../../src/runtime/frame-codec.js";
import { FrameQueue } from "../../src/runtime/transports/frame-queue.js";

const env = (i: number, payload = new Uint8Array([8, i & 0x7f])): Envelope =>
  create(EnvelopeSchema, { from: `a${i % 3}@one:1`, to: "b@two:2", type: "dcos.v1.Probe", payload });

const plain = (e: Envelope) => ({ from: e.from, to: e.to, type: e.type, payload: [...e.payload] });

describe("frame codec", () => {
  it("writes exactly the bytes protobuf writes for a Frame, and reads them back", () => {
    const envelopes = [env(1), env(2), env(3, new Uint8Array(300).fill(7)), create(EnvelopeSchema, { from: "ü@x", to: "y@z", type: "t" })];
    const ours = encodeFrame(envelopes);
    assert.deepEqual([...ours], [...toBinary(FrameSchema, create(FrameSchema, { envelopes }))]);
    assert.deepEqual(decodeFrame(ours).map(plain), envelopes.map(plain));
  });

  it("wraps a frame as a field of an enclosing message (ConnectRequest.frame)", () => {
    const bytes = encodeFrame([env(1), env(2)], { wrapField: 2 });
    const req = fromBinary(ConnectRequestSchema, bytes);
    assert.equal(req.kind.case, "frame");
    const { field, value } = readOneofField(bytes);
    assert.equal(field, 2);
    assert.equal(decodeFrame(value).length, 2);
  });

  it("round-trips any envelopes, including long and non-ASCII text", () => {
    const text = fc.string({ unit: "binary", maxLength: 200 });
    fc.assert(
      fc.property(fc.array(fc.record({ from: text, to: text, type: text, payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }), (xs) => {
        const envelopes = xs.map((x) => create(EnvelopeSchema, x));
        const bytes = encodeFrame(envelopes);
        assert.deepEqual([...bytes], [...toBinary(FrameSchema, create(FrameSchema, { envelopes }))]);
        assert.deepEqual(decodeFrame(bytes).map(plain), envelopes.map(plain));
      }),
      { seed: 4242, numRuns: 300 },
    );
  });

  it("throws only FrameError on arbitrary or truncated bytes, never reads past the end", () => {
    const good = encodeFrame([env(1), env(2), env(3)]);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.nat(good.length - 1).map((n) => good.subarray(0, n))), (bytes) => {
        try {
          decodeFrame(Buffer.from(bytes));
        } catch (err) {
          assert.ok(err instanceof FrameError, `unexpected ${String(err)}`);
          assert.equal(err.reason, "undecodable");
        }
      }),
      { seed: 99, numRuns: 2000 },
    );
  });

  it("refuses a frame over the limit as oversize", () => {
    const bytes = encodeFrame([env(1, new Uint8Array(100))]);
    assert.throws(() => decodeFrame(bytes, 50), (e: unknown) => e instanceof FrameError && e.reason === "oversize");
    assert.equal(decodeFrame(bytes, bytes.length).length, 1);
  });
});

describe("FrameQueue", () => {
  it("cuts queued envelopes into frames near the target size, in order", () => {
    const q = new FrameQueue({ maxFrameBytes: 1 << 20, targetFrameBytes: 1000 });
    for (let i = 0; i < 100; i++) q.push(env(i));
    const frames: Buffer[] = [];
    const stats = { framesSent: 0, envelopesSent: 0 };
    assert.equal(q.writeTo((f) => (frames.push(f), true), stats), true);
    assert.ok(frames.length > 1 && frames.every((f) => f.length <= 1000), `frames of ${frames.map((f) => f.length).join(",")}`);
    assert.deepEqual(frames.flatMap((f) => decodeFrame(f)).map((e) => e.payload[1]), [...Array(100).keys()]);
    assert.deepEqual(stats, { framesSent: frames.length, envelopesSent: 100 });
    assert.equal(q.length, 0);
    assert.equal(q.bytes, 0);
  });

  it("stops writing when the writer pushes back, keeping the rest queued", () => {
    const q = new FrameQueue({ maxFrameBytes: 1 << 20, maxEnvelopesPerFrame: 1 });
    for (let i = 0; i < 5; i++) q.push(env(i));
    let writes = 0;
    assert.equal(q.writeTo(() => ++writes < 2, { framesSent: 0, envelopesSent: 0 }), false);
    assert.equal(writes, 2);
    assert.equal(q.length, 3);
  });

  it("refuses an envelope that cannot fit in a frame on its own", () => {
    const q = new FrameQueue({ maxFrameBytes: 64 });
    assert.equal(q.push(env(1, new Uint8Array(100))), -1);
    assert.ok(q.push(env(2)) > 0);
    assert.equal(q.length, 1);
  });
});
