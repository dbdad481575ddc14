import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ByteBuffer, messageWriter } from "./binary-writer.js";
import { messageReader } from "./binary-reader.js";

/**
 * One protobuf type's encoder and decoder through the generated codecs (binary-writer.ts,
 * binary-reader.ts): the bytes toBinary gives and the message fromBinary gives, without
 * walking reflection per message. For the hot paths outside an actor system's TypeRegistry
 * (which uses the same writers): Raft entries applied on every member, the WAL's records,
 * the messages of the gRPC services.
 */

/** Scratch every encoder (and TypeRegistry.encode) writes into; each message is then copied out at its size. */
let scratch = new ByteBuffer(4096);
const MAX_KEPT_SCRATCH = 1 << 20;

/**
 * Small encodings are copied out into views of a shared 8 KiB block, as Node's Buffer pool
 * does: a slice() per message allocated an ArrayBuffer of its own (1.8-3.5 us each at load,
 * and external memory for the GC to track), for every AgentReregistered, ping and answer a
 * new leader sends. A view pins its block while a frame queue holds it, as a pooled Buffer does.
 */
const POOL_BYTES = 8192;
const POOLED_MAX = 1024;
let pool = new ArrayBuffer(POOL_BYTES);
let poolUsed = 0;

function copyOut(from: Uint8Array, n: number): Uint8Array {
  if (n > POOLED_MAX) return from.slice(0, n);
  if (poolUsed + n > POOL_BYTES) {
    pool = new ArrayBuffer(POOL_BYTES);
    poolUsed = 0;
  }
  const out = new Uint8Array(pool, poolUsed, n);
  if (n > 32) out.set(from.subarray(0, n));
  else for (let i = 0; i < n; i++) out[i] = from[i]!;
  poolUsed += (n + 7) & ~7;
  return out;
}

/**
 * Encodes `message` with `write` (a messageWriter of `schema`): a copy of the bytes of its
 * own (small ones a view of a shared block, copyOut).
 * When the writer throws (a message that does not fit its schema), toBinary encodes it,
 * or throws the error that says what is wrong.
 */
export function encodeWith<Desc extends DescMessage>(schema: Desc, write: (out: ByteBuffer, message: MessageShape<Desc>) => void, message: MessageShape<Desc>): Uint8Array {
  scratch.pos = 0;
  try {
    write(scratch, message);
  } catch {
    return toBinary(schema, message);
  }
  const bytes = copyOut(scratch.buf, scratch.pos);
  if (scratch.buf.length > MAX_KEPT_SCRATCH) scratch = new ByteBuffer(4096); // a big message's room is not kept
  return bytes;
}

/** toBinary for one type, through its generated writer (made at the first message). */
export function protoEncoder<Desc extends DescMessage>(schema: Desc): (message: MessageShape<Desc>) => Uint8Array {
  let write: ((out: ByteBuffer, message: MessageShape<Desc>) => void) | undefined;
  return (message) => encodeWith(schema, (write ??= messageWriter(schema)), message);
}

/**
 * fromBinary for one type, through its generated reader (made at the first message; bytes
 * fields are views into the input, as fromBinary's).
 */
export function protoDecoder<Desc extends DescMessage>(schema: Desc): (bytes: Uint8Array) => MessageShape<Desc> {
  let read: ((bytes: Uint8Array) => MessageShape<Desc>) | undefined;
  return (bytes) => (read ??= messageReader(schema))(bytes);
}
