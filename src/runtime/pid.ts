import { Code, DcosError } from "./error.js";

/**
 * The address of an actor: `name@address`, where address names the node (for gRPC it is
 * `host:port`; other transports use their own node names). A value type: compare with
 * `equals`, never with `===`.
 */
export class Pid {
  readonly name: string;
  readonly address: string;
  private readonly text: string;

  constructor(name: string, address: string) {
    if (!name || name.includes("@")) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid actor name '${name}': must be non-empty without '@'`);
    }
    if (!address || address.includes("@")) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid node address '${address}': must be non-empty without '@'`);
    }
    this.name = name;
    this.address = address;
    this.text = `${name}@${address}`;
  }

  /** Parses `name@address`; throws INVALID_ARGUMENT on anything else. */
  static parse(text: string): Pid {
    const at = text.indexOf("@");
    if (at <= 0 || at === text.length - 1 || text.indexOf("@", at + 1) !== -1) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid pid '${text}': expected name@address`);
    }
    return new Pid(text.slice(0, at), text.slice(at + 1));
  }

  /** Like parse, but returns undefined instead of throwing. */
  static tryParse(text: string): Pid | undefined {
    try {
      return Pid.parse(text);
    } catch {
      return undefined;
    }
  }

  equals(other: Pid | undefined | null): boolean {
    return other != null && other.text === this.text;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}
