import type { Envelope } from "../gen/dcos/v1/runtime_pb.js";
import { Code, DcosError } from "./error.js";
import type { DropReason } from "./transport.js";

/**
 * The wire form of a Frame (`repeated Envelope envelopes = 1`), written and read by hand:
 * a transport encodes thousands of envelopes per second, and the generic reflection-based
 * toBinary/fromBinary of a Frame costs more than everything else on the path together.
 * The bytes are exactly what protobuf would produce, so any protobuf reader understands them.
 *
 * Decoding is bounds-checked at every step and throws a FrameError on anything malformed;
 * it never reads outside the given bytes.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Tags of Envelope's fields (field << 3 | wire type) and of Frame.envelopes. */
const TAG_FROM = (1 << 3) | WIRE_LEN;
const TAG_TO = (2 << 3) | WIRE_LEN;
const TAG_TYPE = (3 << 3) | WIRE_LEN;
const TAG_PAYLOAD = (4 << 3) | WIRE_LEN;
const TAG_ENVELOPE = (1 << 3) | WIRE_LEN;

/** A frame that cannot be accepted; `reason` names the drop counter it belongs to. */
export class FrameError extends DcosError {
  readonly reason: Extract<DropReason, "undecodable" | "oversize">;

  constructor(reason: "undecodable" | "oversize", message: string) {
    super(reason === "oversize" ? Code.RESOURCE_EXHAUSTED : Code.INVALID_ARGUMENT, message);
    this.reason = reason;
  }
}

/** Bytes a varint of v takes (v < 2^53). */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * The UTF-8 bytes of the last string seen in one envelope field. Consecutive envelopes
 * of a frame mostly repeat their pids and type, so each field's text is encoded once.
 */
class EncodedText {
  private text = "";
  private bytes: Buffer = Buffer.alloc(0);

  of(s: string): Buffer {
    if (s !== this.text) {
      this.bytes = Buffer.from(s, "utf8");
      this.text = s;
    }
    return this.bytes;
  }
}

const fromText = new EncodedText();
const toText = new EncodedText();
const typeText = new EncodedText();

function stringSize(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n) + n;
}

/** Size of an Envelope's encoded body (without its tag and length in a Frame). */
export function envelopeSize(env: Envelope): number {
  const p = env.payload.length;
  return stringSize(fromText.of(env.from).length) + stringSize(toText.of(env.to).length) + stringSize(typeText.of(env.type).length) + stringSize(p);
}

/** Size an envelope of body size `bodySize` adds to a Frame. */
export function frameEntrySize(bodySize: number): number {
  return 1 + varintSize(bodySize) + bodySize;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeBytes(buf: Buffer, pos: number, tag: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, n);
  if (n <= 32) {
    for (let i = 0; i < n; i++) buf[pos + i] = bytes[i]!;
  } else {
    buf.set(bytes, pos);
  }
  return pos + n;
}

export interface EncodeFrameOptions {
  /**
   * When set, the frame is written as this length-delimited field of an enclosing message
   * (e.g. 2 for ConnectRequest.frame), so the bytes are that message, ready to send.
   */
  wrapField?: number;
  /** Body sizes of the envelopes (from envelopeSize), if the caller already has them. */
  sizes?: readonly number[];
}

/** Encodes envelopes[start, end) as one Frame into a fresh Buffer. */
export function encodeFrame(envelopes: readonly Envelope[], options: EncodeFrameOptions = {}, start = 0, end = envelopes.length): Buffer {
  const sizes = options.sizes;
  let frameSize = 0;
  for (let i = start; i < end; i++) frameSize += frameEntrySize(sizes ? sizes[i]! : envelopeSize(envelopes[i]!));
  const wrap = options.wrapField ?? 0;
  const total = wrap > 0 ? varintSize((wrap << 3) | WIRE_LEN) + varintSize(frameSize) + frameSize : frameSize;
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (wrap > 0) {
    pos = writeVarint(buf, pos, (wrap << 3) | WIRE_LEN);
    pos = writeVarint(buf, pos, frameSize);
  }
  for (let i = start; i < end; i++) {
    const env = envelopes[i]!;
    buf[pos++] = TAG_ENVELOPE;
    pos = writeVarint(buf, pos, sizes ? sizes[i]! : envelopeSize(env));
    pos = writeBytes(buf, pos, TAG_FROM, fromText.of(env.from));
    pos = writeBytes(buf, pos, TAG_TO, toText.of(env.to));
    pos = writeBytes(buf, pos, TAG_TYPE, typeText.of(env.type));
    pos = writeBytes(buf, pos, TAG_PAYLOAD, env.payload);
  }
  if (pos !== total) throw new DcosError(Code.INTERNAL, `Frame encoding wrote ${pos} bytes where ${total} were computed`);
  return buf;
}

