import { varintSize } from "../runtime/frame-codec.js";

/**
 * A few protobuf wire-format primitives, for the hot paths that encode the same small
 * messages tens of thousands of times a second (WAL entries, proposals), where the
 * reflective encoder costs more than the rest of the work. The output is byte-for-byte
 * what toBinary produces (tests check), so fromBinary reads it back.
 */

export { varintSize };

/** Writes n as a varint at pos; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    out[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** Size of a varint field (tag + value), 0 when the value is the default 0 (proto3 omits it). */
export function varintFieldSize(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n);
}

/** Writes a varint field with a one-byte tag, unless n is 0. */
export function writeVarintField(out: Uint8Array, pos: number, tag: number, n: number): number {
  if (n === 0) return pos;
  out[pos++] = tag;
  return writeVarint(out, pos, n);
}

/** Size of a length-delimited field (tag + length + bytes), 0 when empty. */
export function bytesFieldSize(length: number): number {
  return length === 0 ? 0 : 1 + varintSize(length) + length;
}

/** Writes a length-delimited field with a one-byte tag, unless data is empty. */
export function writeBytesField(out: Uint8Array, pos: number, tag: number, data: Uint8Array): number {
  if (data.length === 0) return pos;
  out[pos++] = tag;
  pos = writeVarint(out, pos, data.length);
  out.set(data, pos);
  return pos + data.length;
}

/** Field tags (field number << 3 | wire type) used by the hand encoders. */
export const tag = {
  varint: (field: number): number => (field << 3) | 0,
  bytes: (field: number): number => (field << 3) | 2,
};
