import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { OperationState, Offer_OperationSchema, type Offer, type Offer_Operation } from "../../src/gen/dcos/v1/offers_pb.js";
import { ReservationInfo_Type, ResourceSchema, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { AcceptRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { Cluster, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const cpus = (value: number, role = "ops"): Resource =>
  create(ResourceSchema, { name: "cpus", type: Value_Type.SCALAR, scalar: { value }, reservations: [{ type: ReservationInfo_Type.DYNAMIC, role }], allocationInfo: { role } });

const reserve = (id: string, value: number): Offer_Operation => create(Offer_OperationSchema, { id, kind: { case: "reserve", value: { resources: [cpus(value)] } } });

async function accept(c: Cluster, s: Scheduler, offers: Offer[], operations: Offer_Operation[]): Promise<void> {
  await c.facade.accept(create(AcceptRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, offerIds: offers.map((o) => o.id!), operations, filters: { refuseSeconds: 0 } }));
  await c.clock.settle();
}

const statuses = (s: Scheduler) => s.sink.of("updateOperationStatus").map((u) => ({ id: u.status!.operationId, state: OperationState[u.status!.state], message: u.status!.message, agent: u.status!.agentId?.value }));

describe("master: operation status updates", () => {
  it("an applied RESERVE with an id gets OPERATION_FINISHED naming the agent; one without an id gets none", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    await accept(c, ops, [ops.sink.offers()[0]!], [reserve("op-1", 1), reserve("", 1)]);
    const got = statuses(ops);
    assert.equal(got.length, 1, JSON.stringify(got));
    assert.deepEqual({ ...got[0], message: undefined }, { id: "op-1", state: "FINISHED", message: undefined, agent: c.agents[0]!.agentId });
    assert.match(got[0]!.message, /RESERVE applied on agent .*: cpus:1 -> cpus\(ops\):1/);
  });

  it("a refused RESERVE with an id gets OPERATION_ERROR with the reason, and the accept fails with the same reason", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    await assert.rejects(accept(c, ops, [ops.sink.offers()[0]!], [reserve("op-1", 1), reserve("op-2", 8)]), /operation #2: RESERVE of cpus@ops:8 is not in the offered resources/);
    await c.clock.settle();
    assert.deepEqual(
      statuses(ops).map((u) => [u.id, u.state]),
      [["op-2", "ERROR"]],
      "only the refused operation is reported (nothing was applied)",
    );
    assert.match(statuses(ops)[0]!.message, /RESERVE of cpus@ops:8 is not in the offered resources/);
  });

  it("operations on offers that are no longer valid get OPERATION_ERROR saying why", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    const offer = ops.sink.offers()[0]!;
    await accept(c, ops, [offer], []);
    await accept(c, ops, [offer], [reserve("late", 1)]);
    const got = statuses(ops);
    assert.deepEqual(got.map((u) => [u.id, u.state]), [["late", "ERROR"]]);
    assert.match(got[0]!.message, new RegExp(offer.id!.value));
  });
});
