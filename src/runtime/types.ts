import { fromBinary, toBinary, type DescFile, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Code, DcosError } from "./error.js";

/**
 * The protobuf types an actor system can encode and decode, by fully qualified name.
 * Handlers register their schema on install; types that are only sent are registered
 * with `add` or `addFile`.
 */
export class TypeRegistry {
  private readonly schemas = new Map<string, DescMessage>();

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
    return toBinary(schema, message);
  }

  decode(schema: DescMessage, bytes: Uint8Array): Message {
    return fromBinary(schema, bytes);
  }
}
