/**
 * The DNS server: UDP and TCP on one port, packets encoded and decoded by the dns-packet
 * library. Names of our domain are answered from DnsRecords (authoritative; NXDOMAIN for
 * a name we do not have); other names are forwarded to `resolvers` when given, else
 * REFUSED. A packet that does not decode, is a response, or asks nothing is dropped and
 * counted; nothing a client sends can stop the server.
 *
 * Answers from our records are kept, encoded, keyed by the query's bytes after its id:
 * the same question (same name spelling, flags, EDNS) gets the same bytes with the new
 * id written in, without decoding or encoding again, until the records change.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import * as dnsPacket from "dns-packet";
import { Metrics, type Counter } from "../../metrics/metrics.js";
import type { Logger } from "../../runtime/log.js";
import type { DnsRecords } from "./records.js";
import { Forwarder } from "./forwarder.js";

export interface DnsServerOptions {
  host: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  records: DnsRecords;
  /** Upstream resolvers (host or host:port) for names outside the domain; none: REFUSED. */
  resolvers?: readonly string[];
  metrics?: Metrics;
  logger: Logger;
  /** Keep encoded answers (default true; the benchmark compares without). */
  cacheAnswers?: boolean;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** A UDP answer larger than this (without EDNS) is sent truncated; the client retries over TCP. */
const UDP_LIMIT = 512;
/** The most we accept in one TCP message, and how long an idle TCP client may stay. */
const TCP_MAX_MESSAGE = 4096;
const TCP_IDLE_MS = 10_000;
/** Encoded answers kept at most (the cache starts over beyond that). */
const CACHE_MAX = 50_000;

type Outcome = "answered" | "nxdomain" | "refused";

interface Counters {
  queries: Counter;
  answered: Counter;
  nxdomain: Counter;
  refused: Counter;
  forwarded: Counter;
  dropped: Counter;
}

export class DnsServer {
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly tcpClients = new Set<TcpSocket>();
  private readonly counters: Counters;
  private readonly forwarder: Forwarder | undefined;
  /** Encoded answers of our records by the query's bytes after its id (and UDP or TCP); valid for `cacheVersion`. */
  private readonly cache = new Map<string, { out: Buffer; outcome: Outcome }>();
  private cacheVersion = -1;
  port = 0;

  constructor(private readonly o: DnsServerOptions) {
    const m = o.metrics ?? new Metrics();
    const c = (key: string, help: string): Counter => m.counter(key, help);
    this.counters = {
      queries: c("dns/queries", "DNS questions received"),
      answered: c("dns/answered", "Questions of our domain answered with records or NODATA"),
      nxdomain: c("dns/nxdomain", "Questions of our domain for names we do not have"),
      refused: c("dns/refused", "Questions outside our domain refused (no resolvers) or not supported"),
      forwarded: c("dns/forwarded", "Questions outside our domain forwarded to a resolver"),
      dropped: c("dns/dropped_packets", "Packets that did not decode, were responses or asked nothing"),
    };
    this.forwarder = o.resolvers && o.resolvers.length > 0 ? new Forwarder(o.resolvers) : undefined;
  }

  /** Packets dropped so far (malformed, responses, no question). */
  get dropped(): number {
    return this.counters.dropped.value;
  }

  async start(): Promise<void> {
    const tcp = createServer((socket) => this.serveTcp(socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(this.o.port, this.o.host, () => resolve());
    });
    this.tcp = tcp;
    this.port = (tcp.address() as { port: number }).port;
    const udp = createSocket({ type: this.o.host.includes(":") ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(this.port, this.o.host, () => resolve());
    });
    udp.on("error", (err) => this.o.logger.warn({ err }, "DNS UDP socket error"));
    udp.on("message", (msg, rinfo) => void this.serveUdp(udp, msg, rinfo));
    this.udp = udp;
  }

  async close(): Promise<void> {
    this.forwarder?.close();
    for (const s of this.tcpClients) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
  }

