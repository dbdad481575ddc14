import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { RaftMessageSchema, type RaftMessage, type RaftSnapshotMetadata } from "../gen/dcos/v1/raft_pb.js";
import { MAX_FRAME_PAYLOAD } from "./storage/wal-frame.js";

/**
 * InstallSnapshot in chunks. A snapshot is as large as the state (the frameworks' logs
 * alone may hold 64 MiB per principal), larger than a transport frame (16 MiB by default)
 * and than anything a member should encode or decode in one turn of its loop. The sender's
 * driver splits an InstallSnapshot request into RaftInstallSnapshotChunk messages; the
 * receiver's puts them back together and steps the whole request into its core, which
 * never sees a chunk. A lost chunk is a lost request: the leader sends the snapshot again.
 */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** The message as chunks of at most `chunkBytes` of data, or [m] when it is not a larger snapshot. */
export function snapshotChunks(m: RaftMessage, chunkBytes: number): RaftMessage[] {
  if (m.body.case !== "installSnapshotRequest") return [m];
  const snapshot = m.body.value.snapshot;
  const data = snapshot?.data;
  if (!snapshot?.metadata || !data || data.length <= chunkBytes) return [m];
  const out: RaftMessage[] = [];
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    out.push(
      withBody(m, {
        case: "installSnapshotChunk",
        value: { metadata: snapshot.metadata, offset: BigInt(offset), total: BigInt(data.length), data: data.subarray(offset, offset + chunkBytes) },
      }),
    );
  }
  return out;
}

/** A message with m's sender, receiver, term, group and generations, and another body. */
function withBody(m: RaftMessage, body: MessageInitShape<typeof RaftMessageSchema>["body"]): RaftMessage {
  return create(RaftMessageSchema, { from: m.from, to: m.to, term: m.term, group: m.group, fromGeneration: m.fromGeneration, toGeneration: m.toGeneration, body });
}

interface Assembly {
  term: bigint;
  metadata: RaftSnapshotMetadata;
  data: Uint8Array;
  /** offset → length of the chunks received. */
  chunks: Map<number, number>;
  received: number;
}

/** Why a chunk was not taken, or the whole request once complete. */
export type ChunkResult = { complete: RaftMessage } | { pending: true } | { refused: string };

/**
 * Puts snapshot chunks back together, one snapshot per sender at a time: a chunk of
 * another snapshot (or term) from the same sender replaces the one being assembled.
 */
export class SnapshotAssembler {
  private readonly assemblies = new Map<string, Assembly>();
  /** Per sender, the last snapshot completed ("term/index"): a late duplicate of its chunks is ignored. */
  private readonly completed = new Map<string, string>();

  add(m: RaftMessage): ChunkResult {
    if (m.body.case !== "installSnapshotChunk") return { refused: "it is not a snapshot chunk" };
    const c = m.body.value;
    const total = Number(c.total);
    const offset = Number(c.offset);
    if (!c.metadata) return { refused: "the chunk names no snapshot" };
    if (!Number.isSafeInteger(total) || total < 1 || total > MAX_FRAME_PAYLOAD) return { refused: `a snapshot of ${c.total} bytes (at most ${MAX_FRAME_PAYLOAD})` };
    if (c.data.length === 0 || !Number.isSafeInteger(offset) || offset < 0 || offset + c.data.length > total) {
      return { refused: `bytes [${c.offset}, ${c.offset + BigInt(c.data.length)}) are outside the snapshot's ${total}` };
    }
    if (this.completed.get(m.from) === `${m.term}/${c.metadata.index}`) return { pending: true }; // a late duplicate
    let a = this.assemblies.get(m.from);
    if (!a || a.term !== m.term || a.metadata.index !== c.metadata.index || a.metadata.term !== c.metadata.term || a.data.length !== total) {
      a = { term: m.term, metadata: c.metadata, data: new Uint8Array(total), chunks: new Map(), received: 0 };
      this.assemblies.set(m.from, a);
    }
    if (a.chunks.has(offset)) return { pending: true }; // a duplicate
    a.data.set(c.data, offset);
    a.chunks.set(offset, c.data.length);
    a.received += c.data.length;
    if (a.received < total || !covers(a.chunks, total)) return { pending: true };
    this.assemblies.delete(m.from);
    this.completed.set(m.from, `${m.term}/${c.metadata.index}`);
    return { complete: withBody(m, { case: "installSnapshotRequest", value: { snapshot: { metadata: a.metadata, data: a.data } } }) };
  }

  /** Snapshots being assembled (for tests and metrics). */
  get size(): number {
    return this.assemblies.size;
  }
}

/** Whether the chunks cover [0, total) with no gap. */
function covers(chunks: Map<number, number>, total: number): boolean {
  let end = 0;
  for (const offset of [...chunks.keys()].sort((x, y) => x - y)) {
    if (offset > end) return false;
    end = Math.max(end, offset + chunks.get(offset)!);
  }
  return end >= total;
}
