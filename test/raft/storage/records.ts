import { create } from "@bufbuild/protobuf";
import {
  RaftEntrySchema,
  RaftEntryType,
  RaftHardStateSchema,
  type RaftEntry,
  type RaftHardState,
  type RaftWalRecord,
} from "../../../src/gen/dcos/v1/raft_pb.js";
import type { WalRecord } from "../../../src/raft/storage/wal-codec.js";

/** Test data for the storage tests: entries, hard states and their WAL records. */
export function entry(index: number, term = 1, text = `entry-${index}`): RaftEntry {
  return create(RaftEntrySchema, { index: BigInt(index), term: BigInt(term), type: RaftEntryType.NORMAL, data: new TextEncoder().encode(text) });
}

export function hardState(term: number, vote = "", commit = 0): RaftHardState {
  return create(RaftHardStateSchema, { term: BigInt(term), vote, commit: BigInt(commit) });
}

export function entryRecord(index: number, term = 1): WalRecord {
  return { case: "entry", value: entry(index, term) };
}

export function hardStateRecord(term: number, vote = "", commit = 0): WalRecord {
  return { case: "hardState", value: hardState(term, vote, commit) };
}

/** Indices of the entry records among records. */
export function entryIndices(records: readonly RaftWalRecord[]): number[] {
  return records.flatMap((r) => (r.record.case === "entry" ? [Number(r.record.value.index)] : []));
}

export function text(e: RaftEntry): string {
  return new TextDecoder().decode(e.data);
}
