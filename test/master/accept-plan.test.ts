/**
 * The accept pipeline (actors/master/accept.ts): the plan is pure (it reads the master and
 * changes nothing: the offer stays outstanding, no task is staged) and tells what the
 * apply step then does: which tasks launch with what, which are refused and why, what is
 * left of the offers.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { AcceptRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { applyAccept, planAccept, validateAccept } from "../../src/actors/master/accept.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("master: the accept pipeline (validate → plan → apply)", () => {
  it("validate refuses a request by its shape alone", () => {
    assert.throws(() => validateAccept(create(AcceptRequestSchema, {})), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /offer_ids must name/.test((e as Error).message));
    assert.throws(
      () => validateAccept(create(AcceptRequestSchema, { offerIds: [{ value: "o" }], operations: [{}] })),
      (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /operation #1 has no kind/.test((e as Error).message),
    );
  });

  it("plan changes nothing and says what launches, what is refused and what is left; apply carries it out", async () => {
    const c = (cluster = await Cluster.start({ agents: 1, agentResources: "cpus:4;mem:4096" }));
    const s = await c.subscribe("fw");
    const [offer] = s.sink.offers();
    assert.ok(offer, "one offer");
    const request = create(AcceptRequestSchema, {
      frameworkId: { value: s.frameworkId },
      offerIds: [offer.id!],
      operations: [{ kind: { case: "launch", value: { taskInfos: [commandTask("ok", "cpus:1;mem:128"), commandTask("too-big", "cpus:8;mem:128"), commandTask("ok", "cpus:1;mem:128")] } } }],
    });
    const plan = await c.masterSystem.dispatch(c.master, ({ core }) => planAccept(core, core.frameworks.get(s.frameworkId)!, request));
    assert.equal(plan.kind, "accepted");
    if (plan.kind !== "accepted") return;
    assert.deepEqual(
      plan.steps.map((step) => (step.kind === "refuse" ? `refuse ${step.refusal.task.taskId?.value}: ${TaskStatus_Reason[step.refusal.reason]}` : step.kind === "launch" ? `launch ${step.task.taskId?.value}` : step.kind)),
      ["launch ok", "refuse too-big: TASK_INVALID", "refuse ok: TASK_INVALID"],
    );
    assert.match(plan.steps[1]!.kind === "refuse" ? plan.steps[1]!.refusal.message : "", /uses resources not in the offers/);
    assert.match(plan.steps[2]!.kind === "refuse" ? plan.steps[2]!.refusal.message : "", /same task_id as another task in this accept/);
    assert.equal(plan.remaining.scalar("cpus"), 3, "one cpu taken by the launched task");
    const untouched = await c.facade.inspect((v) => ({ offer: v.offers.get(offer.id!.value) !== undefined, tasks: v.frameworks.get(s.frameworkId)!.tasks.size }));
    assert.deepEqual(untouched, { offer: true, tasks: 0 }, "planning left the offer outstanding and staged nothing");

    await c.masterSystem.dispatch(c.master, ({ core }) => applyAccept(core, core.frameworks.get(s.frameworkId)!, plan));
    await c.clock.settle();
    assert.deepEqual(c.agents[0]!.messages(RunTaskSchema).map((m) => m.task?.taskId?.value), ["ok"]);
    assert.deepEqual(
      s.sink.updates().map((u) => [u.taskId?.value, TaskState[u.state]]),
      [
        ["too-big", "ERROR"],
        ["ok", "ERROR"],
      ],
    );
    const after = await c.facade.inspect((v) => ({ offer: v.offers.get(offer.id!.value) !== undefined, tasks: v.frameworks.get(s.frameworkId)!.tasks.size }));
    assert.deepEqual(after, { offer: false, tasks: 1 });
  });

  it("offers that are not valid plan as dropped: every task TASK_DROPPED on apply", async () => {
    const c = (cluster = await Cluster.start({ agents: 1 }));
    const s = await c.subscribe("fw");
    const request = create(AcceptRequestSchema, {
      frameworkId: { value: s.frameworkId },
      offerIds: [{ value: "no-such-offer" }],
      operations: [{ kind: { case: "launch", value: { taskInfos: [commandTask("t")] } } }],
    });
    const plan = await c.masterSystem.dispatch(c.master, ({ core }) => planAccept(core, core.frameworks.get(s.frameworkId)!, request));
    assert.equal(plan.kind, "dropped");
    await c.masterSystem.dispatch(c.master, ({ core }) => applyAccept(core, core.frameworks.get(s.frameworkId)!, plan));
    await c.clock.settle();
    assert.deepEqual(s.sink.updates().map((u) => [u.taskId?.value, TaskState[u.state], TaskStatus_Reason[u.reason]]), [["t", "DROPPED", "INVALID_OFFERS"]]);
  });
});
