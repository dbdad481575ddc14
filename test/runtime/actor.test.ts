import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HelloSchema } from "../../src/gen/dcos/v1/runtime_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Facade } from "../../src/runtime/facade.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { probe, Recorder } from "../support/actors.js";

/** drainBudgetMs: the drain's wall-clock budget (a test counting items per turn sets it beyond reach, or a loaded machine cuts turns short). */
function newSystem(drainBudgetMs?: number): { clock: ManualClock; system: ActorSystem } {
  const clock = new ManualClock();
  return { clock, system: new ActorSystem({ clock, address: "node-a", ...(drainBudgetMs === undefined ? {} : { drainBudgetMs }) }) };
}

class Counter extends Actor {
  count = 0;
  log2: string[] = [];
  increment(by: number): number {
    this.count += by;
    return this.count;
  }
  later(ms: number, note: string): void {
    this.delay(ms, () => this.log2.push(`${note}@${this.clock.now()}`));
  }
  afterPromise(p: Promise<string>): void {
    this.defer(
      p,
      (v) => this.log2.push(`ok:${v}`),
      (e) => this.log2.push(`err:${(e as Error).message}`),
    );
  }
  stop(): void {
    this.terminate();
  }
}

class CounterFacade extends Facade<Counter> {
  increment(by: number): Promise<number> {
    return this.call((a) => a.increment(by));
  }
}

