/**
 * Messages from other nodes wait in an actor's mailbox as their bytes and are decoded when the
 * actor handles them (ItemKind.Encoded): a busy actor's queue is buffers, not object graphs
 * the garbage collector copies and promotes while they wait (docs/scale.md, "Session 11").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { probe, Recorder } from "../support/actors.js";

describe("Mailbox: messages from the network decoded when handled", () => {
  it("queues envelopes as bytes: an undecodable one is dropped and counted at its turn, in order with the rest", async () => {
    const clock = new ManualClock();
    const system = new ActorSystem({ clock, address: "node-a:1" });
    const r = system.spawn(new Recorder("r"));
    await clock.settle();
    const remote = new Pid("x", "node-b:1");
    const envelope = (seq: number) => system.encode({ from: remote, to: r.self, message: probe(seq) });
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
    assert.equal(r.received[0]!.from, remote.toString(), "the sender as the envelope named it");
  });

  it("drops what waits, counted as terminated, when the actor stops before its turn", async () => {
    const clock = new ManualClock();
    const system = new ActorSystem({ clock, address: "node-a:1" });
    const r = system.spawn(new Recorder("r"));
    await clock.settle();
    const remote = new Pid("x", "node-b:1");
    for (let i = 0; i < 3; i++) system.deliverEnvelope(system.encode({ from: remote, to: r.self, message: probe(i) }), "node-b:1");
    system.terminate(r);
    await clock.settle();
    assert.deepEqual(r.seqs(), []);
    assert.equal(system.metrics.value("runtime/dropped/terminated"), 3);
  });
});
