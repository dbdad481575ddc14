/**
 * A fast protobuf decoder for hot paths (every message an actor system receives:
 * TypeRegistry.decode), the reading twin of binary-writer.ts: one reader function per
 * message type, generated once from its descriptor, giving the message fromBinary gives
 * (the same plain object: $typeName, every implicit-presence field at its zero value, lists
 * and maps empty, oneofs { case: undefined }, unset message fields absent; unknown fields
 * kept in $unknown; a repeated message field merged; packed and unpacked lists alike).
 * fromBinary walks a reader per field and creates every nested message through create();
 * here a message starts as one object literal of its final shape and a field is one case
 * of a switch on its tag. A ReregisterAgent with 5 tasks: docs/scale.md.
 *
 * Only proto3 types whose fields are all plain (no groups, no google.protobuf wrappers or
 * Struct, which protobuf-es represents specially) are compiled; any other type is read by
 * fromBinary. Malformed bytes (truncated, an impossible tag or length, nesting past 100
 * levels) throw an Error, as fromBinary does; nothing is read outside the given bytes.
 */
import { fromBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT;
/** google.protobuf.Edition.EDITION_PROTO3 */
const EDITION_PROTO3 = 999;
const MAX_DEPTH = 100;


const utf8 = new TextDecoder();

/**
 * The empty bytes every decoded message shares (zero-valued and empty bytes fields): a
 * Uint8Array each was an ArrayBuffer per message for the collector to track, e.g. per task a
 * failover's new leader adopts and keeps. A zero-length array holds nothing to write to; a
 * field is replaced, never filled, as with the master's own statuses (master-state.ts).
 */
export const EMPTY_BYTES = new Uint8Array(0);

/*
 * A list read grows by push, and V8 gives an array its first 17 slots at the first push: a
 * Task's two resources kept 152 bytes of backing store instead of 32. A failover's new leader
 * keeps every adopted task and agent as decoded (at 10,000 agents, ~106,000 such lists, 12% of
 * its heap, for the young generation's collector to copy); so each list read is replaced by its
 * copy, which V8 makes exactly as long as it is (docs/scale.md, "Session 12").
 */

/** The bytes being read and the position in them; every read checks the end. */
export class WireInput {
  pos = 0;
  readonly dv: DataView;
  /** The same bytes as a Buffer: short ASCII strings are read natively (latin1). */
  private readonly text: Buffer;

  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.text = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string): never {
    throw new Error(`cannot decode protobuf: ${what} at byte ${this.pos}`);
  }

  /** A varint's low 32 bits (as uint32 | 0 would give); up to 10 bytes, as protobuf allows. */
  varint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = buf.length;
    if (pos < end) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) this.fail("truncated varint");
      const b = buf[pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
    }
    this.pos = pos;
    return this.fail("varint longer than 10 bytes");
  }

  /** A varint as an unsigned 64-bit bigint. */
  varint64(): bigint {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let shift = 0;
    // The first 4 bytes (28 bits) as a number, the rest as a bigint when there is more.
    for (; shift < 28; shift += 7) {
      if (pos >= buf.length) this.fail("truncated varint");
      const b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return BigInt(lo >>> 0);
      }
    }
    let result = BigInt(lo >>> 0);
    for (; shift < 70; shift += 7) {
      if (pos >= buf.length) this.fail("truncated varint");
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << BigInt(shift);
      if (b < 0x80) {
        this.pos = pos;
        return BigInt.asUintN(64, result);
      }
    }
    this.pos = pos;
    return this.fail("varint longer than 10 bytes");
  }

  /** A zigzag-encoded sint32. */
  sint32(): number {
    const z = this.varint32() >>> 0;
    return (z >>> 1) ^ -(z & 1);
  }

  /** A zigzag-encoded sint64. */
  sint64(): bigint {
    const z = this.varint64();
    return (z >> 1n) ^ -(z & 1n);
  }

  /** Any varint other than 0 is true (all 64 bits count, as protobuf-es reads a bool). */
  bool(): boolean {
    const b = this.buf[this.pos];
    if (b !== undefined && b < 0x80) {
      this.pos++;
      return b !== 0;
    }
    return this.varint64() !== 0n;
  }

  /** The end of a length-delimited field whose length comes next. */
  delimitedEnd(limit: number): number {
    const n = this.varint32() >>> 0;
    const end = this.pos + n;
    if (end > limit) this.fail(`field of ${n} bytes past the end of its message`);
    return end;
  }

  string(limit: number): string {
    const end = this.delimitedEnd(limit);
    const buf = this.buf;
    const start = this.pos;
    this.pos = end;
    const n = end - start;
    if (n === 0) return "";
    if (n <= 32) {
      // Short ASCII (ids, pids, names, roles): char codes by hand, cheaper than a call into
      // native code (measured: ~100 against ~250 ns a string).
      const codes = new Array<number>(n);
      let i = 0;
      for (; i < n; i++) {
        const b = buf[start + i]!;
        if (b >= 0x80) break;
        codes[i] = b;
      }
      if (i === n) return String.fromCharCode.apply(null, codes);
    } else {
      let i = start;
      while (i < end && buf[i]! < 0x80) i++;
      // Longer ASCII is latin1 too: read natively, without TextDecoder.
      if (i === end) return this.text.toString("latin1", start, end);
    }
    return utf8.decode(buf.subarray(start, end));
  }

  bytes(limit: number): Uint8Array {
    const end = this.delimitedEnd(limit);
    const start = this.pos;
    this.pos = end;
    return end === start ? EMPTY_BYTES : this.buf.subarray(start, end);
  }

  fixed(n: 4 | 8, limit: number): number {
    const at = this.pos;
    if (at + n > limit) this.fail("truncated fixed-size field");
    this.pos = at + n;
    return at;
  }

  /** Skips a field's value; returns its bytes (what $unknown keeps). */
  skip(wire: number, limit: number, depth: number): Uint8Array {
    const start = this.pos;
    switch (wire) {
      case WireType.Varint:
        this.varint32();
        break;
      case WireType.Bit64:
        this.fixed(8, limit);
        break;
      case WireType.LengthDelimited:
        this.pos = this.delimitedEnd(limit);
        break;
      case WireType.Bit32:
        this.fixed(4, limit);
        break;
      case WireType.StartGroup: {
        if (depth >= MAX_DEPTH) this.fail("groups nested too deep");
        for (;;) {
          if (this.pos >= limit) this.fail("unterminated group");
          const tag = this.varint32() >>> 0;
          if ((tag & 7) === WireType.EndGroup) break;
          this.skip(tag & 7, limit, depth + 1);
        }
        break;
      }
      default:
        this.fail(`wire type ${wire}`);
    }
    if (this.pos > limit) this.fail("field past the end of its message");
    return this.buf.subarray(start, this.pos);
  }
}

