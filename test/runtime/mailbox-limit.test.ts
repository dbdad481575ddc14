/** The mailbox limit (ActorSystemOptions.maxMailbox): messages from other nodes beyond it are dropped and counted. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type Message } from "@bufbuild/protobuf";
import { AgentPongSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { ProbeSchema } from "../../src/gen/dcos/v1/runtime_pb.js";
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

describe("Mailbox shedding (ActorCell.shed)", () => {
  /** A Recorder whose Probes are retried by their senders: shed once two items are queued. */
  class Shedding extends Recorder {
    readonly shed = { at: 2, types: new Set([ProbeSchema.typeName]) };
    readonly pongs: string[] = [];
    constructor(name: string) {
      super(name);
      this.install(AgentPongSchema, (_m, from) => void this.pongs.push(from.toString()));
    }
  }

  it("drops and counts retried types from another node past the bound, queues the rest and everything local", async () => {
    const clock = new ManualClock();
    const system = new ActorSystem({ clock, address: "node-a:1" });
    const r = system.spawn(new Shedding("r"));
    await clock.settle();
    const remote = new Pid("x", "node-b:1");
    const deliver = (message: Message) => system.deliverEnvelope(system.encode({ from: remote, to: r.self, message }), "node-b:1");
    // Before the actor gets a turn: two probes fit, the next three are shed; a pong is never shed.
    for (let i = 0; i < 5; i++) deliver(probe(i));
    deliver(create(AgentPongSchema, {}));
    // A local send is never shed either.
    system.send(new Pid("y", "node-a:1"), r.self, probe(9));
    await clock.settle();
    assert.deepEqual(r.seqs(), [0, 1, 9]);
    assert.deepEqual(r.pongs, ["x@node-b:1"]);
    assert.equal(system.metrics.value("runtime/dropped/mailbox_shed"), 3);
    assert.equal(system.metrics.value("runtime/dropped/mailbox_full"), 0);
    // Below the bound again, the retried copies are taken.
    deliver(probe(3));
    await clock.settle();
    assert.deepEqual(r.seqs(), [0, 1, 9, 3]);
  });
});
