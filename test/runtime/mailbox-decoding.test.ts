/**
 * Messages from other nodes wait in an actor's mailbox as their bytes and are decoded when the
 * actor handles them (ItemKind.Encoded): a busy actor's queue is buffers, not object graphs
 * the garbage collector copies and promotes while they wait (docs/scale.md, "Session 11").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProbeSchema, type Probe } from "../../src/gen/dcos/v1/runtime_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { probe, Recorder } from "../support/actors.js";

const REMOTE = new Pid("x", "node-b:1");

/** A system on the manual clock with one spawned actor, and a way to hand it messages as the network does. */
async function started<A extends Actor>(actor: A): Promise<{ clock: ManualClock; system: ActorSystem; actor: A; fromNetwork: (message: Probe) => void }> {
  const clock = new ManualClock();
  const system = new ActorSystem({ clock, address: "node-a:1" });
  system.spawn(actor);
  await clock.settle();
  const fromNetwork = (message: Probe): void => system.deliverEnvelope(system.encode({ from: REMOTE, to: actor.self, message }), "node-b:1");
  return { clock, system, actor, fromNetwork };
}

describe("Mailbox: messages from the network decoded when handled", () => {
  it("queues envelopes as bytes: an undecodable one is dropped and counted at its turn, in order with the rest", async () => {
    const { clock, system, actor: r } = await started(new Recorder("r"));
    const envelope = (seq: number) => system.encode({ from: REMOTE, to: r.self, message: probe(seq) });
    const bad = envelope(2);
    bad.payload = new Uint8Array([0x0a, 0x7f, 0x01]); // a length running past the end
    for (const env of [envelope(0), envelope(1), bad, envelope(3)]) system.deliverEnvelope(env, "node-b:1");
    // Nothing decoded before the actor's turn: the bad payload is not known to be bad yet.
    assert.equal(system.metrics.value("runtime/dropped/undecodable"), 0);
    assert.equal(r.received.length, 0);
    await clock.settle();
    assert.deepEqual(r.seqs(), [0, 1, 3]);
    assert.equal(system.metrics.value("runtime/dropped/undecodable"), 1);
    assert.equal(system.metrics.value("runtime/dropped_messages"), 1);
    assert.equal(r.received[0]!.from, REMOTE.toString(), "the sender as the envelope named it");
  });

  it("drops what waits, counted as terminated, when the actor stops before its turn", async () => {
    const { clock, system, actor: r, fromNetwork } = await started(new Recorder("r"));
    for (let i = 0; i < 3; i++) fromNetwork(probe(i));
    system.terminate(r);
    await clock.settle();
    assert.deepEqual(r.seqs(), []);
    assert.equal(system.metrics.value("runtime/dropped/terminated"), 3);
  });
  it("decodes with the handler's own reader when it leaves fields unread: from the network without them, locally as sent", async () => {
    /** Reads a Probe's sequence, never its address. */
    class Sequences extends Actor {
      readonly got: Array<{ seq: number; address: string }> = [];
      constructor() {
        super("s");
        this.install(ProbeSchema, (m) => void this.got.push({ seq: Number(m.sequence), address: m.address }), { unread: ["address"] });
      }
    }
    const { clock, system, actor: s, fromNetwork } = await started(new Sequences());
    fromNetwork(probe(1, "far"));
    system.send(new Pid("y", "node-a:1"), s.self, probe(2, "near"));
    await clock.settle();
    assert.deepEqual(s.got, [{ seq: 1, address: "" }, { seq: 2, address: "near" }]);
  });
});
