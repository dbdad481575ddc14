/**
 * NATS subjects of the actor transport. A node address becomes one subject token: the
 * characters NATS gives meaning to ('.', '*', '>') and '%' are %-escaped, so any address
 * without whitespace maps to a token and back.
 */
const SPECIAL = /[%.*>]/g;

export function addressToken(address: string): string {
  return address.replace(SPECIAL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

export function tokenAddress(token: string): string {
  return token.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export class NatsSubjects {
  constructor(readonly root: string) {}

  /** Where `from` publishes frames for `to`. */
  frames(to: string, from: string): string {
    return `${this.root}.${addressToken(to)}.frames.${addressToken(from)}`;
  }

  /** What node `self` subscribes to for its frames (one token per sender). */
  framesInbox(self: string): string {
    return `${this.root}.${addressToken(self)}.frames.*`;
  }

  /** The sender of a frame, read back from the subject it came on. */
  sender(subject: string): string {
    return tokenAddress(subject.slice(subject.lastIndexOf(".") + 1));
  }

  /** Liveness probes for `node` (request/reply). */
  probe(node: string): string {
    return `${this.root}.${addressToken(node)}.probe`;
  }
}
