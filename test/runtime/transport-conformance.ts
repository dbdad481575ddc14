/**
 * The conformance suite every transport runs (in-process, simulated, gRPC, NATS): the
 * same sentences, against a harness that knows how to make nodes, stop them, wait, and —
 * where the transport has a wire format — write raw frames as a misbehaving peer would.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { after, describe, it } from "node:test";
import { EnvelopeSchema, HelloSchema, type Envelope } from "../../src/gen/dcos/v1/runtime_pb.js";
import { encodeFrame } from "../../src/runtime/frame-codec.js";
import { Pid } from "../../src/runtime/pid.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import type { Transport } from "../../src/runtime/transport.js";
import { probe, Recorder } from "../support/actors.js";
import { waitFor } from "../support/wait.js";

/** A peer that writes raw frames on a connection of its own (it never gets messages back). */
export interface RawPeer {
  /** The address it announced itself with. */
  readonly address: string;
  /** Sends bytes as one frame (the transport adds its own framing around them). */
  frame(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface NodeOptions {
  /** Restart at this address (a node that was stopped). */
  address?: string;
  maxFrameBytes?: number;
}

export interface TransportHarness {
  readonly name: string;
  /** A started node on a fresh address, or at `address`. */
  node(options?: NodeOptions): Promise<ActorSystem>;
  /** Waits for cond (advancing a manual clock, or polling with a deadline); fails saying `what`. */
  until(cond: () => boolean, what: string): Promise<void>;
  /** For transports with frames on a wire: a peer that writes raw frames to `to`. */
  rawPeer?(to: ActorSystem): Promise<RawPeer>;
  /** For transports that carry envelopes without frames: deliver envelopes as if from a peer. */
  inject?(to: ActorSystem, envelopes: Envelope[], fromAddress: string): Promise<void>;
  /** Stops everything the harness started. */
  close(): Promise<void>;
}

/** The shared part of harnesses for transports on real sockets and the real clock. */
export class RealTimeNodes {
  private readonly systems: ActorSystem[] = [];
  private readonly closers: (() => Promise<void>)[] = [];

  /** Starts an actor system on the transport; it is stopped by close(). */
  async start(transport: Transport): Promise<ActorSystem> {
    const system = new ActorSystem({ transport, logger: testLogger() });
    await system.start();
    this.systems.push(system);
    return system;
  }

  /** Something else to close at the end (raw peers, connections). */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  readonly until = async (cond: () => boolean, what: string): Promise<void> => {
    await waitFor(() => cond(), what, 15_000, 5);
  };

  readonly close = async (): Promise<void> => {
    for (const fn of this.closers) await fn();
    for (const s of this.systems) await s.stop();
  };
}

const dropped = (s: ActorSystem, reason: string): number => s.metrics.value(`runtime/dropped/${reason}`) ?? 0;

function envelope(from: string, to: Pid, type: string, payload: Uint8Array): Envelope {
  return create(EnvelopeSchema, { from, to: to.toString(), type, payload });
}

/** What a transport carries, so the suite registers only the bad-input tests that apply. */
export interface Capabilities {
  /** Envelopes exist (not the in-process hand-over of decoded messages): bad types and payloads. */
  envelopes: boolean;
  /** Frames travel on a wire: undecodable and oversize frames. */
  frames: boolean;
}

/** Registers the suite for one transport. `makeHarness` runs once per test. */
export function transportConformance(name: string, can: Capabilities, makeHarness: () => Promise<TransportHarness>): void {
  describe(`transport conformance: ${name}`, () => {
    const open: TransportHarness[] = [];
    const harness = async () => {
      const h = await makeHarness();
      open.push(h);
      return h;
    };
    after(async () => {
      for (const h of open) await h.close();
    });

    async function pair(h: TransportHarness, options: NodeOptions = {}) {
      const one = await h.node();
      const two = await h.node(options);
      const a = one.spawn(new Recorder("a"));
      const b = two.spawn(new Recorder("b"));
      return { one, two, a, b };
    }

    it("delivers messages from one sender to one receiver in order, both ways and from several senders", async () => {
      const h = await harness();
      const { one, two, a, b } = await pair(h);
      const a2 = one.spawn(new Recorder("a2"));
      const n = 3000;
      for (let i = 0; i < n; i++) {
        a.tell(b.self, probe(i, "a"));
        a2.tell(b.self, probe(i, "a2"));
        if (i % 10 === 0) b.tell(a.self, probe(i / 10, "b"));
      }
      await h.until(() => b.received.length === 2 * n && a.received.length === n / 10, `${2 * n} messages at b and ${n / 10} at a`);
      for (const tag of ["a", "a2"]) {
        assert.deepEqual(b.received.filter((r) => r.tag === tag).map((r) => r.seq), [...Array(n).keys()], `order from ${tag}`);
      }
      assert.deepEqual(a.seqs(), [...Array(n / 10).keys()]);
      assert.equal(b.received[0]!.from, a.self.toString());
      assert.equal(dropped(one, "unreachable") + dropped(two, "unreachable"), 0);
    });

    it("delivers exited to every actor linked to a pid behind a node that stops", async () => {
      const h = await harness();
      const { one, two, a, b } = await pair(h);
      const c = two.spawn(new Recorder("c"));
      const watcher = one.spawn(new Recorder("watcher"));
      await one.dispatch(a, (x) => x.watch(b.self));
      await one.dispatch(watcher, (x) => {
        x.watch(b.self);
        x.watch(c.self);
      });
      a.tell(b.self, probe(1));
      await h.until(() => b.received.length === 1, "the first message to arrive");
      assert.deepEqual(a.exits, []);
      await two.stop();
      await h.until(() => a.exits.length === 1 && watcher.exits.length === 2, "exited for b at a, and for b and c at watcher");
      assert.deepEqual(a.exits, [b.self.toString()]);
      assert.deepEqual([...watcher.exits].sort(), [b.self.toString(), c.self.toString()].sort());
    });

    it("delivers exited when linking to a node that is not there", async () => {
      const h = await harness();
      const one = await h.node();
      const gone = await h.node();
      const address = gone.address;
      await gone.stop();
      const a = one.spawn(new Recorder("a"));
      const target = new Pid("b", address);
      await one.dispatch(a, (x) => x.watch(target));
      await h.until(() => a.exits.length === 1, `exited for ${target.toString()}`);
      assert.deepEqual(a.exits, [target.toString()]);
    });

    it("reconnects after the peer comes back at the same address, and links work again", async () => {
      const h = await harness();
      const { one, two, a, b } = await pair(h);
      a.tell(b.self, probe(0));
      await h.until(() => b.received.length === 1, "the first message to arrive");
      const address = two.address;
      await one.dispatch(a, (x) => x.watch(b.self));
      await two.stop();
      await h.until(() => a.exits.length === 1, "exited when the peer stops");

      const again = await h.node({ address });
      const b2 = again.spawn(new Recorder("b"));
      // Messages sent while the connection is down or backing off may be given up; keep
      // sending until one gets through, then the connection must carry everything in order.
      let tries = 0;
      await h.until(() => {
        if (b2.received.length > 0) return true;
        a.tell(b2.self, probe(0, "retry"));
        tries++;
        return false;
      }, "a message through the new connection");
      for (let i = 0; i < 100; i++) a.tell(b2.self, probe(i));
      const after = () => b2.received.filter((r) => r.tag !== "retry").map((r) => r.seq);
      await h.until(() => after().length === 100, "100 messages after reconnecting");
      assert.deepEqual(after(), [...Array(100).keys()]);
      assert.ok(tries >= 1);

      await one.dispatch(a, (x) => x.watch(b2.self));
      await again.stop();
      await h.until(() => a.exits.length === 2, "exited again when the restarted peer stops");
    });

    it("counts and drops a message to an unknown actor, and the connection keeps working", async () => {
      const h = await harness();
      const { two, a, b } = await pair(h);
      a.tell(new Pid("nobody", two.address), probe(1));
      a.tell(b.self, probe(2));
      await h.until(() => b.received.length === 1, "the message after the bad one");
      assert.equal(dropped(two, "unknown_actor"), 1);
      assert.deepEqual(b.seqs(), [2]);
    });

    it("counts and drops a message its receiver has no handler for", async () => {
      const h = await harness();
      const { two, a, b } = await pair(h);
      a.tell(b.self, create(HelloSchema, { address: "not-for-b" }));
      a.tell(b.self, probe(2));
      await h.until(() => b.received.length === 1, "the message after the unhandled one");
      assert.equal(dropped(two, "no_handler"), 1);
    });

    if (!can.envelopes) return;

    it("counts and drops envelopes of an unknown type or with an undecodable payload", async () => {
      const h = await harness();
      const send = sender(h);
      const two = await h.node();
      const b = two.spawn(new Recorder("b"));
      let from = "";
      await send(two, (peer) => {
        from = `mallory@${peer}`;
        return [
          envelope(from, b.self, "dcos.v1.NoSuchMessage", new Uint8Array([8, 1])),
          envelope(from, b.self, "dcos.v1.Probe", new Uint8Array([0x0a, 0x7f, 0x01])),
          envelope(from, b.self, "dcos.v1.Probe", new Uint8Array([0x10, 0x05])),
        ];
      });
      await h.until(() => b.received.length === 1, "the good envelope after the bad ones");
      assert.equal(dropped(two, "unknown_type"), 1);
      assert.equal(dropped(two, "undecodable"), 1);
      assert.deepEqual(b.received, [{ from, seq: 5, tag: "" }]);
    });

    it("drops, as spoofed, an envelope naming a sender on another node than the one it came from", async () => {
      const h = await harness();
      const send = sender(h);
      const two = await h.node();
      const b = two.spawn(new Recorder("b"));
      let honest = "";
      await send(two, (peer) => {
        honest = `mallory@${peer}`;
        return [envelope("master@somewhere-else:5050", b.self, "dcos.v1.Probe", new Uint8Array([0x10, 0x01])), envelope(honest, b.self, "dcos.v1.Probe", new Uint8Array([0x10, 0x02]))];
      });
      await h.until(() => b.received.length === 1, "the honest envelope after the forged one");
      assert.equal(dropped(two, "spoofed"), 1);
      assert.deepEqual(b.received, [{ from: honest, seq: 2, tag: "" }]);
    });

    if (!can.frames) return;

    it("counts and drops an undecodable frame and an oversize frame, and the connection survives", async () => {
      const h = await harness();
      assert.ok(h.rawPeer, `the ${name} harness says it has frames but gives no rawPeer`);
      const two = await h.node({ maxFrameBytes: 1024 });
      const b = two.spawn(new Recorder("b"));
      const peer = await h.rawPeer(two);
      const good = (seq: number) => encodeFrame([envelope(`m@${peer.address}`, b.self, "dcos.v1.Probe", new Uint8Array([0x10, seq]))]);
      await peer.frame(Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01]));
      await peer.frame(good(1));
      await h.until(() => b.received.length === 1, "a good frame after an undecodable one");
      assert.equal(dropped(two, "undecodable"), 1);

      const big = encodeFrame([envelope(`m@${peer.address}`, b.self, "dcos.v1.Probe", new Uint8Array(2000))]);
      await peer.frame(big);
      await h.until(() => dropped(two, "oversize") === 1, "the oversize frame to be counted");
      await peer.frame(good(2));
      await h.until(() => b.received.length === 2, "a good frame after an oversize one");
      assert.deepEqual(b.seqs(), [1, 2]);
      await peer.close();
    });
  });
}

/** How a test delivers crafted envelopes: as a frame from a raw peer, or by injection. */
function sender(h: TransportHarness): (to: ActorSystem, envs: (peer: string) => Envelope[]) => Promise<void> {
  if (h.rawPeer) {
    const rawPeer = h.rawPeer.bind(h);
    return async (to, envs) => {
      const peer = await rawPeer(to);
      await peer.frame(encodeFrame(envs(peer.address)));
    };
  }
  if (h.inject) {
    const inject = h.inject.bind(h);
    return (to, envs) => inject(to, envs("elsewhere"), "elsewhere");
  }
  throw new Error(`the ${h.name} harness carries envelopes but has neither rawPeer nor inject`);
}
