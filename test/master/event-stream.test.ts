import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, it } from "node:test";
import { EventStream } from "../../src/actors/master/event-stream.js";
import type { EventStreamLimits } from "../../src/actors/master/event-stream.js";
import { serve, subscribe, subscribed, until, type Served, type Subscription } from "./grpc-harness.js";
import { subscribeResponse } from "../../src/actors/master/subscribe-encoding.js";
import { ManualClock } from "../../src/runtime/clock.js";
import type { Event } from "../../src/gen/dcos/v1/scheduler_pb.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

async function start(limits: Partial<EventStreamLimits>): Promise<Served> {
  return (served = await serve({ service: { limits } }));
}

/** Makes the master send `n` MESSAGE events of 32 KiB, numbered in their first bytes. */
function flood(s: Served, frameworkId: string, n: number, from = 0): void {
  const agent = s.cluster.agents[0]!;
  for (let i = from; i < from + n; i++) {
    const data = new Uint8Array(32 * 1024);
    new DataView(data.buffer).setUint32(0, i);
    agent.executorMessage(frameworkId, "e1", data);
  }
}

/** Events waiting in the framework's EventStream (0 when it is not blocked). */
function queued(s: Served, frameworkId: string): Promise<number> {
  return s.cluster.facade.inspect((core) => {
    const sink = core.frameworks.get(frameworkId)?.sink;
    return sink instanceof EventStream ? sink.queued : 0;
  });
}

function numbers(sub: Subscription): number[] {
  return sub.events.flatMap((e) => (e.kind.case === "message" ? [new DataView(e.kind.value.data.buffer, e.kind.value.data.byteOffset).getUint32(0)] : []));
}

