import { create } from "@bufbuild/protobuf";
import {
  FrameworkLogResultSchema,
  FrameworkLogStateSchema,
  LogNameSchema,
  LogRecordSchema,
  type FrameworkLogCommand,
  type FrameworkLogResult,
  type FrameworkLogState,
  type LogName,
  type LogRecord,
} from "../gen/dcos/v1/replicated_log_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import { protoDecoder, protoEncoder } from "../runtime/proto-codec.js";
import { tag, varintFieldSize, varintSize, writeBytesField, writeVarint, writeVarintField } from "./proto-writer.js";
import { NO_BYTES, joinPieces } from "./snapshot-pieces.js";
import type { SnapshotPieces } from "./state-machine.js";

/**
 * An applied command's answer as an entry's result and back (every member encodes one per
 * applied entry), through the generated codecs: the bytes toBinary and the message
 * fromBinary give.
 */
export const encodeLogResult = protoEncoder(FrameworkLogResultSchema);
export const decodeLogResult = protoDecoder(FrameworkLogResultSchema);

/** One framework's log: records from `begin`, and a small value with a version. */
interface FrameworkLog {
  name: LogName;
  begin: number;
  records: Uint8Array[];
  value: Uint8Array;
  version: number;
}

/** Positions [begin, end) of a log. */
export interface LogBounds {
  begin: number;
  end: number;
}

/** "principal/name" for messages; the map key cannot be confused across principals. */
export function logLabel(name: LogName | undefined): string {
  return `${name?.principal ?? ""}/${name?.name ?? ""}`;
}

/** INVALID_ARGUMENT unless the log is named. */
export function checkLogName(name: LogName | undefined): LogName {
  if (!name || name.name === "") throw new DcosError(Code.INVALID_ARGUMENT, "The request names no log (log.name is empty)");
  return name;
}

const keyOf = (name: LogName) => `${name.principal.length}:${name.principal}/${name.name}`;

/** Bytes of records and values one principal's logs may hold together (the same on every master: apply must be deterministic). */
export const MAX_LOG_BYTES_PER_PRINCIPAL = 64 * 1024 * 1024;

function bytesOf(log: FrameworkLog): number {
  let n = log.value.byteLength;
  for (const r of log.records) n += r.byteLength;
  return n;
}

/**
 * The frameworks' replicated logs as a deterministic part of a Raft state machine (the
 * masters' registry applies FrameworkLogCommands here and keeps the logs in its
 * snapshot). A log comes into existence with its first append or value.
 */
export class FrameworkLogs {
  private readonly logs = new Map<string, FrameworkLog>();
  /** Bytes held per principal (records and values of all its logs). */
  private readonly usage = new Map<string, number>();

  constructor(readonly maxBytesPerPrincipal = MAX_LOG_BYTES_PER_PRINCIPAL) {}

  /** Bytes the logs of `principal` hold. */
  bytesOf(principal: string): number {
    return this.usage.get(principal) ?? 0;
  }

  private account(principal: string, delta: number): void {
    this.usage.set(principal, this.bytesOf(principal) + delta);
  }

  /** RESOURCE_EXHAUSTED when `principal` would hold more than its limit after adding `adding` bytes. */
  private checkRoom(name: LogName, adding: number): void {
    const held = this.bytesOf(name.principal);
    if (held + adding > this.maxBytesPerPrincipal) {
      throw new DcosError(
        Code.RESOURCE_EXHAUSTED,
        `Log ${logLabel(name)}: principal '${name.principal}' holds ${held} bytes in its logs; ${adding} more would exceed its limit of ${this.maxBytesPerPrincipal} (truncate first)`,
      );
    }
  }

  get size(): number {
    return this.logs.size;
  }

