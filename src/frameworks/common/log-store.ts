/**
 * What the framework kit needs of dcos.v1.ReplicatedLogService: the methods of
 * ReplicatedLogClient (src/raft/log-client.ts), so tests can put the masters' own
 * FrameworkLogs state machine behind the same interface.
 */
import type { LogRecord } from "../../gen/dcos/v1/replicated_log_pb.js";
import { Code, DcosError } from "../../runtime/error.js";

export interface LogStore {
  append(log: string, entries: readonly Uint8Array[], expectedVersion?: number): Promise<number[]>;
  read(log: string, from: number, to?: number): Promise<{ records: LogRecord[]; begin: number; end: number }>;
  truncate(log: string, before: number, expectedVersion?: number): Promise<number>;
  getValue(log: string): Promise<{ value: Uint8Array; version: number }>;
  compareAndSet(log: string, value: Uint8Array, expectedVersion: number): Promise<number>;
}

/** The value and version of a log, or an empty value at version 0 if the log does not exist yet. */
export async function valueOrEmpty(store: LogStore, log: string): Promise<{ value: Uint8Array; version: number }> {
  try {
    return await store.getValue(log);
  } catch (err) {
    if (DcosError.is(err, Code.NOT_FOUND)) return { value: new Uint8Array(0), version: 0 };
    throw err;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeJson = (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v));

/** Parses a JSON record; undefined for an empty value. Throws DATA_LOSS on garbage. */
export function decodeJson<T>(bytes: Uint8Array, what: string): T | undefined {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (err) {
    throw new DcosError(Code.DATA_LOSS, `Cannot parse ${what}: not JSON`, { cause: err });
  }
}