type Reader = (r: WireInput, end: number, m: Record<string, unknown> | undefined, depth: number) => Record<string, unknown>;

const compiled = new Map<DescMessage, Reader>();
/** A compiled type's recursion wrapper (what `compiled` holds) → its generated function. */
const finished = new Map<Reader, Reader>();

/** Whether the type and every type it holds can be compiled. */
function compilable(desc: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (seen.has(desc)) return true;
  seen.add(desc);
  if (desc.file.edition !== EDITION_PROTO3 || desc.typeName.startsWith("google.protobuf.")) return false;
  for (const f of desc.fields) {
    if ((f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) && f.delimitedEncoding) return false;
    const sub = f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message") || (f.fieldKind === "map" && f.mapKind === "message") ? f.message : undefined;
    if (sub && !compilable(sub, seen)) return false;
    if (f.fieldKind === "enum" && !f.enum.open) return false;
  }
  return true;
}

const is64 = (t: ScalarType): boolean => t === ScalarType.INT64 || t === ScalarType.UINT64 || t === ScalarType.SINT64 || t === ScalarType.FIXED64 || t === ScalarType.SFIXED64;

/** JavaScript of one scalar value read from `r` (its tag read), as protobuf-es represents it. */
function scalarCode(t: ScalarType, longAsString: boolean): string {
  const long = (code: string): string => (longAsString ? `String(${code})` : code);
  switch (t) {
    case ScalarType.STRING:
      return "r.string(end)";
    case ScalarType.BYTES:
      return "r.bytes(end)";
    case ScalarType.BOOL:
      return "r.bool()";
    case ScalarType.INT32:
      return "(r.varint32() | 0)";
    case ScalarType.UINT32:
      return "(r.varint32() >>> 0)";
    case ScalarType.SINT32:
      return "r.sint32()";
    case ScalarType.INT64:
      return long("BigInt.asIntN(64, r.varint64())");
    case ScalarType.UINT64:
      return long("r.varint64()");
    case ScalarType.SINT64:
      return long("r.sint64()");
    case ScalarType.FIXED32:
      return "r.dv.getUint32(r.fixed(4, end), true)";
    case ScalarType.SFIXED32:
      return "r.dv.getInt32(r.fixed(4, end), true)";
    case ScalarType.FIXED64:
      return long("r.dv.getBigUint64(r.fixed(8, end), true)");
    case ScalarType.SFIXED64:
      return long("r.dv.getBigInt64(r.fixed(8, end), true)");
    case ScalarType.FLOAT:
      return "r.dv.getFloat32(r.fixed(4, end), true)";
    case ScalarType.DOUBLE:
      return "r.dv.getFloat64(r.fixed(8, end), true)";
  }
  throw new Error(`scalar type ${t}`);
}

