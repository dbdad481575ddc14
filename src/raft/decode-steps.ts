import { create, mergeFromBinary, type DescField, type DescMessage, type Message, type MessageShape } from "@bufbuild/protobuf";
import { WireReader } from "../runtime/frame-codec.js";

/**
 * Decoding a large protobuf message a bounded step at a time (the reverse of
 * snapshot-pieces.ts), so that restoring a snapshot does not hold up a member's event loop
 * for time proportional to the state. Concatenated protobuf encodings merge (repeated
 * fields append, the last singular value wins), so the message's fields are read in runs
 * of about `chunkBytes` and each run is merged into the result (mergeFromBinary); a
 * message-typed field longer than a run is itself decoded so, a run at a time. The result
 * is what fromBinary returns for the whole.
 */
export type DecodeSteps<T> = Generator<void, T, void>;

/** Bytes of fields merged per step: ~0.5-1 ms of decoding. */
export const DEFAULT_DECODE_CHUNK_BYTES = 64 * 1024;

export function* decodeInSteps<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, chunkBytes = DEFAULT_DECODE_CHUNK_BYTES): DecodeSteps<MessageShape<Desc>> {
  const target = create(schema);
  yield* mergeInSteps(schema, target, bytes, chunkBytes);
  return target;
}

function* mergeInSteps(schema: DescMessage, target: Message, bytes: Uint8Array, chunkBytes: number): DecodeSteps<void> {
  const r = WireReader.of(bytes);
  let runStart = 0;
  const flush = (end: number): void => {
    if (end > runStart) mergeFromBinary(schema, target, bytes.subarray(runStart, end));
    runStart = end;
  };
  while (!r.done()) {
    const fieldStart = r.pos;
    const [number, wire] = r.tag();
    if (wire !== 2) r.skip(wire);
    else {
      const [start, end] = r.lengthDelimited();
      const field = end - start > chunkBytes ? schema.fields.find((f) => f.number === number) : undefined;
      if (field && isMessageField(field)) {
        flush(fieldStart);
        yield;
        place(field, target, yield* mergedValue(field, target, bytes.subarray(start, end), chunkBytes));
        runStart = end;
        yield;
        continue;
      }
    }
    if (r.pos - runStart >= chunkBytes) {
      flush(r.pos);
      yield;
    }
  }
  flush(r.pos);
}

/** A field holding one message per occurrence (singular, in a oneof, or repeated; not a map). */
function isMessageField(f: DescField): boolean {
  return (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) && f.message !== undefined;
}

/** Decodes one occurrence of a message field in steps: a new element, or merged into the singular value already set. */
function* mergedValue(field: DescField, target: Message, bytes: Uint8Array, chunkBytes: number): DecodeSteps<Message> {
  const schema = field.message!;
  const t = target as unknown as Record<string, unknown>;
  let value: Message | undefined;
  if (field.fieldKind === "message") {
    if (field.oneof) {
      const o = t[field.oneof.localName] as { case?: string; value?: Message } | undefined;
      if (o?.case === field.localName) value = o.value;
    } else {
      value = t[field.localName] as Message | undefined;
    }
  }
  value ??= create(schema);
  yield* mergeInSteps(schema, value, bytes, chunkBytes);
  return value;
}

function place(field: DescField, target: Message, value: Message): void {
  const t = target as unknown as Record<string, unknown>;
  if (field.fieldKind === "list") (t[field.localName] as Message[]).push(value);
  else if (field.oneof) t[field.oneof.localName] = { case: field.localName, value };
  else t[field.localName] = value;
}

/** Runs steps to the end at once (for callers that need the result now). */
export function runSteps<T>(steps: DecodeSteps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
