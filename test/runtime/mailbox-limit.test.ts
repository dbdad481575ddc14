/** The mailbox limit (ActorSystemOptions.maxMailbox): messages from other nodes beyond it are dropped and counted. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { probe, Recorder } from "../support/actors.js";

describe("Mailbox limit", () => {
  it("drops and counts messages from another node once an actor's mailbox is full; local sends always queue", async () => {
    const clock = new ManualClock();
    const system = new ActorSystem({ clock, address: "node-a:1", maxMailbox: 3 });
    const r = system.spawn(new Recorder("r"));
    await clock.settle();
    const remote = new Pid("x", "node-b:1");
    // Five envelopes arrive before the actor gets a turn: three fit.
    for (let i = 0; i < 5; i++) system.deliverEnvelope(system.encode({ from: remote, to: r.self, message: probe(i) }), "node-b:1");
    await clock.settle();
    assert.deepEqual(r.seqs(), [0, 1, 2]);
    assert.equal(system.metrics.value("runtime/dropped/mailbox_full"), 2);
    assert.equal(system.metrics.value("runtime/dropped_messages"), 2);
    // Once handled, the mailbox takes messages again.
    system.deliverEnvelope(system.encode({ from: remote, to: r.self, message: probe(5) }), "node-b:1");
    // Messages from the node's own actors are never dropped for the limit.
    const local = new Pid("y", "node-a:1");
    for (let i = 6; i < 12; i++) system.send(local, r.self, probe(i));
    await clock.settle();
    assert.deepEqual(r.seqs(), [0, 1, 2, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(system.metrics.value("runtime/dropped/mailbox_full"), 2);
  });
});