function wireOf(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.DOUBLE:
      return WireType.Bit64;
    default:
      return WireType.Varint;
  }
}

/** JavaScript of a scalar's zero value, as create() sets it (`emptyBytes`: the expression of EMPTY_BYTES). */
function zeroCode(t: ScalarType, longAsString: boolean, emptyBytes: string): string {
  if (t === ScalarType.STRING) return '""';
  if (t === ScalarType.BOOL) return "false";
  if (t === ScalarType.BYTES) return emptyBytes;
  if (is64(t)) return longAsString ? '"0"' : "0n";
  return "0";
}

/**
 * The reader of one message type, made once: a literal of the zero message (its final
 * shape), then a switch on each tag. Recursive types resolve through the cache.
 */
function readerOf(desc: DescMessage, unread: ReadonlySet<string> = NOTHING_UNREAD): Reader {
  // A reader that leaves fields unread is made for its caller alone (nested types use the shared ones).
  const shared = unread.size === 0;
  const cached = shared ? compiled.get(desc) : undefined;
  if (cached) return cached;
  let impl: Reader = () => ({});
  const wrapper: Reader = (r, end, m, depth) => impl(r, end, m, depth);
  if (shared) compiled.set(desc, wrapper);
  const env: unknown[] = [];
  const use = (x: unknown): string => `e[${env.push(x) - 1}]`;
  const q = JSON.stringify;
  const emptyBytes = use(EMPTY_BYTES);
  const init: string[] = [`$typeName: ${q(desc.typeName)}`];
  const cases: string[] = [];
  /** The list fields read: each is replaced by its exact-length copy at the end (the note above WireInput). */
  const lists: string[] = [];
  const caseOf = (tag: number, body: string): void => void cases.push(`case ${tag}: { ${body} continue; }`);
  const nested = (f: DescField & { message: DescMessage }): string => use(readerOf(f.message));
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      init.push(`${q(member.localName)}: { case: undefined }`);
      for (const f of member.fields) {
        const o = `m[${q(member.localName)}]`;
        if (f.fieldKind === "message") {
          caseOf((f.number << 3) | WireType.LengthDelimited, `const s = ${o}; const sub = r.delimitedEnd(end); ${o} = { case: ${q(f.localName)}, value: ${nested(f)}(r, sub, s.case === ${q(f.localName)} ? s.value : undefined, depth + 1) };`);
        } else if (f.fieldKind === "enum") {
          caseOf((f.number << 3) | WireType.Varint, `${o} = { case: ${q(f.localName)}, value: r.varint32() | 0 };`);
        } else if (f.fieldKind === "scalar") {
          caseOf((f.number << 3) | wireOf(f.scalar), `${o} = { case: ${q(f.localName)}, value: ${scalarCode(f.scalar, f.longAsString)} };`);
        }
      }
      continue;
    }
    const f = member;
    const p = `m[${q(f.localName)}]`;
    if (unread.has(f.localName)) {
      // Left at its zero value: its bytes are checked and skipped whatever wire type they come in.
      // (The zero values the cases below give: a message or an explicit-presence field is absent.)
      if (f.fieldKind === "list") init.push(`${q(f.localName)}: []`);
      else if (f.fieldKind === "map") init.push(`${q(f.localName)}: {}`);
      else if (f.fieldKind === "enum" && f.presence === IMPLICIT) init.push(`${q(f.localName)}: 0`);
      else if (f.fieldKind === "scalar" && f.presence === IMPLICIT) init.push(`${q(f.localName)}: ${zeroCode(f.scalar, f.longAsString, emptyBytes)}`);
      for (const wire of [WireType.Varint, WireType.Bit64, WireType.LengthDelimited, WireType.Bit32]) caseOf((f.number << 3) | wire, `r.skip(${wire}, end, depth);`);
      continue;
    }
    switch (f.fieldKind) {
      case "message":
        caseOf((f.number << 3) | WireType.LengthDelimited, `const sub = r.delimitedEnd(end); ${p} = ${nested(f)}(r, sub, ${p}, depth + 1);`);
        break;
      case "enum":
        if (f.presence === IMPLICIT) init.push(`${q(f.localName)}: 0`);
        caseOf((f.number << 3) | WireType.Varint, `${p} = r.varint32() | 0;`);
        break;
      case "scalar":
        if (f.presence === IMPLICIT) init.push(`${q(f.localName)}: ${zeroCode(f.scalar, f.longAsString, emptyBytes)}`);
        caseOf((f.number << 3) | wireOf(f.scalar), `${p} = ${scalarCode(f.scalar, f.longAsString)};`);
        break;
      case "list": {
        init.push(`${q(f.localName)}: []`);
        lists.push(p);
        if (f.listKind === "message") {
          caseOf((f.number << 3) | WireType.LengthDelimited, `const sub = r.delimitedEnd(end); ${p}.push(${nested(f)}(r, sub, undefined, depth + 1));`);
          break;
        }
        const t = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
        const value = scalarCode(t, f.listKind === "scalar" && f.longAsString);
        const wire = wireOf(t);
        caseOf((f.number << 3) | wire, `${p}.push(${value});`);
        // Packed (any repeated number may come either way).
        if (wire !== WireType.LengthDelimited) caseOf((f.number << 3) | WireType.LengthDelimited, `const list = ${p}; const all = r.delimitedEnd(end); { const end = all; while (r.pos < end) list.push(${value}); } if (r.pos !== all) r.fail("packed list runs past its length");`);
        break;
      }
      case "map": {
        init.push(`${q(f.localName)}: {}`);
        const keyWire = wireOf(f.mapKey);
        const keyZero = f.mapKey === ScalarType.BOOL ? '"false"' : f.mapKey === ScalarType.STRING ? '""' : '"0"';
        let valueCase: string;
        let valueZero: string;
        if (f.mapKind === "message") {
          valueCase = `case ${(2 << 3) | WireType.LengthDelimited}: { const sub = r.delimitedEnd(end); v = ${nested(f)}(r, sub, v, depth + 1); continue; }`;
          valueZero = `${nested(f)}(r, r.pos, undefined, depth + 1)`;
        } else if (f.mapKind === "enum") {
          valueCase = `case ${(2 << 3) | WireType.Varint}: v = r.varint32() | 0; continue;`;
          valueZero = "0";
        } else {
          valueCase = `case ${(2 << 3) | wireOf(f.scalar)}: v = ${scalarCode(f.scalar, false)}; continue;`;
          valueZero = zeroCode(f.scalar, false, emptyBytes);
        }
        caseOf(
          (f.number << 3) | WireType.LengthDelimited,
          `const entryEnd = r.delimitedEnd(end); let k; let v; { const end = entryEnd; while (r.pos < end) { const t = r.varint32() >>> 0; switch (t) { case ${(1 << 3) | keyWire}: k = String(${scalarCode(f.mapKey, false)}); continue; ${valueCase} default: if (t >>> 3 === 0) r.fail("field number 0"); r.skip(t & 7, end, depth); } } }` +
            ` if (k === undefined) k = ${keyZero}; if (v === undefined) v = ${valueZero}; const map = ${p}; if (k === "__proto__") Object.defineProperty(map, k, { value: v, enumerable: true, writable: true, configurable: true }); else map[k] = v;`,
        );
        break;
      }
    }
  }
  const body =
    `"use strict"; return function read(r, end, m, depth) {` +
    ` if (depth > ${MAX_DEPTH}) r.fail("messages nested deeper than ${MAX_DEPTH}");` +
    ` if (m === undefined) m = { ${init.join(", ")} };` +
    ` let unknown;` +
    ` while (r.pos < end) { const tag = r.varint32() >>> 0; switch (tag) { ${cases.join("\n")} }` +
    ` const no = tag >>> 3; if (no === 0) r.fail("field number 0");` +
    ` const data = r.skip(tag & 7, end, depth); (unknown ??= m.$unknown ?? []).push({ no, wireType: tag & 7, data }); }` +
    ` if (r.pos !== end) r.fail("message runs past its length");` +
    ` if (unknown !== undefined && unknown.length > 0) m.$unknown = unknown;` +
    lists.map((p) => ` if (${p}.length > 0) ${p} = ${p}.slice();`).join("") +
    ` return m; };`;
  // Nested readers finished by now are called directly, not through their recursion wrapper.
  for (let i = 0; i < env.length; i++) env[i] = finished.get(env[i] as Reader) ?? env[i];
  impl = new Function("e", body)(env) as Reader;
  if (!shared) return impl;
  finished.set(wrapper, impl);
  return wrapper;
}

