import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { StatusUpdateAcknowledgementSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { AcknowledgeBatchRequestSchema, type AcknowledgementSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

type Ack = MessageInitShape<typeof AcknowledgementSchema>;

function batch(c: Cluster, s: Scheduler, acknowledgements: Ack[]): Promise<{ ignored?: { index?: number; reason?: string }[] }> {
  return c.facade.acknowledgeBatch(create(AcknowledgeBatchRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, acknowledgements }));
}

/** Three tasks on one agent, each with a RUNNING update awaiting acknowledgement. */
async function threeRunning(): Promise<{ c: Cluster; s: Scheduler; uuids: Uint8Array[] }> {
  const c = (cluster = await Cluster.start());
  const s = await c.subscribe("fw");
  await c.launch(s, s.sink.offers(), ["t1", "t2", "t3"].map((id) => commandTask(id, "cpus:1;mem:128")));
  const agent = c.agents[0]!;
  const uuids = ["t1", "t2", "t3"].map((id) => agent.update(s.frameworkId, id, TaskState.RUNNING));
  await c.clock.settle();
  return { c, s, uuids };
}

describe("master: AcknowledgeBatch", () => {
  it("acknowledges several updates in one call, each as one ACKNOWLEDGE (mismatches answered in `ignored` and counted)", async () => {
    const { c, s, uuids } = await threeRunning();
    const agentId = { value: c.agents[0]!.agentId };
    const answer = await batch(c, s, [
      { agentId, taskId: { value: "t1" }, uuid: uuids[0] },
      { agentId, taskId: { value: "t3" }, uuid: uuids[2] },
      { agentId, taskId: { value: "t2" }, uuid: uuids[0] },
    ]);
    await c.clock.settle();
    const forwarded = c.agents[0]!.messages(StatusUpdateAcknowledgementSchema).map((a) => a.taskId?.value);
    assert.deepEqual(forwarded, ["t1", "t3"]);
    assert.equal(c.metric("master/messages_acknowledge"), 3);
    assert.equal(c.metric("master/valid_status_update_acknowledgements"), 2);
    assert.equal(c.metric("master/invalid_status_update_acknowledgements"), 1, "t2 with t1's uuid");
    assert.equal(answer.ignored?.length, 1);
    assert.equal(answer.ignored![0]!.index, 2);
    assert.match(answer.ignored![0]!.reason ?? "", /No status update of task 't2' .* awaits this acknowledgement: the uuid is not that of the update awaiting acknowledgement/);
  });

  it("a malformed entry fails the whole call with INVALID_ARGUMENT naming it, and nothing is applied", async () => {
    const { c, s, uuids } = await threeRunning();
    const agentId = { value: c.agents[0]!.agentId };
    await assert.rejects(
      batch(c, s, [
        { agentId, taskId: { value: "t1" }, uuid: uuids[0] },
        { agentId, taskId: { value: "t2" } },
      ]),
      (e: DcosError) => e.code === Code.INVALID_ARGUMENT && /acknowledgements\[1\]\.uuid is required/.test(e.message),
    );
    await assert.rejects(batch(c, s, []), (e: DcosError) => e.code === Code.INVALID_ARGUMENT && /at least one/.test(e.message));
    await c.clock.settle();
    assert.equal(c.agents[0]!.messages(StatusUpdateAcknowledgementSchema).length, 0);
  });
});