describe("Actor", () => {
  it("runs initialize first and finalize on terminate", async () => {
    const { clock, system } = newSystem();
    const r = system.spawn(new Recorder("r"));
    assert.equal(r.initialized, false, "initialize runs as a mailbox item, not inside spawn");
    await clock.settle();
    assert.equal(r.initialized, true);
    assert.equal(r.self.toString(), "r@node-a");
    system.terminate(r);
    await clock.settle();
    assert.equal(r.finalized, true);
    assert.equal(system.lookup("r"), undefined);
  });

  it("delivers messages from one sender in the order they were sent", async () => {
    const { clock, system } = newSystem();
    const a = system.spawn(new Recorder("a"));
    const b = system.spawn(new Recorder("b"));
    for (let i = 0; i < 1000; i++) a.tell(b.self, probe(i));
    await clock.settle();
    assert.deepEqual(b.seqs(), [...Array(1000).keys()]);
    assert.ok(b.received.every((r) => r.from === "a@node-a"));
  });

  it("handles one message at a time: a handler's sends are queued behind it", async () => {
    const { clock, system } = newSystem();
    const order: string[] = [];
    class PingPong extends Actor {
      constructor(name: string, private readonly peer: () => Pid) {
        super(name);
        this.install(HelloSchema, (m) => {
          order.push(`${this.name}:start:${m.address}`);
          if (m.address.length < 3) this.send(this.peer(), create(HelloSchema, { address: m.address + "x" }));
          order.push(`${this.name}:end:${m.address}`);
        });
      }
    }
    const x: PingPong = system.spawn(new PingPong("x", () => y.self));
    const y: PingPong = system.spawn(new PingPong("y", () => x.self));
    system.send(x.self, y.self, create(HelloSchema, { address: "" }));
    await clock.settle();
    assert.deepEqual(order, ["y:start:", "y:end:", "x:start:x", "x:end:x", "y:start:xx", "y:end:xx", "x:start:xxx", "x:end:xxx"]);
  });

  it("rejects two actors with the same name", () => {
    const { system } = newSystem();
    system.spawn(new Recorder("dup"));
    assert.throws(() => system.spawn(new Recorder("dup")), (e: unknown) => DcosError.is(e, Code.ALREADY_EXISTS));
    assert.match(system.uniqueName("dup"), /^dup\(\d+\)$/);
  });

  it("dispatch runs a method inside the actor and returns its result (the facade)", async () => {
    const { clock, system } = newSystem();
    const c = system.spawn(new Counter("c"));
    const f = new CounterFacade(c);
    const p1 = f.increment(2);
    const p2 = f.increment(3);
    await clock.settle();
    assert.deepEqual(await Promise.all([p1, p2]), [2, 5]);
  });

  it("dispatch to a terminated actor fails with UNAVAILABLE, and pending calls are abandoned", async () => {
    const { clock, system } = newSystem();
    const c = system.spawn(new Counter("c"));
    await clock.settle();
    const stop = system.dispatch(c, (a) => a.stop());
    const pending = assert.rejects(system.dispatch(c, (a) => a.increment(1)), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE));
    await clock.settle();
    await stop;
    await pending;
    await assert.rejects(system.dispatch(c, (a) => a.increment(1)), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE));
  });

  it("timers fire inside the actor at their clock time, and die with it", async () => {
    const { clock, system } = newSystem();
    const c = system.spawn(new Counter("c"));
    const start = clock.now();
    await system.dispatch(c, (a) => {
      a.later(100, "first");
      a.later(50, "early");
    }).then(() => undefined, () => undefined);
    await clock.settle();
    await clock.advance(60);
    assert.deepEqual(c.log2, [`early@${start + 50}`]);
    system.terminate(c);
    await clock.settle();
    await clock.advance(100);
    assert.deepEqual(c.log2, [`early@${start + 50}`]);
    assert.equal(clock.pendingTimers(), 0);
  });

  it("defer brings the result of async work back into the actor", async () => {
    const { clock, system } = newSystem();
    const c = system.spawn(new Counter("c"));
    const p = system.dispatch(c, (a) => {
      a.afterPromise(Promise.resolve("yes"));
      a.afterPromise(Promise.reject(new Error("no")));
    });
    await clock.settle();
    await p;
    assert.deepEqual(c.log2.sort(), ["err:no", "ok:yes"]);
  });

  it("link delivers exited when a local actor terminates, and at once for a pid that does not exist", async () => {
    const { clock, system } = newSystem();
    const watcher = system.spawn(new Recorder("w"));
    const target = system.spawn(new Recorder("t"));
    await clock.settle();
    await system.dispatch(watcher, (w) => {
      w.watch(target.self);
      w.watch(Pid.parse("ghost@node-a"));
    });
    await clock.settle();
    assert.deepEqual(watcher.exits, ["ghost@node-a"]);
    system.terminate(target);
    await clock.settle();
    assert.deepEqual(watcher.exits, ["ghost@node-a", "t@node-a"]);
  });

  it("counts and drops a message to an unknown actor or without a handler, and keeps going", async () => {
    const { clock, system } = newSystem();
    const a = system.spawn(new Recorder("a"));
    system.send(a.self, Pid.parse("nobody@node-a"), probe(1));
    system.send(Pid.parse("x@elsewhere:1"), a.self, create(HelloSchema, { address: "z" }));
    system.send(Pid.parse("x@elsewhere:1"), a.self, probe(2));
    await clock.settle();
    assert.equal(system.metrics.value("runtime/dropped/unknown_actor"), 1);
    assert.equal(system.metrics.value("runtime/dropped/no_handler"), 1);
    assert.equal(system.metrics.value("runtime/dropped_messages"), 2);
    assert.deepEqual(a.seqs(), [2]);
  });

  it("a handler that throws is counted and logged; the actor keeps handling", async () => {
    const { clock, system } = newSystem();
    class Fragile extends Actor {
      seen: string[] = [];
      constructor() {
        super("fragile");
        this.install(HelloSchema, (m) => {
          if (m.address === "boom") throw new Error("boom");
          this.seen.push(m.address);
        });
      }
    }
    const f = system.spawn(new Fragile());
    for (const a of ["one", "boom", "two"]) system.send(f.self, f.self, create(HelloSchema, { address: a }));
    await clock.settle();
    assert.deepEqual(f.seen, ["one", "two"]);
    assert.equal(system.metrics.value("runtime/handler_errors"), 1);
  });

  it("serves an urgent actor (ActorCell.urgent) ahead of a busy one, between its turns, without starving it", async () => {
    // Turns of 256 items: the 4-ms drain budget would cut them short at load (64 !== 256 in a run at load 10).
    const { clock, system } = newSystem(60_000);
    const order: string[] = [];
    const busy = system.spawn(new Worker("busy", false));
    const urgent = system.spawn(new Worker("urgent", true));
    await clock.settle();
    // Queued behind 600 items of the busy actor, the urgent actor's item runs first.
    for (let i = 0; i < 600; i++) system.enqueueFunction(busy, () => order.push("b"));
    system.enqueueFunction(urgent, () => order.push("u"));
    await clock.settle();
    assert.equal(order.indexOf("u"), 0);
    // Made urgent work during the busy actor's turn: it runs after that turn (256 items), not after all 600.
    order.length = 0;
    for (let i = 0; i < 600; i++) {
      system.enqueueFunction(busy, () => {
        order.push("b");
        if (i === 10) system.enqueueFunction(urgent, () => order.push("u"));
      });
    }
    await clock.settle();
    assert.equal(order.indexOf("u"), 256);
    assert.equal(order.length, 601);
    // An urgent actor with more than a turn of work lets the others in after each turn.
    order.length = 0;
    for (let i = 0; i < 600; i++) system.enqueueFunction(urgent, () => order.push("u"));
    system.enqueueFunction(busy, () => order.push("b"));
    await clock.settle();
    assert.equal(order.indexOf("b"), 256);
    assert.equal(order.length, 601);
    await system.stop();
  });
});

class Worker extends Actor {
  constructor(
    name: string,
    readonly urgent: boolean,
  ) {
    super(name);
  }
}
