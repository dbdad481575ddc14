import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AgentPongSchema, RegisterAgentSchema, ReregisterAgentSchema, StatusUpdateSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { DEFAULT_MAX_QUEUED_RETRIED_MESSAGES, Master } from "../../src/actors/master/master.js";

/** What a busy master sheds (ActorCell.shed, runtime/mailbox-limit tests the dropping itself). */
describe("The master's shedding of retried messages", () => {
  it("sheds only agents' status updates, past the bound it is given; nothing by default", () => {
    assert.equal(DEFAULT_MAX_QUEUED_RETRIED_MESSAGES, 0);
    assert.equal(new Master({ standby: true }).shed, undefined);
    const shed = new Master({ standby: true, maxQueuedRetriedMessages: 10_000 }).shed;
    assert.ok(shed);
    assert.equal(shed.at, 10_000);
    assert.deepEqual([...shed.types], [StatusUpdateSchema.typeName]);
    for (const kept of [AgentPongSchema, RegisterAgentSchema, ReregisterAgentSchema]) assert.equal(shed.types.has(kept.typeName), false, kept.typeName);
  });

  it("takes the bound from its options, and 0 is off", () => {
    assert.equal(new Master({ standby: true, maxQueuedRetriedMessages: 500 }).shed?.at, 500);
    assert.equal(new Master({ standby: true, maxQueuedRetriedMessages: 0 }).shed, undefined);
  });
});