describe("master: Subscribe stream backpressure", () => {
  it("a scheduler that pauses reading gets every event, in order, when it reads again", async () => {
    const s = await start({ maxQueuedEvents: 10_000 });
    const sub = subscribe(s, "pauser");
    const { frameworkId } = await subscribed(s, sub);
    sub.call.pause();
    flood(s, frameworkId.value, 200);
    await until(s, "events queued in the master", async () => (await queued(s, frameworkId.value)) > 0);
    // The gauges of what waits for schedulers say so.
    assert.equal(s.cluster.metric("master/scheduler_streams_blocked"), 1);
    const waiting = s.cluster.metric("master/scheduler_stream_queued_events")!;
    assert.ok(waiting > 0, `${waiting} events counted as waiting`);
    assert.equal(s.cluster.metric("master/scheduler_stream_queued_events_max"), waiting, "one stream holds them all");
    sub.call.resume();
    await until(s, "all 200 messages", () => numbers(sub).length === 200);
    assert.equal(s.cluster.metric("master/scheduler_streams_blocked"), 0);
    assert.equal(s.cluster.metric("master/scheduler_stream_queued_events"), 0);
    assert.deepEqual(
      numbers(sub),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.equal(s.cluster.metric("master/slow_schedulers_disconnected"), 0);
    assert.equal(s.cluster.metric("master/frameworks_connected"), 1);
  });

  it("events still queued when the master ends a stream are delivered before it ends (ERROR on scheduler failover)", async () => {
    const s = await start({ maxQueuedEvents: 10_000 });
    const old = subscribe(s, "failing-over", { failoverTimeout: 3600 });
    const { frameworkId } = await subscribed(s, old);
    old.call.pause();
    flood(s, frameworkId.value, 100);
    await until(s, "events queued in the master", async () => (await queued(s, frameworkId.value)) > 0);
    const newer = subscribe(s, "failing-over", { failoverTimeout: 3600, id: frameworkId.value });
    await subscribed(s, newer);
    old.call.resume();
    await old.ended;
    assert.deepEqual(
      numbers(old),
      Array.from({ length: 100 }, (_, i) => i),
    );
    const last = old.events.at(-1)!;
    assert.equal(last.kind.case, "error");
    assert.match(last.kind.case === "error" ? last.kind.value.message : "", /newer scheduler subscribed/);
    newer.call.cancel();
  });

  it("a scheduler that lets more than maxQueuedEvents pile up is disconnected, and may subscribe again", async () => {
    const s = await start({ maxQueuedEvents: 20 });
    const sub = subscribe(s, "hoarder", { failoverTimeout: 3600 });
    const { frameworkId } = await subscribed(s, sub);
    sub.call.pause();
    flood(s, frameworkId.value, 300);
    await until(s, "the disconnection", () => s.cluster.metric("master/slow_schedulers_disconnected") === 1);
    assert.equal(s.cluster.metric("master/frameworks_connected"), 0);
    assert.equal(s.cluster.metric("master/frameworks_disconnected"), 1, "in failover, not removed");
    assert.equal(s.cluster.metric("master/frameworks_removed"), 0);

    sub.call.resume();
    const status = await sub.ended;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /disconnected this scheduler because it let more than 20 events pile up unread; subscribe again/);
    const got = numbers(sub);
    assert.ok(got.length < 300, `the backlog was dropped (${got.length} of 300 delivered)`);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i), "what was delivered came in order");

    const again = subscribe(s, "hoarder", { failoverTimeout: 3600, id: frameworkId.value });
    const resubscribed = await subscribed(s, again);
    assert.equal(resubscribed.frameworkId.value, frameworkId.value);
    assert.equal(s.cluster.metric("master/frameworks_connected"), 1);
    flood(s, frameworkId.value, 3, 1000);
    await until(s, "messages on the new stream", () => numbers(again).length === 3);
    again.call.cancel();
  });

  it("a scheduler that reads nothing for stallTimeoutMs while events wait is disconnected", async () => {
    const s = await start({ maxQueuedEvents: 10_000, stallTimeoutMs: 5000 });
    const sub = subscribe(s, "sleeper", { failoverTimeout: 3600 });
    const { frameworkId } = await subscribed(s, sub);
    sub.call.pause();
    flood(s, frameworkId.value, 60);
    await until(s, "events queued in the master", async () => (await queued(s, frameworkId.value)) > 0);
    await s.cluster.clock.advance(4900);
    assert.equal(s.cluster.metric("master/slow_schedulers_disconnected"), 0, "not yet");
    await s.cluster.clock.advance(100);
    await until(s, "the disconnection", () => s.cluster.metric("master/slow_schedulers_disconnected") === 1);
    assert.equal(s.cluster.metric("master/frameworks_disconnected"), 1);
    sub.call.resume();
    const status = await sub.ended;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /read no event for 5000 ms/);
  });
});

describe("master: no offers to a scheduler whose stream is backed up", () => {
  it("pauses its offers once events pile up unread and resumes them when it has read them", async () => {
    const s = await start({ maxQueuedEvents: 10_000, backedUpEvents: 50 });
    const sub = subscribe(s, "backed-up");
    const { frameworkId } = await subscribed(s, sub);
    const id = frameworkId.value;
    const offersHeld = () => s.cluster.facade.inspect((core) => core.offers.ofFramework(id).length);
    const backedUp = () => s.cluster.facade.inspect((core) => core.frameworks.get(id)?.backedUp ?? false);
    const before = await offersHeld();
    sub.call.pause();
    flood(s, id, 200);
    await until(s, "the stream backed up", backedUp);
    assert.equal(s.cluster.metric("master/schedulers_backed_up"), 1);
    // An agent that joins meanwhile is not offered to the backed-up framework.
    await s.cluster.addAgent("late", "cpus:2;mem:1024");
    await s.cluster.clock.advance(2_000);
    assert.equal(await offersHeld(), before, "no new offer while backed up");
    sub.call.resume();
    await until(s, "all 200 messages", () => numbers(sub).length === 200);
    await until(s, "the stream caught up", async () => !(await backedUp()));
    await s.cluster.clock.advance(2_000);
    await until(s, "the late agent offered", async () => (await offersHeld()) === before + 1);
    assert.equal(s.cluster.metric("master/schedulers_backed_up"), 1);
  });
});