const NOTHING_UNREAD: ReadonlySet<string> = new Set();

/** What a reader may leave out. */
export interface ReaderOptions<Desc extends DescMessage> {
  /**
   * Fields (by localName, not in a oneof) whose bytes are skipped, the field left at its zero
   * value: for a receiver that never reads them (the master and ReregisterAgent.frameworks).
   */
  unread?: ReadonlyArray<keyof MessageShape<Desc> & string>;
}

/**
 * A decoder for one type (hot paths keep it): the message fromBinary would give (with
 * `options.unread`, but for those fields, left at their zero values).
 */
export function messageReader<Desc extends DescMessage>(desc: Desc, options: ReaderOptions<Desc> = {}): (bytes: Uint8Array) => MessageShape<Desc> {
  const unread = new Set<string>(options.unread ?? []);
  for (const name of unread) {
    const field = desc.fields.find((f) => f.localName === name);
    if (!field || field.oneof) throw new Error(`${desc.typeName} has no field '${name}' outside a oneof to leave unread`);
  }
  if (!compilable(desc)) {
    if (unread.size === 0) return (bytes) => fromBinary(desc, bytes);
    throw new Error(`${desc.typeName} cannot be read by a generated reader, so no field can be left unread`);
  }
  const wrapper = readerOf(desc, unread);
  const read = finished.get(wrapper) ?? wrapper;
  return (bytes) => {
    const r = new WireInput(bytes);
    return read(r, bytes.length, undefined, 0) as MessageShape<Desc>;
  };
}