  apply(cmd: FrameworkLogCommand): FrameworkLogResult {
    const name = checkLogName(cmd.log);
    const c = cmd.command;
    switch (c.case) {
      case "append": {
        this.checkVersion(name, c.value.expectedVersion, "append to");
        const adding = c.value.entries.reduce((n, e) => n + e.byteLength, 0);
        this.checkRoom(name, adding);
        const log = this.getOrCreate(name);
        const first = log.begin + log.records.length;
        for (const e of c.value.entries) log.records.push(e.slice());
        this.account(name.principal, adding);
        return create(FrameworkLogResultSchema, { positions: c.value.entries.map((_, i) => BigInt(first + i)), begin: BigInt(log.begin) });
      }
      case "truncate": {
        this.checkVersion(name, c.value.expectedVersion, "truncate");
        const log = this.get(name);
        const before = Number(c.value.before);
        const end = log.begin + log.records.length;
        if (before > end) {
          throw new DcosError(Code.OUT_OF_RANGE, `Cannot truncate log ${logLabel(name)} before position ${before}: it ends at ${end}`);
        }
        if (before > log.begin) {
          let freed = 0;
          for (const r of log.records.slice(0, before - log.begin)) freed += r.byteLength;
          this.account(name.principal, -freed);
          log.records = log.records.slice(before - log.begin);
          log.begin = before;
        }
        return create(FrameworkLogResultSchema, { begin: BigInt(log.begin) });
      }
      case "compareAndSet": {
        const current = this.checkVersion(name, c.value.expectedVersion, "set the value of");
        const old = this.logs.get(keyOf(name))?.value.byteLength ?? 0;
        this.checkRoom(name, c.value.value.byteLength - old);
        const log = this.getOrCreate(name);
        log.value = c.value.value.slice();
        this.account(name.principal, log.value.byteLength - old);
        log.version = current + 1;
        return create(FrameworkLogResultSchema, { version: BigInt(log.version) });
      }
      case undefined:
        throw new DcosError(Code.INVALID_ARGUMENT, `Framework log command for ${logLabel(name)} is empty`);
    }
  }