  /** The answer to one packet (undefined: drop it). Exposed for tests and the benchmark. */
  async answer(msg: Buffer, udp: boolean): Promise<Buffer | undefined> {
    if (this.cacheVersion !== this.o.records.version) {
      this.cache.clear();
      this.cacheVersion = this.o.records.version;
    }
    const key = msg.length > 12 && this.o.cacheAnswers !== false ? `${udp ? "u" : "t"}${msg.toString("latin1", 2)}` : undefined;
    const hit = key === undefined ? undefined : this.cache.get(key);
    if (hit) {
      this.counters.queries.inc();
      this.counters[hit.outcome].inc();
      const out = Buffer.from(hit.out);
      out.writeUInt16BE(msg.readUInt16BE(0), 0);
      return out;
    }
    const found = await this.decodeAndAnswer(msg, udp);
    if (!found) return undefined;
    if (found.outcome && key !== undefined) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(key, { out: found.out, outcome: found.outcome });
    }
    return found.out;
  }

  /** The answer and, when it comes from our records alone (so the same query gets the same answer), what it was. */
  private async decodeAndAnswer(msg: Buffer, udp: boolean): Promise<{ out: Buffer; outcome?: Outcome } | undefined> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      this.counters.dropped.inc();
      return undefined;
    }
    if (query.type !== "query" || !query.questions || query.questions.length === 0) {
      this.counters.dropped.inc();
      return undefined;
    }
    this.counters.queries.inc();
    const q = query.questions[0]!;
    const reply = (rcode: number, answers: dnsPacket.Answer[] = [], additionals: dnsPacket.Answer[] = [], authoritative = true): Buffer => {
      const flags = (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | rcode;
      const packet: dnsPacket.Packet = { type: "response", id: query.id, flags, questions: [q], answers, additionals };
      const out = dnsPacket.encode(packet);
      if (!udp || out.length <= udpLimit(query)) return out;
      return dnsPacket.encode({ type: "response", id: query.id, flags: flags | dnsPacket.TRUNCATED_RESPONSE, questions: [q] });
    };
    if (query.questions.length > 1 || (query as { opcode?: string }).opcode !== "QUERY") {
      this.counters.refused.inc();
      return { out: reply(query.questions.length > 1 ? RCODE.FORMERR : RCODE.NOTIMP), outcome: "refused" };
    }
    const found = this.o.records.lookup(q.name, q.type);
    switch (found.rcode) {
      case "NOERROR":
        this.counters.answered.inc();
        return { out: reply(RCODE.NOERROR, found.answers as dnsPacket.Answer[], found.additionals as dnsPacket.Answer[]), outcome: "answered" };
      case "NXDOMAIN":
        this.counters.nxdomain.inc();
        return { out: reply(RCODE.NXDOMAIN), outcome: "nxdomain" };
      case "OUTSIDE":
        if (!this.forwarder) {
          this.counters.refused.inc();
          return { out: reply(RCODE.REFUSED, [], [], false), outcome: "refused" };
        }
        this.counters.forwarded.inc();
        try {
          return { out: await this.forwarder.forward(msg, query.id ?? 0) };
        } catch (err) {
          this.o.logger.debug({ err, name: q.name }, "Forwarding a DNS question failed");
          return { out: reply(RCODE.SERVFAIL, [], [], false) };
        }
    }
  }

  private async serveUdp(socket: Socket, msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    const out = await this.answer(msg, true);
    if (out && this.udp) socket.send(out, rinfo.port, rinfo.address);
  }

  /** TCP: each message is preceded by its length (2 bytes); several per connection. */
  private serveTcp(socket: TcpSocket): void {
    this.tcpClients.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on("close", () => this.tcpClients.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (length > TCP_MAX_MESSAGE || length === 0) {
          this.counters.dropped.inc();
          socket.destroy();
          return;
        }
        if (buffered.length < 2 + length) return;
        const msg = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        void this.answer(Buffer.from(msg), false).then((out) => {
          if (!out || socket.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          socket.write(Buffer.concat([len, out]));
        });
      }
    });
  }
}

/** The UDP size the client accepts: its EDNS payload size, else 512. */
function udpLimit(query: dnsPacket.DecodedPacket): number {
  for (const r of query.additionals ?? []) {
    if (r.type === "OPT") return Math.max(UDP_LIMIT, Math.min(4096, (r as { udpPayloadSize?: number }).udpPayloadSize ?? UDP_LIMIT));
  }
  return UDP_LIMIT;
}
