/**
 * UPDATES events: a scheduler that subscribed with accepts_update_batches gets the status
 * updates of one master turn as one event; one that did not gets one UPDATE per update,
 * as before. Deterministic: a fake writable, microtasks for the turn's end; then the real
 * master over gRPC answering a reconciliation of 1,200 tasks.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { EventStream, MAX_UPDATES_PER_BATCH } from "../../src/actors/master/event-stream.js";
import { subscribeResponse } from "../../src/actors/master/subscribe-encoding.js";
import { ReconcileRequestSchema, type Event, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { serve, subscribe, subscribed, unary, until, type Served, type Subscription } from "./grpc-harness.js";

function fakeStream(batchUpdates: boolean): { stream: EventStream; written: Event[]; ended: () => number } {
  const written: Event[] = [];
  let ended = 0;
  const writable = {
    destroyed: false,
    writableNeedDrain: false,
    write(chunk: SubscribeResponse): boolean {
      written.push(chunk.event!);
      return true;
    },
    once: () => writable,
    removeListener: () => writable,
  };
  const stream = new EventStream(writable as never, subscribeResponse, () => ended++, () => assert.fail("no stall"), new ManualClock(), undefined, batchUpdates);
  return { stream, written, ended: () => ended };
}

const update = (task: string): Event => ({
  $typeName: "dcos.v1.Event",
  kind: { case: "update", value: { $typeName: "dcos.v1.Event.Update", status: { taskId: { value: task }, state: TaskState.RUNNING } as never } },
});
const heartbeat = (): Event => ({ $typeName: "dcos.v1.Event", kind: { case: "heartbeat", value: { $typeName: "dcos.v1.Event.Heartbeat" } } });

/** The task ids a list of written events carries, UPDATES unpacked, with the event kinds. */
function shape(events: Event[]): string[] {
  return events.map((e) => {
    if (e.kind.case === "update") return `update:${e.kind.value.status?.taskId?.value}`;
    if (e.kind.case === "updates") return `updates:${e.kind.value.updates.map((u) => u.status?.taskId?.value).join(",")}`;
    return e.kind.case ?? "?";
  });
}

const turnEnd = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("master: UPDATES events on a batching Subscribe stream", () => {
  it("sends the updates of one turn as one UPDATES event, in order", async () => {
    const { stream, written } = fakeStream(true);
    for (const t of ["a", "b", "c"]) stream.send(update(t));
    assert.equal(written.length, 0, "held until the turn ends");
    await turnEnd();
    assert.deepEqual(shape(written), ["updates:a,b,c"]);
    assert.equal(stream.batchesSent, 1);
  });

  it("sends a lone update as the UPDATE it always was", async () => {
    const { stream, written } = fakeStream(true);
    stream.send(update("a"));
    await turnEnd();
    assert.deepEqual(shape(written), ["update:a"]);
    assert.equal(stream.batchesSent, 0);
  });

  it("keeps the order with other events: they send the updates held before them first", async () => {
    const { stream, written } = fakeStream(true);
    stream.send(update("a"));
    stream.send(update("b"));
    stream.send(heartbeat());
    stream.send(update("c"));
    stream.send(update("d"));
    await turnEnd();
    assert.deepEqual(shape(written), ["updates:a,b", "heartbeat", "updates:c,d"]);
  });

  it("splits a turn's updates at MAX_UPDATES_PER_BATCH", async () => {
    const { stream, written } = fakeStream(true);
    const n = MAX_UPDATES_PER_BATCH * 2 + 7;
    for (let i = 0; i < n; i++) stream.send(update(`t${i}`));
    await turnEnd();
    assert.deepEqual(
      written.map((e) => (e.kind.case === "updates" ? e.kind.value.updates.length : 1)),
      [MAX_UPDATES_PER_BATCH, MAX_UPDATES_PER_BATCH, 7],
    );
    const ids = written.flatMap((e) => (e.kind.case === "updates" ? e.kind.value.updates.map((u) => u.status!.taskId!.value) : []));
    assert.deepEqual(ids, Array.from({ length: n }, (_, i) => `t${i}`));
  });

  it("a close sends the held updates before the stream ends", () => {
    const { stream, written, ended } = fakeStream(true);
    stream.send(update("a"));
    stream.send(update("b"));
    stream.close();
    assert.deepEqual(shape(written), ["updates:a,b"]);
    assert.equal(ended(), 1);
  });

  it("without the capability every update is its own UPDATE event, at once", async () => {
    const { stream, written } = fakeStream(false);
    for (const t of ["a", "b", "c"]) stream.send(update(t));
    assert.deepEqual(shape(written), ["update:a", "update:b", "update:c"]);
    await turnEnd();
    assert.equal(written.length, 3);
    assert.equal(stream.batchesSent, 0);
  });
});

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

/** Asks the master about `n` tasks it does not know on an agent it never admitted: n TASK_UNKNOWN answers in one turn. */
async function reconcileUnknown(s: Served, sub: Subscription, n: number): Promise<string[]> {
  const { frameworkId, streamId } = await subscribed(s, sub);
  const agentId = "agent-never-admitted"; // not in the registry: TASK_UNKNOWN at once
  const ids = Array.from({ length: n }, (_, i) => `ghost-${i}`);
  const request = create(ReconcileRequestSchema, { frameworkId, streamId, tasks: ids.map((t) => ({ taskId: { value: t }, agentId: { value: agentId } })) });
  await unary(s.client, "reconcile", request);
  return ids;
}

function answers(sub: Subscription): string[] {
  return sub.events.flatMap((e) =>
    e.kind.case === "update" ? [e.kind.value.status!.taskId!.value] : e.kind.case === "updates" ? e.kind.value.updates.map((u) => u.status!.taskId!.value) : [],
  );
}

describe("master: reconciliation answers over gRPC", () => {
  it("reach a batching scheduler as UPDATES events of up to MAX_UPDATES_PER_BATCH, every answer once and in order", async () => {
    const s = (served = await serve({}));
    const sub = subscribe(s, "batching", { acceptsUpdateBatches: true });
    const ids = await reconcileUnknown(s, sub, 1200);
    await until(s, "1,200 answers", () => answers(sub).length >= 1200);
    assert.deepEqual(answers(sub), ids);
    const batches = sub.events.filter((e) => e.kind.case === "updates");
    assert.deepEqual(
      batches.map((e) => (e.kind.case === "updates" ? e.kind.value.updates.length : 0)),
      [500, 500, 200],
    );
    for (const e of batches) if (e.kind.case === "updates") for (const u of e.kind.value.updates) assert.equal(u.status!.state, TaskState.UNKNOWN);
    sub.call.cancel();
  });

  it("reach a scheduler that did not announce the capability as one UPDATE each", async () => {
    const s = (served = await serve({}));
    const sub = subscribe(s, "plain");
    const ids = await reconcileUnknown(s, sub, 600);
    await until(s, "600 answers", () => answers(sub).length >= 600);
    assert.deepEqual(answers(sub), ids);
    assert.equal(sub.events.filter((e) => e.kind.case === "updates").length, 0);
    assert.equal(sub.events.filter((e) => e.kind.case === "update").length, 600);
    sub.call.cancel();
  });
});
