import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Clock, Timer, WorkSource } from "../../src/runtime/clock.js";
import { Actor } from "../../src/runtime/actor.js";
import { serviceDefinition } from "../../src/runtime/grpc/service.js";
import { onPulse, pulse } from "../../src/runtime/pulse.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { TransportService } from "../../src/gen/dcos/v1/runtime_pb.js";

/** A clock whose timers never fire by themselves: the loop held, as in its I/O callbacks. */
class HeldClock implements Clock {
  t = 1_000;
  now(): number {
    return this.t;
  }
  setTimer(_ms: number, _fn: () => void): Timer {
    return { cancel: () => {} };
  }
  track(_s: WorkSource): void {}
  untrack(_s: WorkSource): void {}
}

class Ticker extends Actor {
  readonly urgent: boolean;
  ticks = 0;
  constructor(name: string, urgent: boolean) {
    super(name);
    this.urgent = urgent;
  }
  override initialize(): void {
    this.delay(100, () => this.ticks++);
  }
}

describe("The process's pulse (runtime/pulse.ts)", () => {
  it("runs a started system's overdue urgent timers, not its other actors' ones, and stops with the system", async () => {
    const clock = new HeldClock();
    const system = new ActorSystem({ clock, address: "node-a:1" });
    await system.start();
    const urgent = system.spawn(new Ticker("raft", true));
    const other = system.spawn(new Ticker("other", false));
    await new Promise((r) => setImmediate(r)); // initialize() ran: both timers set
    pulse();
    assert.equal(urgent.ticks, 0, "not yet due");
    clock.t += 100;
    pulse();
    assert.equal(urgent.ticks, 0, "due, but within the grace a loop that is not held needs");
    clock.t += 50;
    pulse();
    assert.equal(urgent.ticks, 1, "overdue: run by the pulse, in the actor's turn, at once");
    assert.equal(other.ticks, 0, "a non-urgent actor's timers wait for the loop");
    assert.equal(system.metrics.value("runtime/urgent_timers_pulsed"), 1);
    pulse();
    assert.equal(urgent.ticks, 1, "once");
    await system.stop();
  });

  it("is given by a public service's request decoder for every call", () => {
    let pulses = 0;
    const off = onPulse(() => void pulses++);
    try {
      const def = serviceDefinition(TransportService, { maxRequestBytes: 1024 });
      const method = Object.values(def)[0]!;
      method.requestDeserialize(Buffer.alloc(0));
      method.requestDeserialize(Buffer.alloc(2048)); // refused as too large: a call all the same
      assert.equal(pulses, 2);
    } finally {
      off();
    }
  });
});
