/**
 * Forwards a question outside our domain to the upstream resolvers (`--resolvers`), over
 * UDP, one after the other until one answers within the timeout. The client's packet is
 * sent as it came and the resolver's answer returned as it came (same id).
 */
import { createSocket } from "node:dgram";
import { isIP } from "node:net";

export interface Resolver {
  host: string;
  port: number;
}

/** `10.0.0.2`, `10.0.0.2:53`, `[::1]:5300`; throws with the bad entry. */
export function parseResolver(text: string): Resolver {
  const t = text.trim();
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(t);
  const plain = /^([^:]+)(?::(\d+))?$/.exec(t);
  const host = bracketed?.[1] ?? (isIP(t) === 6 ? t : plain?.[1]);
  const port = Number((bracketed ?? (isIP(t) === 6 ? undefined : plain))?.[2] ?? 53);
  if (!host || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`Invalid resolver '${text}': expected an IP address with an optional port, e.g. 10.0.0.2 or 10.0.0.2:53`);
  }
  return { host, port };
}

export class Forwarder {
  private readonly resolvers: Resolver[];
  private closed = false;

  constructor(
    resolvers: readonly string[],
    private readonly timeoutMs = 2000,
  ) {
    this.resolvers = resolvers.map(parseResolver);
  }

  close(): void {
    this.closed = true;
  }

  async forward(packet: Buffer, id: number): Promise<Buffer> {
    let last: unknown;
    for (const r of this.resolvers) {
      if (this.closed) break;
      try {
        return await this.ask(r, packet, id);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error("no resolver answered");
  }

  private ask(r: Resolver, packet: Buffer, id: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(isIP(r.host) === 6 ? "udp6" : "udp4");
      const done = (err: Error | undefined, answer?: Buffer): void => {
        clearTimeout(timer);
        socket.close();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(() => done(new Error(`resolver ${r.host}:${r.port} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      socket.on("error", (err) => done(err));
      socket.on("message", (msg) => {
        if (msg.length >= 2 && msg.readUInt16BE(0) === id) done(undefined, msg);
      });
      socket.send(packet, r.port, r.host);
    });
  }
}
