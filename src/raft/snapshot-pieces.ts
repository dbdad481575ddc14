import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { tag, varintSize, writeVarint } from "./proto-writer.js";
import type { SnapshotPieces } from "./state-machine.js";

/**
 * Helpers for state machines that encode their snapshots in steps (StateMachine.
 * snapshotPieces): protobuf written piece by piece, byte-for-byte what toBinary writes for
 * the whole message. Concatenated protobuf encodings merge (repeated fields append), so a
 * message's repeated fields can be written a slice of elements at a time.
 */

/** A step that produced no bytes (it only made progress, e.g. while buffering). */
export const NO_BYTES = new Uint8Array(0);

/** The pieces joined into one array (what snapshot() returns for a machine that has pieces). */
export function joinPieces(pieces: Iterable<Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const piece of pieces) {
    if (piece.length === 0) continue;
    parts.push(piece);
    total += piece.length;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Bytes already encoded, as pieces (a machine without pieces of its own: its snapshot(), taken at once). */
export function* onePiece(bytes: Uint8Array): SnapshotPieces {
  yield bytes;
}

/**
 * Fields of `schema` a slice of `items` at a time, `per` elements per piece: each piece is
 * toBinary of the message `init` makes of that slice (a repeated field holding it).
 */
export function* repeatedField<Desc extends DescMessage, T>(
  schema: Desc,
  items: readonly T[],
  init: (slice: T[]) => MessageInitShape<Desc>,
  per = 256,
): SnapshotPieces {
  for (let i = 0; i < items.length; i += per) yield toBinary(schema, create(schema, init(items.slice(i, i + per))));
}

/**
 * A length-delimited field (field number `field`) holding the concatenated `inner` pieces:
 * its length goes first, so the inner pieces are drawn (one per step, yielding NO_BYTES)
 * and kept, then the tag and length are written and the kept pieces handed on. An empty
 * value writes nothing (proto3 omits an empty bytes field), unless `always`.
 */
export function* lengthDelimited(field: number, inner: SnapshotPieces, always = false): SnapshotPieces {
  const kept: Uint8Array[] = [];
  let length = 0;
  for (const piece of inner) {
    if (piece.length > 0) {
      kept.push(piece);
      length += piece.length;
    }
    yield NO_BYTES;
  }
  if (length === 0 && !always) return;
  const head = new Uint8Array(1 + varintSize(length));
  head[0] = tag.bytes(field);
  writeVarint(head, 1, length);
  yield head;
  yield* kept;
}

/** The pieces of each in turn (views already captured). */
export function* chain(...parts: SnapshotPieces[]): SnapshotPieces {
  for (const p of parts) yield* p;
}
