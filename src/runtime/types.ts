import type { DescFile, DescMessage, Message } from "@bufbuild/protobuf";
import { Code, DcosError } from "./error.js";
import { messageWriter, type ByteBuffer } from "./binary-writer.js";
import { messageReader } from "./binary-reader.js";
import { encodeWith } from "./proto-codec.js";

/**
 * The protobuf types an actor system can encode and decode, by fully qualified name.
 * Handlers register their schema on install; types that are only sent are registered
 * with `add` or `addFile`.
 */
export class TypeRegistry {
  private readonly schemas = new Map<string, DescMessage>();
  /** Writers by type name (binary-writer.ts), made at a type's first encode. */
  private readonly writers = new Map<string, (out: ByteBuffer, message: Message) => void>();
  /** Readers by schema (binary-reader.ts), made at a type's first decode. */
  private readonly readers = new Map<DescMessage, (bytes: Uint8Array) => Message>();

  add(...schemas: DescMessage[]): this {
    for (const s of schemas) this.schemas.set(s.typeName, s);
    return this;
  }

  /** Registers every message (and nested message) of the given files. */
  addFile(...files: DescFile[]): this {
    const visit = (m: DescMessage): void => {
      this.schemas.set(m.typeName, m);
      for (const n of m.nestedMessages) visit(n);
    };
    for (const f of files) for (const m of f.messages) visit(m);
    return this;
  }

  get(typeName: string): DescMessage | undefined {
    return this.schemas.get(typeName);
  }

  has(typeName: string): boolean {
    return this.schemas.has(typeName);
  }

  /** Encodes a message; INTERNAL if its type was never registered (a programming error). */
  encode(message: Message): Uint8Array {
    const schema = this.schemas.get(message.$typeName);
    if (!schema) {
      throw new DcosError(Code.INTERNAL, `Cannot encode ${message.$typeName}: type not registered with the actor system`);
    }
    let write = this.writers.get(message.$typeName);
    if (!write) this.writers.set(message.$typeName, (write = messageWriter(schema) as (out: ByteBuffer, message: Message) => void));
    // The bytes toBinary gives, without walking reflection per message: toBinary was 60% of
    // what a new leader spent sending 10,000 agents their AgentReregistered and first ping.
    return encodeWith(schema, write, message);
  }

  /**
   * Decodes a message: what fromBinary gives, read by a generated reader (binary-reader.ts:
   * fromBinary was 40 us of a new leader's ~400 us per reregistering agent with 5 tasks).
   */
  decode(schema: DescMessage, bytes: Uint8Array): Message {
    let read = this.readers.get(schema);
    if (!read) this.readers.set(schema, (read = messageReader(schema)));
    return read(bytes);
  }
}
