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

/** Writes v as a varint at pos; returns the position after it. */
function putVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v > 0x7f) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Packs encoded events (`data` back to back, event i ending at `ends[i]`) whose indexes are
 * `picks` into ClusterEventBatch payloads of at most `maxBytes` each (NATS's max_payload; an
 * event bigger than that alone goes in a payload of its own and the server refuses it, as it
 * would the event alone). The events' bytes are copied as they are, each framed as field 1.
 * Each payload is measured first and allocated at its size (a buffer grown by doubling from
 * 64 KiB to a payload of a megabyte was copied five times over).
 */
export function packBatches(data: Uint8Array, ends: Uint32Array, picks: ArrayLike<number>, maxBytes: number): PackedBatch[] {
  const out: PackedBatch[] = [];
  const length = (i: number): number => ends[i]! - (i === 0 ? 0 : ends[i - 1]!);
  for (let first = 0; first < picks.length; ) {
    let size = 0;
    let next = first;
    do {
      const len = length(picks[next]!);
      const framed = 1 + varintSize(len) + len;
      if (next > first && size + framed > maxBytes) break;
      size += framed;
      next++;
    } while (next < picks.length);
    const payload = new Uint8Array(size);
    let pos = 0;
    for (let k = first; k < next; k++) {
      const i = picks[k]!;
      const len = length(i);
      const start = ends[i]! - len;
      payload[pos++] = EVENTS_TAG;
      pos = putVarint(payload, pos, len);
      payload.set(data.subarray(start, start + len), pos);
      pos += len;
    }
    out.push({ payload, count: next - first });
    first = next;
  }
  return out;
}

/**
 * Indexes of the events per kind index, kinds in the order they first appear: one array of
 * indexes sorted by kind (counted first), each kind's part a view of it (a list grown by push
 * per event was most of the worker's grouping of a failover's 60,000 events).
 */
export function groupByKind(kinds: Uint8Array): Uint32Array[] {
  const counts = new Uint32Array(256);
  const order: number[] = [];
  for (let i = 0; i < kinds.length; i++) if (counts[kinds[i]!]!++ === 0) order.push(kinds[i]!);
  const sorted = new Uint32Array(kinds.length);
  const at = new Uint32Array(256);
  const groups: Uint32Array[] = [];
  let start = 0;
  for (const k of order) {
    at[k] = start;
    groups.push(sorted.subarray(start, start + counts[k]!));
    start += counts[k]!;
  }
  for (let i = 0; i < kinds.length; i++) sorted[at[kinds[i]!]!++] = i;
  return groups;
}