describe("master: a Subscribe stream whose scheduler went away", () => {
  it("writes nothing more into a destroyed stream, queued events included (each write would fail on its own)", () => {
    const writes: unknown[] = [];
    let accept = true;
    const writable = {
      destroyed: false,
      writableNeedDrain: false,
      write(chunk: unknown): boolean {
        writes.push(chunk);
        return accept;
      },
      once() {
        return writable;
      },
      removeListener() {
        return writable;
      },
    };
    let ended = 0;
    const clock = new ManualClock();
    const stream = new EventStream(writable as never, subscribeResponse, () => ended++, () => assert.fail("no stall"), clock);
    const event = (n: number): Event => ({ $typeName: "dcos.v1.Event", kind: { case: "heartbeat", value: { $typeName: "dcos.v1.Event.Heartbeat" } }, n }) as unknown as Event;
    stream.send(event(1));
    accept = false;
    stream.send(event(2));
    stream.send(event(3));
    stream.send(event(4));
    assert.equal(writes.length, 2, "written until the stream pushed back");
    assert.equal(stream.queued, 2, "the rest wait");
    writable.destroyed = true;
    stream.send(event(5));
    stream.close();
    assert.equal(writes.length, 2, "nothing written into the destroyed stream");
    assert.equal(ended, 1, "the stream is still ended");
  });
});

describe("master: a Subscribe stream bounds the bytes it has written and HTTP/2 has not taken", () => {
  it("stops writing above maxPendingBytes, goes on at half of it, and never loses or reorders an event", () => {
    const written: { n: number; done: () => void }[] = [];
    const writable = {
      destroyed: false,
      writableNeedDrain: false,
      // An object-mode stream that never pushes back by count: only the byte bound holds it.
      write(chunk: Uint8Array, done: () => void): boolean {
        written.push({ n: new DataView(chunk.buffer, chunk.byteOffset).getUint32(0), done });
        return true;
      },
      once() {
        return writable;
      },
      removeListener() {
        return writable;
      },
    };
    const clock = new ManualClock();
    // Each event is 100 KiB of bytes numbered in its first four.
    const bytesOf = (e: Event): Uint8Array => {
      const b = new Uint8Array(100 * 1024);
      new DataView(b.buffer).setUint32(0, (e as unknown as { n: number }).n);
      return b;
    };
    const limits = { maxQueuedEvents: 1000, stallTimeoutMs: 60_000, maxPendingBytes: 1024 * 1024, backedUpEvents: 1000 };
    const stream = new EventStream(writable as never, bytesOf, () => {}, () => assert.fail("no stall"), clock, limits);
    const event = (n: number): Event => ({ $typeName: "dcos.v1.Event", kind: { case: "heartbeat", value: { $typeName: "dcos.v1.Event.Heartbeat" } }, n }) as unknown as Event;
    for (let i = 0; i < 30; i++) stream.send(event(i));
    // 11 writes of 100 KiB pass 1 MiB: the 11th is written, then the stream waits.
    assert.equal(written.length, 11);
    assert.equal(stream.blocked, true);
    assert.equal(stream.pendingBytes, 11 * 100 * 1024);
    assert.equal(stream.queued, 19);
    // HTTP/2 takes five: 600 KiB pending, still above half the bound (512 KiB).
    for (const w of written.slice(0, 5)) w.done();
    assert.equal(written.length, 11, "still waiting");
    // The sixth brings it to 500 KiB: writing goes on until the bound again.
    written[5]!.done();
    assert.equal(stream.blocked, true, "blocked again once past the bound");
    assert.equal(written.length, 17, "six more written (500 KiB + 6 x 100 KiB > 1 MiB)");
    // HTTP/2 takes everything as it comes: every event is written once, in order.
    for (let i = 6; i < written.length; i++) written[i]!.done();
    assert.deepEqual(
      written.map((w) => w.n),
      Array.from({ length: 30 }, (_, i) => i),
    );
    assert.equal(stream.blocked, false);
    assert.equal(stream.queued, 0);
    assert.equal(stream.pendingBytes, 0);
  });
});
