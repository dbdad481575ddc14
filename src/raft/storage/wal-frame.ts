import { crc32 } from "node:zlib";
import { Code, DcosError } from "../../runtime/error.js";

/**
 * The framing of one record on disk: a little-endian u32 payload length, a u32 CRC32 of
 * the length bytes and the payload, then the payload. A zero length is never written, so
 * zeroed space (a file extended but never written) never reads as a record.
 */
export const FRAME_HEADER_BYTES = 8;
/** Largest payload accepted; a larger length field is treated as damage. */
export const MAX_FRAME_PAYLOAD = 256 * 1024 * 1024;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  checkPayloadLength(payload.length);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  sealFrame(out, 0, payload.length);
  return out;
}

/** Writes the header of the frame at `offset` of `out`, whose payload of `length` bytes is already in place after it. */
export function sealFrame(out: Uint8Array, offset: number, length: number): void {
  checkPayloadLength(length);
  const view = new DataView(out.buffer, out.byteOffset + offset, FRAME_HEADER_BYTES);
  view.setUint32(0, length, true);
  const payload = out.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
  view.setUint32(4, frameChecksum(out.subarray(offset, offset + 4), payload), true);
}

function checkPayloadLength(length: number): void {
  if (length === 0 || length > MAX_FRAME_PAYLOAD) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot frame a record of ${length} bytes: must be 1..${MAX_FRAME_PAYLOAD}`);
  }
}

function frameChecksum(lengthBytes: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(lengthBytes));
}

/** Why the bytes at an offset are not a valid frame. */
export type FrameDamage = "short header" | "short payload" | "bad length" | "checksum mismatch";

export type FrameRead = { ok: true; payload: Uint8Array; end: number } | { ok: false; damage: FrameDamage };

/** Reads the frame starting at `offset` of `bytes`. */
export function readFrame(bytes: Uint8Array, offset: number): FrameRead {
  if (bytes.length - offset < FRAME_HEADER_BYTES) return { ok: false, damage: "short header" };
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEADER_BYTES);
  const length = view.getUint32(0, true);
  if (length === 0 || length > MAX_FRAME_PAYLOAD) return { ok: false, damage: "bad length" };
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > bytes.length) return { ok: false, damage: "short payload" };
  const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, end);
  if (frameChecksum(bytes.subarray(offset, offset + 4), payload) !== view.getUint32(4, true)) {
    return { ok: false, damage: "checksum mismatch" };
  }
  return { ok: true, payload, end };
}

/** A valid frame in a file, at its offset. */
export interface FrameAt {
  offset: number;
  payload: Uint8Array;
}

export interface ScannedFile {
  frames: FrameAt[];
  /** Offset just after the last valid frame. */
  validEnd: number;
  /** Set when the file ends in a damaged tail that starts at validEnd. */
  tornTail?: FrameDamage;
}

/**
 * Reads every frame of a file. Damage after which no valid frame follows is a torn tail
 * (what a crash in the middle of a write leaves); it is reported, and the caller decides
 * whether a torn tail is allowed there. Damage followed by any valid frame is corruption
 * in the middle: DATA_LOSS naming the file and the offset.
 */
export function scanFrames(bytes: Uint8Array, file: string): ScannedFile {
  const frames: FrameAt[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const r = readFrame(bytes, offset);
    if (r.ok) {
      frames.push({ offset, payload: r.payload });
      offset = r.end;
      continue;
    }
    const later = findValidFrame(bytes, offset + 1);
    if (later !== undefined) {
      throw corruption(file, offset, `${r.damage}, yet a valid record follows at offset ${later}`);
    }
    return { frames, validEnd: offset, tornTail: r.damage };
  }
  return { frames, validEnd: offset };
}

/** The first offset at or after `from` where a valid frame starts, if any. */
function findValidFrame(bytes: Uint8Array, from: number): number | undefined {
  for (let o = from; o + FRAME_HEADER_BYTES < bytes.length; o++) {
    if (readFrame(bytes, o).ok) return o;
  }
  return undefined;
}

export function corruption(file: string, offset: number, what: string): DcosError {
  return new DcosError(Code.DATA_LOSS, `Write-ahead log corrupted in ${file} at offset ${offset}: ${what}; refusing to start`, {
    details: { file, offset: String(offset) },
  });
}
