/**
 * The actors of the runtime benchmark: a Driver that streams probes with a window of
 * unacknowledged messages (so queues stay bounded) or plays ping-pong, a Sink that counts,
 * checks order and acknowledges, and an Echo that answers each probe.
 */
import { create } from "@bufbuild/protobuf";
import { ProbeSchema, type Probe } from "../../src/gen/dcos/v1/runtime_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import type { Pid } from "../../src/runtime/pid.js";

/** The sink acknowledges every ACK_EVERY messages; stream sizes are multiples of it. */
export const ACK_EVERY = 2000;

const probe = (seq: number, tag = ""): Probe => create(ProbeSchema, { sequence: BigInt(seq), address: tag });

export interface StreamResult {
  ms: number;
  /** Messages the sink saw out of sequence (must be 0). */
  disorder: number;
}

interface StreamRun {
  to: Pid;
  total: number;
  window: number;
  sent: number;
  acked: number;
  start: number;
  done: (r: StreamResult) => void;
}

interface PingRun {
  to: Pid;
  left: number;
  t0: number;
  rtts: number[];
  done: (rtts: number[]) => void;
}

export class Driver extends Actor {
  private stream: StreamRun | undefined;
  private ping: PingRun | undefined;

  constructor() {
    super("driver");
    this.install(ProbeSchema, (m) => {
      if (m.address.startsWith("ack:")) this.acked(m);
      else if (m.address === "echo") this.echoed();
    });
  }

  /** Streams `total` probes to a Sink, at most `window` unacknowledged; resolves when all are acknowledged. */
  startStream(to: Pid, total: number, window: number): Promise<StreamResult> {
    if (total % ACK_EVERY !== 0) throw new Error(`stream size ${total} must be a multiple of ${ACK_EVERY}`);
    return new Promise((done) => {
      this.stream = { to, total, window, sent: 0, acked: 0, start: performance.now(), done };
      this.pump(this.stream);
    });
  }

  /** Sends `count` probes to an Echo one after another, each after the previous answer; resolves with the round trips in ms. */
  startPing(to: Pid, count: number): Promise<number[]> {
    return new Promise((done) => {
      this.ping = { to, left: count, t0: performance.now(), rtts: [], done };
      this.send(to, probe(count));
    });
  }

  private pump(s: StreamRun): void {
    while (s.sent < s.total && s.sent - s.acked < s.window) this.send(s.to, probe(s.sent++));
  }

  private acked(m: Probe): void {
    const s = this.stream;
    if (!s) return;
    s.acked = Number(m.sequence);
    if (s.acked >= s.total) {
      this.stream = undefined;
      s.done({ ms: performance.now() - s.start, disorder: Number(m.address.slice(4)) });
      return;
    }
    this.pump(s);
  }

  private echoed(): void {
    const p = this.ping;
    if (!p) return;
    const now = performance.now();
    p.rtts.push(now - p.t0);
    if (--p.left === 0) {
      this.ping = undefined;
      p.done(p.rtts);
      return;
    }
    p.t0 = now;
    this.send(p.to, probe(p.left));
  }
}

/** Counts probes, checks their order, acknowledges every ACK_EVERY; sequence 0 starts a new stream. */
export class Sink extends Actor {
  private count = 0;
  private next = 0;
  private disorder = 0;

  constructor() {
    super("sink");
    this.install(ProbeSchema, (m, from) => {
      const seq = Number(m.sequence);
      if (seq === 0) {
        this.count = 0;
        this.disorder = 0;
      } else if (seq !== this.next) {
        this.disorder++;
      }
      this.next = seq + 1;
      if (++this.count % ACK_EVERY === 0) this.send(from, probe(this.count, `ack:${this.disorder}`));
    });
  }
}

/** Answers every probe at once. */
export class Echo extends Actor {
  constructor() {
    super("echo");
    this.install(ProbeSchema, (m, from) => this.send(from, probe(Number(m.sequence), "echo")));
  }
}