/**
 * A bounds-checked reader over protobuf wire bytes. Every read checks what is left and
 * throws FrameError("undecodable") instead of reading past the end.
 */
export class WireReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  static of(bytes: Uint8Array): WireReader {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new WireReader(buf);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new FrameError("undecodable", `Truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    // Lengths and tags beyond 2^56 are nonsense for a frame; treat as garbage.
    throw new FrameError("undecodable", `Varint too long at byte ${this.pos}`);
  }

  /** A length-delimited field's bounds [start, end). */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) {
      throw new FrameError("undecodable", `Field of ${len} bytes at byte ${start} runs past the end (${this.end - start} left)`);
    }
    this.pos = start + len;
    return [start, start + len];
  }

  /** Skips a field of the given wire type (unknown fields are allowed, as protobuf says). */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new FrameError("undecodable", `Unsupported wire type ${wireType} at byte ${this.pos}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new FrameError("undecodable", `Truncated fixed-size field at byte ${this.pos}`);
    this.pos += n;
  }

  /** Reads a tag; returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) throw new FrameError("undecodable", `Field number 0 at byte ${this.pos}`);
    return [field, t & 7];
  }
}

/**
 * Reads a message of which exactly one length-delimited field is set (a oneof such as
 * ConnectRequest.kind): returns that field's number and bytes (a view, not a copy).
 * When the field appears more than once the last one wins, as protobuf says.
 */
export function readOneofField(bytes: Uint8Array): { field: number; value: Buffer } {
  const r = WireReader.of(bytes);
  let found: { field: number; value: Buffer } | undefined;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    found = { field, value: r.buf.subarray(s, e) };
  }
  if (!found) throw new FrameError("undecodable", "Message carries no field");
  return found;
}

/**
 * Decodes a Frame. Envelope payloads are views into `bytes`, kept until their actor
 * handles them (ActorSystem decodes a payload then): a transport never reuses a received
 * frame's buffer. Throws FrameError: "oversize" past maxBytes, "undecodable" otherwise.
 */
export function decodeFrame(bytes: Uint8Array, maxBytes = Number.POSITIVE_INFINITY): Envelope[] {
  if (bytes.length > maxBytes) {
    throw new FrameError("oversize", `Frame of ${bytes.length} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  const r = WireReader.of(bytes);
  const out: Envelope[] = [];
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field !== 1 || wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    out.push(decodeEnvelope(r.buf, s, e));
  }
  return out;
}

/** The reverse of EncodedText: the last text decoded for one field, reused while the bytes repeat. */
class DecodedText {
  private text = "";
  private bytes: Buffer = Buffer.alloc(0);

  of(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    const last = this.bytes;
    if (n === last.length && n <= 128) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (buf[start + i] !== last[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.text;
    }
    this.text = buf.toString("utf8", start, end);
    this.bytes = Buffer.from(buf.subarray(start, end));
    return this.text;
  }
}

const fromDecoded = new DecodedText();
const toDecoded = new DecodedText();
const typeDecoded = new DecodedText();

function decodeEnvelope(buf: Buffer, start: number, end: number): Envelope {
  const r = new WireReader(buf, start, end);
  let from = "";
  let to = "";
  let type = "";
  let payload: Uint8Array = EMPTY;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (wire !== WIRE_LEN || field > 4) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    switch (field) {
      case 1:
        from = fromDecoded.of(buf, s, e);
        break;
      case 2:
        to = toDecoded.of(buf, s, e);
        break;
      case 3:
        type = typeDecoded.of(buf, s, e);
        break;
      case 4:
        payload = buf.subarray(s, e);
        break;
    }
  }
  return { $typeName: "dcos.v1.Envelope", from, to, type, payload };
}

const EMPTY = new Uint8Array(0);