  /** Records at positions [from, to) that exist (to = 0: to the end). */
  read(name: LogName, from: number, to: number): { records: LogRecord[] } & LogBounds {
    const log = this.get(name);
    const end = log.begin + log.records.length;
    if (from < log.begin) {
      throw new DcosError(Code.OUT_OF_RANGE, `Position ${from} of log ${logLabel(name)} was truncated: the log begins at ${log.begin}`, {
        details: { begin: String(log.begin) },
      });
    }
    if (from > end) {
      throw new DcosError(Code.OUT_OF_RANGE, `Position ${from} of log ${logLabel(name)} is past its end ${end}`, { details: { end: String(end) } });
    }
    if (to !== 0 && to < from) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid range [${from}, ${to}) of log ${logLabel(name)}: to < from`);
    const upTo = to === 0 ? end : to;
    const records: LogRecord[] = [];
    for (let p = from; p < Math.min(upTo, end); p++) records.push(create(LogRecordSchema, { position: BigInt(p), data: log.records[p - log.begin]! }));
    return { records, begin: log.begin, end };
  }

  value(name: LogName): { value: Uint8Array; version: number } {
    const log = this.get(name);
    return { value: log.value, version: log.version };
  }

  toProto(): FrameworkLogState[] {
    return [...this.logs.values()].map((l) =>
      create(FrameworkLogStateSchema, { log: l.name, begin: BigInt(l.begin), records: l.records, value: l.value, version: BigInt(l.version) }),
    );
  }

  /**
   * The logs as an encoded RegistrySnapshot holding only framework_logs (field 10): the
   * bytes toBinary gives for `{ frameworkLogs: toProto() }`, written by hand (the
   * reflective encoder spends microseconds per record). See snapshotPieces.
   */
  encodeSnapshot(): Uint8Array {
    return joinPieces(this.snapshotPieces());
  }

  /**
   * encodeSnapshot's bytes in pieces of at most RECORDS_PER_PIECE records, from a view of
   * the logs as of now that costs one small object per log: apply only pushes records
   * onto a log's array (the view keeps the count) or replaces the array or value, so the
   * view's records stay as they were while the pieces are drawn.
   */
  snapshotPieces(): SnapshotPieces {
    const view: LogView[] = [];
    for (const l of this.logs.values()) view.push({ name: l.name, begin: l.begin, records: l.records, count: l.records.length, value: l.value, version: l.version });
    return encodeLogs(view);
  }

  restore(states: readonly FrameworkLogState[]): void {
    this.logs.clear();
    this.usage.clear();
    for (const s of states) {
      const name = checkLogName(s.log);
      const log = { name, begin: Number(s.begin), records: [...s.records], value: s.value, version: Number(s.version) };
      this.logs.set(keyOf(name), log);
      this.account(name.principal, bytesOf(log));
    }
  }

  /**
   * The value's version; FAILED_PRECONDITION unless it is `expected` (undefined: any).
   * Conditional appends and truncations let a writer that took over (set the value) fence
   * out earlier writers.
   */
  private checkVersion(name: LogName, expected: bigint | undefined, what: string): number {
    const current = this.logs.get(keyOf(name))?.version ?? 0;
    if (expected !== undefined && Number(expected) !== current) {
      throw new DcosError(
        Code.FAILED_PRECONDITION,
        `Version mismatch on log ${logLabel(name)}: cannot ${what} it at expected version ${expected}, the value is at version ${current}`,
        { details: { version: String(current) } },
      );
    }
    return current;
  }

  private get(name: LogName): FrameworkLog {
    const log = this.logs.get(keyOf(checkLogName(name)));
    if (!log) throw new DcosError(Code.NOT_FOUND, `No replicated log ${logLabel(name)}: nothing was appended to it or set`);
    return log;
  }

  private getOrCreate(name: LogName): FrameworkLog {
    const key = keyOf(name);
    let log = this.logs.get(key);
    if (!log) {
      log = { name: create(LogNameSchema, { principal: name.principal, name: name.name }), begin: 0, records: [], value: new Uint8Array(0), version: 0 };
      this.logs.set(key, log);
    }
    return log;
  }
}

/** One log as a snapshot captured it: its first `count` records are the captured ones. */
interface LogView {
  name: LogName;
  begin: number;
  records: readonly Uint8Array[];
  count: number;
  value: Uint8Array;
  version: number;
}

/** Records written per snapshot piece (and sized per step before a log's header). */
export const RECORDS_PER_PIECE = 1024;

/** RegistrySnapshot.framework_logs (field 10), one FrameworkLogState per log, in pieces. */
function* encodeLogs(view: readonly LogView[]): SnapshotPieces {
  const text = new TextEncoder();
  for (const l of view) {
    const principal = text.encode(l.name.principal);
    const name = text.encode(l.name.name);
    const nameSize = lengthDelimitedSize(principal.length, false) + lengthDelimitedSize(name.length, false);
    let size = 1 + varintSize(nameSize) + nameSize + varintFieldSize(l.begin) + varintFieldSize(l.version) + lengthDelimitedSize(l.value.length, false);
    for (let i = 0; i < l.count; i += RECORDS_PER_PIECE) {
      for (let j = i; j < Math.min(l.count, i + RECORDS_PER_PIECE); j++) size += lengthDelimitedSize(l.records[j]!.length, true);
      if (l.count > RECORDS_PER_PIECE) yield NO_BYTES;
    }
    const head = new Uint8Array(1 + varintSize(size) + 1 + varintSize(nameSize) + nameSize + varintFieldSize(l.begin));
    let pos = 0;
    head[pos++] = tag.bytes(10);
    pos = writeVarint(head, pos, size);
    head[pos++] = tag.bytes(1); // LogName, present even when empty
    pos = writeVarint(head, pos, nameSize);
    pos = writeBytesField(head, pos, tag.bytes(1), principal);
    pos = writeBytesField(head, pos, tag.bytes(2), name);
    writeVarintField(head, pos, tag.varint(2), l.begin);
    yield head;
    for (let i = 0; i < l.count; i += RECORDS_PER_PIECE) {
      const to = Math.min(l.count, i + RECORDS_PER_PIECE);
      let bytes = 0;
      for (let j = i; j < to; j++) bytes += lengthDelimitedSize(l.records[j]!.length, true);
      const out = new Uint8Array(bytes);
      let at = 0;
      for (let j = i; j < to; j++) {
        const r = l.records[j]!;
        out[at++] = tag.bytes(3); // a repeated element is written even when empty
        at = writeVarint(out, at, r.length);
        out.set(r, at);
        at += r.length;
      }
      yield out;
    }
    const tail = new Uint8Array(lengthDelimitedSize(l.value.length, false) + varintFieldSize(l.version));
    writeVarintField(tail, writeBytesField(tail, 0, tag.bytes(4), l.value), tag.varint(5), l.version);
    yield tail;
  }
}

/** Bytes of a length-delimited field with a one-byte tag holding `length` bytes (0 when empty, unless `always`). */
function lengthDelimitedSize(length: number, always: boolean): number {
  return length === 0 && !always ? 0 : 1 + varintSize(length) + length;
}
