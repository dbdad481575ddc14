import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { probe, Recorder } from "../support/actors.js";

describe("InProcessNetwork", () => {
  it("passes messages between systems in order, without encoding", async () => {
    const clock = new ManualClock();
    const net = new InProcessNetwork();
    const s1 = new ActorSystem({ clock, transport: net.transport("one") });
    const s2 = new ActorSystem({ clock, transport: net.transport("two") });
    await s1.start();
    await s2.start();
    const a = s1.spawn(new Recorder("a"));
    const b = s2.spawn(new Recorder("b"));
    for (let i = 0; i < 1000; i++) a.tell(b.self, probe(i));
    await clock.settle();
    assert.deepEqual(b.seqs(), [...Array(1000).keys()]);
  });

  it("reports exited when a peer system stops, and at once for an unknown address", async () => {
    const clock = new ManualClock();
    const net = new InProcessNetwork();
    const s1 = new ActorSystem({ clock, transport: net.transport("one") });
    const s2 = new ActorSystem({ clock, transport: net.transport("two") });
    await s1.start();
    await s2.start();
    const a = s1.spawn(new Recorder("a"));
    const b = s2.spawn(new Recorder("b"));
    await s1.dispatch(a, (x) => {
      x.watch(b.self);
      x.watch(Pid.parse("x@nowhere"));
    });
    await clock.settle();
    assert.deepEqual(a.exits, ["x@nowhere"]);
    await s2.stop();
    await clock.settle();
    assert.deepEqual(a.exits, ["x@nowhere", "b@two"]);
    a.tell(b.self, probe(1));
    await clock.settle();
    assert.equal(s1.metrics.value("runtime/dropped/unreachable"), 1);
  });

  it("refuses two nodes at one address", async () => {
    const net = new InProcessNetwork();
    await new ActorSystem({ transport: net.transport("one") }).start();
    await assert.rejects(new ActorSystem({ transport: net.transport("one") }).start(), (e: unknown) => DcosError.is(e, Code.ALREADY_EXISTS));
  });
});
