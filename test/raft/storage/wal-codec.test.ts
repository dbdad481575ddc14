import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { RaftProposalSchema, RaftWalRecordSchema } from "../../../src/gen/dcos/v1/raft_pb.js";
import { Random } from "../../../src/runtime/random.js";
import { decodeProposal, encodeProposal } from "../../../src/raft/client-sessions.js";
import { encodeRecords, type WalRecord } from "../../../src/raft/storage/wal-codec.js";
import { encodeFrame } from "../../../src/raft/storage/wal-frame.js";
import { entry, hardState } from "./records.js";

const SEED = 20261123;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("hand-written encoders (the WAL's and proposals' hot paths)", () => {
  it(`frame records byte for byte as protobuf-es does (seed ${SEED})`, () => {
    const random = new Random(SEED);
    for (let round = 0; round < 200; round++) {
      const records: WalRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const big = random.chance(0.3) ? 2 ** random.between(20, 52) : random.between(0, 300);
        const e = entry(big, random.between(0, 2 ** 20), "x".repeat(random.between(0, 300)));
        e.type = random.between(0, 3);
        records.push(random.chance(0.8) ? { case: "entry", value: e } : { case: "hardState", value: hardState(random.between(0, 9), "raft@a:1", big) });
      }
      const expected = concat(records.map((r) => encodeFrame(toBinary(RaftWalRecordSchema, create(RaftWalRecordSchema, { record: r })))));
      assert.deepEqual(encodeRecords(records), expected, `round ${round}`);
    }
  });

  it("encode proposals byte for byte as protobuf-es does, and decode them back", () => {
    for (const [client, seq, size] of [["c", 0, 0], ["client-é", 1, 1], ["x".repeat(200), 2 ** 40 + 3, 1000]] as const) {
      const command = new Uint8Array(size).fill(9);
      const expected = toBinary(RaftProposalSchema, create(RaftProposalSchema, { client, sequence: BigInt(seq), command }));
      assert.deepEqual(encodeProposal(client, seq, command), expected);
      const back = decodeProposal(expected);
      assert.deepEqual({ ...back, command: [...back.command] }, { client, sequence: seq, command: [...command] });
    }
  });

  it("refuses a malformed proposal instead of misreading it", () => {
    assert.throws(() => decodeProposal(new Uint8Array([0x0a, 0x05, 0x61])), /runs past the end/);
  });
});
