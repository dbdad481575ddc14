/**
 * What the master keeps of a status update holds no view into the buffer the update was
 * decoded from (a transport frame of many agents' messages): its uuid and data are copies.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ownBytes } from "../../src/actors/master/status-updates.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("master: status updates keep their own bytes", () => {
  it("copies a uuid that is a view into a larger buffer, and keeps its value", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    await c.launch(s, s.sink.offers(), [commandTask("t1")]);
    const frame = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const uuid = frame.subarray(1000, 1016);
    c.agents[0]!.update(s.frameworkId, "t1", TaskState.RUNNING, { uuid });
    await c.clock.settle();
    const kept = await c.facade.inspect((m) => {
      const task = m.frameworks.get(s.frameworkId)!.tasks.get("t1")!;
      return { status: task.statuses.at(-1)!.uuid, pending: task.statusUpdateUuid };
    });
    for (const bytes of [kept.status, kept.pending]) {
      assert.deepEqual([...bytes], [...uuid]);
      assert.equal(bytes.buffer.byteLength, 16, "a buffer of its own, not the 64 KiB one");
    }
  });

  it("ownBytes copies views (Node Buffers too) and keeps arrays that own their buffer", () => {
    const whole = new Uint8Array([1, 2, 3]);
    assert.equal(ownBytes(whole), whole);
    const empty = new Uint8Array(0);
    assert.equal(ownBytes(empty), empty);
    const pooled = Buffer.from("a pooled Buffer shares an 8 KiB slab");
    const copy = ownBytes(pooled.subarray(2, 8));
    assert.equal(copy.buffer.byteLength, 6);
    assert.deepEqual(Buffer.from(copy).toString(), "pooled");
  });
});
