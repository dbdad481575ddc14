import { create } from "@bufbuild/protobuf";
import { RaftWalRecordSchema, type RaftEntry, type RaftWalRecord } from "../../gen/dcos/v1/raft_pb.js";
import { bytesFieldSize, tag, varintFieldSize, varintSize, writeBytesField, writeVarint, writeVarintField } from "../proto-writer.js";
import { FRAME_HEADER_BYTES, sealFrame } from "./wal-frame.js";
import { protoEncoder } from "../../runtime/proto-codec.js";

/** One record of the write-ahead log: the oneof of RaftWalRecord. */
export type WalRecord = Exclude<RaftWalRecord["record"], { case: undefined }>;

const ENTRY_FIELD = tag.bytes(2);
/** The other records (a hard state with every write, a snapshot's metadata), through the generated writer. */
const encodeRecord = protoEncoder(RaftWalRecordSchema);

/**
 * Encodes and frames records into one buffer, ready for one write. Entries (nearly all
 * records) are encoded by hand; the rest by the generated writer (proto-codec.ts). Byte-for-byte the frames of
 * `toBinary(RaftWalRecordSchema, …)`.
 */
export function encodeRecords(records: readonly WalRecord[]): Uint8Array {
  const payloads: (Uint8Array | RaftEntry)[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const r of records) {
    if (r.case === "entry") {
      const inner = entrySize(r.value);
      const size = 1 + varintSize(inner) + inner;
      payloads.push(r.value);
      sizes.push(size);
      total += FRAME_HEADER_BYTES + size;
    } else {
      const bytes = encodeRecord(create(RaftWalRecordSchema, { record: r }));
      payloads.push(bytes);
      sizes.push(bytes.length);
      total += FRAME_HEADER_BYTES + bytes.length;
    }
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    const start = pos + FRAME_HEADER_BYTES;
    if (p instanceof Uint8Array) out.set(p, start);
    else writeEntryRecord(out, start, p);
    sealFrame(out, pos, sizes[i]!);
    pos = start + sizes[i]!;
  }
  return out;
}

function entrySize(e: RaftEntry): number {
  return varintFieldSize(Number(e.term)) + varintFieldSize(Number(e.index)) + varintFieldSize(e.type) + bytesFieldSize(e.data.length);
}

function writeEntryRecord(out: Uint8Array, pos: number, e: RaftEntry): number {
  out[pos++] = ENTRY_FIELD;
  pos = writeVarint(out, pos, entrySize(e));
  pos = writeVarintField(out, pos, tag.varint(1), Number(e.term));
  pos = writeVarintField(out, pos, tag.varint(2), Number(e.index));
  pos = writeVarintField(out, pos, tag.varint(3), e.type);
  return writeBytesField(out, pos, tag.bytes(4), e.data);
}
