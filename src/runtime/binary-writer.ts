/**
 * A fast protobuf encoder for hot paths (the event tap, scheduler streams, every message
 * an actor system sends: TypeRegistry.encode): one writer function per message type,
 * generated once from its descriptor (writerOf), writing straight into a growable byte
 * buffer (the tap later transfers its buffer to its worker thread). It gives the
 * bytes toBinary gives (same fields, same wire types, packed lists, unknown fields kept),
 * at a fraction of the cost: toBinary walks reflection objects for every message.
 * Length-delimited fields reserve one length byte and move their content when it is longer.
 */
import { WireType } from "@bufbuild/protobuf/wire";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { ScalarType, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT;


const utf8 = new TextEncoder();

export class ByteBuffer {
  buf: Uint8Array;
  pos = 0;
  private dv: DataView;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
    this.dv = new DataView(bigger.buffer);
  }

  /** Unsigned varint of a non-negative integer below 2^53. */
  varint(v: number): void {
    this.room(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** int32 and enums: negative values take ten bytes, as protobuf says. */
  int32(v: number): void {
    if (v >= 0) this.varint(v);
    else this.varint64(BigInt(v));
  }

  /** Any 64-bit integer as its unsigned two's complement varint. */
  varint64(v: bigint): void {
    // Most 64-bit values (sequence numbers, ids) fit in 32 bits: no BigInt.asUintN allocation for them.
    if (v >= 0n && v <= 0xffffffffn) return this.varint(Number(v));
    let x = BigInt.asUintN(64, v);
    if (x <= 0xffffffffn) return this.varint(Number(x));
    this.room(10);
    while (x > 0x7fn) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  fixed32(v: number, signed: boolean): void {
    this.room(4);
    if (signed) this.dv.setInt32(this.pos, v, true);
    else this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  fixed64(v: bigint): void {
    this.room(8);
    this.dv.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  float(v: number): void {
    this.room(4);
    this.dv.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.room(8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    const n = b.length;
    if (this.pos + n > this.buf.length) this.room(n);
    if (n > 32) {
      this.buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    // Short bytes (uuids): a loop, cheaper than a call into TypedArray.set.
    const buf = this.buf;
    let at = this.pos;
    for (let i = 0; i < n; i++) buf[at++] = b[i]!;
    this.pos = at;
  }

  /** One byte (a tag below 128). */
  byte(b: number): void {
    if (this.pos >= this.buf.length) this.room(1);
    this.buf[this.pos++] = b;
  }

  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short ASCII (ids, pids, states): copied by hand. Measured against a cache of encoded
      // strings (Map lookup, then a copy): the cache was no faster, so strings are not cached.
      if (this.pos + n + 1 > this.buf.length) this.room(n + 1);
      const buf = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + 1 + i] = c;
      }
      if (i === n) {
        buf[at] = n;
        this.pos = at + 1 + n;
        return;
      }
    }
    this.delimited(writeUtf8, s);
  }

  /**
   * Gives the length-delimited content that began at `at` (one length byte reserved) its true
   * length. A content of 128 bytes or more is moved up in place by the length's extra bytes
   * (it was copied out with slice() and back: an allocation per nested message over 127
   * bytes, e.g. two per TASK_ADDED event a failover's new leader encodes for the tap).
   */
  endDelimited(at: number): void {
    const length = this.pos - at - 1;
    if (length < 128) {
      this.buf[at] = length;
      return;
    }
    const extra = length < 0x4000 ? 1 : length < 0x20_0000 ? 2 : length < 0x1000_0000 ? 3 : 4;
    this.room(extra);
    const buf = this.buf;
    buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    let v = length;
    let p = at;
    while (v > 0x7f) {
      buf[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[p] = v;
    this.pos += extra;
  }

  /** Writes what `body` writes with its length in front (body and value apart: no closure per call). */
  delimited<V>(body: (out: ByteBuffer, value: V) => void, value: V): void {
    this.room(1);
    const at = this.pos++;
    body(this, value);
    this.endDelimited(at);
  }
}

function writeUtf8(out: ByteBuffer, s: string): void {
  out.room(s.length * 3);
  out.pos += utf8.encodeInto(s, out.buf.subarray(out.pos)).written;
}

type Write = (out: ByteBuffer, value: unknown) => void;
type MessageWriter = (out: ByteBuffer, message: Record<string, unknown>) => void;

const toBig = (v: unknown): bigint => (typeof v === "bigint" ? v : BigInt(v as string | number));

/** How one scalar value is written (after its tag) and its wire type. */
function scalarWriter(type: ScalarType): [WireType, Write] {
  switch (type) {
    case ScalarType.DOUBLE:
      return [WireType.Bit64, (o, v) => o.double(v as number)];
    case ScalarType.FLOAT:
      return [WireType.Bit32, (o, v) => o.float(v as number)];
    case ScalarType.INT64:
    case ScalarType.UINT64:
      return [WireType.Varint, (o, v) => o.varint64(toBig(v))];
    case ScalarType.SINT64:
      return [WireType.Varint, (o, v) => { const x = BigInt.asIntN(64, toBig(v)); o.varint64((x << 1n) ^ (x >> 63n)); }];
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return [WireType.Bit64, (o, v) => o.fixed64(toBig(v))];
    case ScalarType.INT32:
      return [WireType.Varint, (o, v) => o.int32(v as number)];
    case ScalarType.UINT32:
      return [WireType.Varint, (o, v) => o.varint((v as number) >>> 0)];
    case ScalarType.SINT32:
      return [WireType.Varint, (o, v) => o.varint((((v as number) << 1) ^ ((v as number) >> 31)) >>> 0)];
    case ScalarType.FIXED32:
      return [WireType.Bit32, (o, v) => o.fixed32(v as number, false)];
    case ScalarType.SFIXED32:
      return [WireType.Bit32, (o, v) => o.fixed32(v as number, true)];
    case ScalarType.BOOL:
      return [WireType.Varint, (o, v) => o.varint(v ? 1 : 0)];
    case ScalarType.STRING:
      return [WireType.LengthDelimited, (o, v) => o.string(v as string)];
    case ScalarType.BYTES:
      return [WireType.LengthDelimited, (o, v) => o.bytes(v as Uint8Array)];
  }
}

/** JavaScript for "v is not the zero value" of an implicit-presence field (zero values are not written). */
function nonZeroCode(field: DescField): string {
  if (field.fieldKind === "enum") return "v !== 0";
  switch (field.fieldKind === "scalar" ? field.scalar : undefined) {
    case ScalarType.STRING:
      return 'v !== ""';
    case ScalarType.BYTES:
      return "v.length !== 0";
    case ScalarType.BOOL:
      return "v !== false";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 'v !== 0n && v !== "0" && v !== 0';
    default:
      return "v !== 0";
  }
}

/** JavaScript writing v for the common scalar kinds; undefined: call the field's Write. */
function inlineWriteCode(field: DescField): string | undefined {
  if (field.fieldKind === "enum") return "o.int32(v)";
  switch (field.fieldKind === "scalar" ? field.scalar : undefined) {
    case ScalarType.STRING:
      return "o.string(v)";
    case ScalarType.BYTES:
      return "o.bytes(v)";
    case ScalarType.BOOL:
      return "o.varint(v ? 1 : 0)";
    case ScalarType.INT32:
      return "o.int32(v)";
    case ScalarType.UINT32:
      return "o.varint(v >>> 0)";
    case ScalarType.DOUBLE:
      return "o.double(v)";
    case ScalarType.INT64:
    case ScalarType.UINT64:
      return 'o.varint64(typeof v === "bigint" ? v : BigInt(v))';
    default:
      return undefined;
  }
}

const compiled = new Map<DescMessage, MessageWriter>();
/** A compiled type's wrapper (what `compiled` holds) → its generated function. */
const finished = new Map<MessageWriter, MessageWriter>();

/** JavaScript writing a field's tag: one byte (nearly always) or a varint. */
const tagCode = (tag: number): string => (tag < 128 ? `o.byte(${tag});` : `o.varint(${tag});`);

/**
 * The writer of one message type, made once: JavaScript generated from the descriptor with
 * each field's name and tag written in (so property reads are monomorphic and the common
 * scalars inline); a oneof is a switch on its case, a nested message is written in place
 * with its length fixed afterwards; lists, maps and explicit-presence fields call writers
 * kept in `e`. Field names come from our own descriptors and are quoted with JSON.stringify.
 * Recursive types resolve through the cache (a nested writer calls through `impl`).
 */
function writerOf(desc: DescMessage): MessageWriter {
  const cached = compiled.get(desc);
  if (cached) return cached;
  let impl: MessageWriter = () => undefined;
  compiled.set(desc, (o, m) => impl(o, m));
  const env: unknown[] = [];
  const use = (x: unknown): string => `e[${env.push(x) - 1}]`;
  /** Writes `v` (known to be set) of a singular field, tag included. */
  const singleCode = (field: DescField): string => {
    if (field.fieldKind === "message" && !field.delimitedEncoding) {
      return `${tagCode((field.number << 3) | WireType.LengthDelimited)} o.room(1); const at = o.pos++; ${use(writerOf(field.message))}(o, v); o.endDelimited(at);`;
    }
    const { wire, write } = singleWriter(field);
    const writeV = field.fieldKind === "message" ? undefined : inlineWriteCode(field);
    return `${tagCode((field.number << 3) | wire)} ${writeV ?? `${use(write)}(o, v)`};`;
  };
  const lines: string[] = [];
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const cases = member.fields.map((f) => `case ${JSON.stringify(f.localName)}: { v = s.value; ${singleCode(f)} break; }`);
      lines.push(`{ const s = m[${JSON.stringify(member.localName)}]; switch (s.case) { ${cases.join("\n")} } }`);
      continue;
    }
    const field = member;
    const singular = field.fieldKind === "message" || ((field.fieldKind === "scalar" || field.fieldKind === "enum") && field.presence === IMPLICIT);
    if (field.fieldKind === "list" && field.listKind === "message" && !field.delimitedEncoding) {
      // Written in place like a singular message: through fieldWriter each element took two
      // closures and ByteBuffer.delimited's call of its body, one call site for every type.
      const tag = (field.number << 3) | WireType.LengthDelimited;
      lines.push(`for (const x of m[${JSON.stringify(field.localName)}]) { ${tagCode(tag)} o.room(1); const at = o.pos++; ${use(writerOf(field.message))}(o, x); o.endDelimited(at); }`);
      continue;
    }
    if (!singular) {
      lines.push(`${use(fieldWriter(field))}(o, m);`);
      continue;
    }
    const set = field.fieldKind === "message" ? "v !== undefined" : `v !== undefined && ${nonZeroCode(field)}`;
    lines.push(`v = m[${JSON.stringify(field.localName)}]; if (${set}) { ${singleCode(field)} }`);
  }
  // Nested writers finished by now are called directly, not through their recursion wrapper.
  for (let i = 0; i < env.length; i++) env[i] = finished.get(env[i] as MessageWriter) ?? env[i];
  lines.push("const u = m.$unknown; if (u !== undefined) for (const x of u) { o.varint((x.no << 3) | x.wireType); o.raw(x.data); }");
  impl = new Function("e", `"use strict"; return function write(o, m) { let v; ${lines.join("\n")} };`)(env) as MessageWriter;
  const wrapper = compiled.get(desc)!;
  finished.set(wrapper, impl);
  return wrapper;
}

/** A message field's value (tag written by the caller). */
function messageValue(desc: DescMessage, delimitedEncoding: boolean, number: number): Write {
  const write = writerOf(desc);
  if (delimitedEncoding) return (o, v) => { write(o, v as Record<string, unknown>); o.varint((number << 3) | 4); };
  return (o, v) => o.delimited(write, v as Record<string, unknown>);
}

function singleWriter(field: DescField): { wire: WireType; write: Write } {
  if (field.fieldKind === "message") {
    return { wire: field.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited, write: messageValue(field.message, field.delimitedEncoding, field.number) };
  }
  if (field.fieldKind === "enum") return { wire: WireType.Varint, write: (o, v) => o.int32(v as number) };
  if (field.fieldKind === "scalar") {
    const [wire, write] = scalarWriter(field.scalar);
    return { wire, write };
  }
  throw new Error(`not a singular field: ${field.name}`);
}

/** Lists, maps and explicit-presence scalars. */
function fieldWriter(field: DescField): MessageWriter {
  const n = field.number;
  if (field.fieldKind === "list") {
    const [wire, write]: [number, Write] =
      field.listKind === "message"
        ? [field.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited, messageValue(field.message, field.delimitedEncoding, n)]
        : field.listKind === "enum"
          ? [WireType.Varint, (o, v) => o.int32(v as number)]
          : scalarWriter(field.scalar);
    const name = field.localName;
    if (field.packed && (wire === WireType.Varint || wire === WireType.Bit32 || wire === WireType.Bit64)) {
      const tag = (n << 3) | WireType.LengthDelimited;
      return (o, m) => {
        const list = m[name] as unknown[];
        if (list.length === 0) return;
        o.varint(tag);
        o.delimited((out, values) => { for (const v of values) write(out, v); }, list);
      };
    }
    const tag = (n << 3) | wire;
    return (o, m) => {
      for (const v of m[name] as unknown[]) {
        o.varint(tag);
        write(o, v);
      }
    };
  }
  if (field.fieldKind === "map") {
    const [keyWire, writeKey] = scalarWriter(field.mapKey);
    const value = field.mapKind === "message" ? { wire: WireType.LengthDelimited, write: messageValue(field.message, false, 2) } : field.mapKind === "enum" ? { wire: WireType.Varint, write: ((o, v) => o.int32(v as number)) as Write } : (([wire, write]) => ({ wire, write }))(scalarWriter(field.scalar));
    const tag = (n << 3) | WireType.LengthDelimited;
    const keyOf = mapKeyParser(field.mapKey);
    const name = field.localName;
    const entry = (out: ByteBuffer, [k, v]: [string, unknown]): void => {
      out.varint((1 << 3) | keyWire);
      writeKey(out, keyOf(k));
      out.varint((2 << 3) | value.wire);
      value.write(out, v);
    };
    return (o, m) => {
      for (const kv of Object.entries(m[name] as Record<string, unknown>)) {
        o.varint(tag);
        o.delimited(entry, kv);
      }
    };
  }
  // Singular fields with implicit presence and messages are written by the generated code (writerOf).
  const { wire, write } = singleWriter(field);
  const tag = (n << 3) | wire;
  const name = field.localName;
  // Explicit presence: proto2 messages keep unset fields' defaults on the prototype.
  return (o, m) => {
    if (!Object.hasOwn(m, name) || m[name] === undefined) return;
    o.varint(tag);
    write(o, m[name]);
  };
}

function mapKeyParser(type: ScalarType): (k: string) => unknown {
  if (type === ScalarType.BOOL) return (k) => k === "true";
  if (type === ScalarType.STRING) return (k) => k;
  if ([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64].includes(type)) return (k) => BigInt(k);
  return (k) => Number(k);
}

/** Appends the message's protobuf bytes (what toBinary gives) to `out`. */
export function writeMessage<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>, out: ByteBuffer): void {
  writerOf(desc)(out, message as unknown as Record<string, unknown>);
}

/** writeMessage for one type, looked up once (hot paths keep it: no lookup per message). */
export function messageWriter<Desc extends DescMessage>(desc: Desc): (out: ByteBuffer, message: MessageShape<Desc>) => void {
  const wrapper = writerOf(desc);
  const write = finished.get(wrapper) ?? wrapper;
  return (out, message) => write(out, message as unknown as Record<string, unknown>);
}
