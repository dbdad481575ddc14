/**
 * What one NATS message of the event tap carries: one ClusterEvent (the common case), or,
 * with the header `Dcos-Event-Batch: <count>`, a ClusterEventBatch of several events of the
 * subject's kind. The tap batches when the master hands it a backlog (a failover at 10,000
 * agents publishes 30,000 AGENT_ADDED and TASK_ADDED events in seconds): one message per
 * kind and batch instead of one per event, so its worker keeps up instead of dropping.
 * Readers take both forms through `tapMessageEvents`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { ClusterEventBatchSchema, ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import { ByteBuffer } from "../runtime/binary-writer.js";

/** The header that marks a batch; its value is the number of events. */
export const BATCH_HEADER = "Dcos-Event-Batch";

/** The part of a NATS message's headers a reader needs. */
export interface TapHeaders {
  has(key: string): boolean;
}

/** The events of one tap message (a batch keeps the order the master published them in). */
export function tapMessageEvents(data: Uint8Array, headers?: TapHeaders): ClusterEvent[] {
  if (headers?.has(BATCH_HEADER)) return fromBinary(ClusterEventBatchSchema, data).events;
  return [fromBinary(ClusterEventSchema, data)];
}

/** One batch message to publish: its payload and how many events it carries. */
export interface PackedBatch {
  payload: Uint8Array;
  count: number;
}

/** Field 1 (events), wire type 2 (length-delimited). */
const EVENTS_TAG = (1 << 3) | 2;

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Packs encoded events (`data` back to back, event i ending at `ends[i]`) whose indexes are
 * `picks` into ClusterEventBatch payloads of at most `maxBytes` each (NATS's max_payload; an
 * event bigger than that alone goes in a payload of its own and the server refuses it, as it
 * would the event alone). The events' bytes are copied as they are, each framed as field 1.
 */
export function packBatches(data: Uint8Array, ends: Uint32Array, picks: readonly number[], maxBytes: number): PackedBatch[] {
  const out: PackedBatch[] = [];
  let buf = new ByteBuffer(Math.min(maxBytes, 64 * 1024));
  let count = 0;
  const finish = (): void => {
    if (count === 0) return;
    out.push({ payload: buf.buf.subarray(0, buf.pos), count });
    buf = new ByteBuffer(Math.min(maxBytes, 64 * 1024));
    count = 0;
  };
  for (const i of picks) {
    const start = i === 0 ? 0 : ends[i - 1]!;
    const len = ends[i]! - start;
    const framed = 1 + varintSize(len) + len;
    if (count > 0 && buf.pos + framed > maxBytes) finish();
    buf.room(framed);
    buf.buf[buf.pos++] = EVENTS_TAG;
    buf.varint(len);
    buf.buf.set(data.subarray(start, start + len), buf.pos);
    buf.pos += len;
    count++;
  }
  finish();
  return out;
}

/** Indexes of the events per kind index, kinds in the order they first appear. */
export function groupByKind(kinds: Uint8Array): number[][] {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]!;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(i);
  }
  return [...groups.values()];
}
