import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { CheckpointResourcesSchema, RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { Offer_OperationSchema, type Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { ReservationInfo_Type, ResourceSchema, Volume_Mode, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { AcceptRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../src/resources/index.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function scalar(name: string, value: number, opts: { role?: string; principal?: string; volume?: { id: string; path: string } } = {}): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.SCALAR,
    scalar: { value },
    reservations: opts.role ? [{ type: ReservationInfo_Type.DYNAMIC, role: opts.role, principal: opts.principal ?? "" }] : [],
    allocationInfo: opts.role ? { role: opts.role } : undefined,
    disk: opts.volume ? { persistence: { id: opts.volume.id }, volume: { containerPath: opts.volume.path, mode: Volume_Mode.RW } } : undefined,
  });
}

async function accept(c: Cluster, s: Scheduler, offers: Offer[], operations: NonNullable<MessageInitShape<typeof Offer_OperationSchema>["kind"]>[], refuseSeconds = 0): Promise<void> {
  await c.facade.accept(
    create(AcceptRequestSchema, {
      frameworkId: { value: s.frameworkId },
      streamId: s.streamId,
      offerIds: offers.map((o) => o.id!),
      operations: operations.map((kind) => create(Offer_OperationSchema, { kind })),
      filters: { refuseSeconds },
    }),
  );
  await c.clock.settle();
}

/** The offer's resources without allocation roles, sorted: "cpus(ops):2; cpus:2; mem:1024". */
const show = (o: Offer | undefined): string => String(Resources.of(o?.resources ?? []).unallocated()).split("; ").sort().join("; ");

function lastCheckpoint(c: Cluster): string {
  const m = c.agents[0]!.messages(CheckpointResourcesSchema).at(-1);
  return m ? String(Resources.of(m.resources)) : "none";
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(DcosError.is(e, Code.INVALID_ARGUMENT), `expected INVALID_ARGUMENT, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

function volumeTask(id: string, volume: Resource, command = "true"): TaskInfo {
  const t = commandTask(id, "cpus:1;mem:128", command);
  t.resources = [...Resources.of(t.resources).allocate("ops").toProto(), volume];
  return t;
}

describe("master: reservations and persistent volumes", () => {
  it("RESERVE: the agent checkpoints it and reserved resources are offered only to their role", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    const [offer] = ops.sink.offers();
    await accept(c, ops, [offer!], [{ case: "reserve", value: { resources: [scalar("cpus", 2, { role: "ops" })] } }], 60);
    assert.equal(lastCheckpoint(c), "cpus(ops):2", "the agent is told to checkpoint the dynamic reservation");
    const dev = await c.subscribe("dev-fw", { roles: ["dev"] });
    await c.allocate();
    assert.equal(show(dev.sink.offers().at(-1)), "cpus:2; mem:1024", "another role is offered only the unreserved part");
    assert.equal(c.metric("allocator/resources/cpus/total"), 4);
  });

  it("UNRESERVE gives the resources back to everyone", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    await accept(c, ops, [ops.sink.offers()[0]!], [{ case: "reserve", value: { resources: [scalar("cpus", 2, { role: "ops" })] } }]);
    await c.allocate();
    const again = ops.sink.offers().at(-1)!;
    assert.equal(show(again), "cpus(ops):2; cpus:2; mem:1024", "the framework is offered its reservation back");
    await accept(c, ops, [again], [{ case: "unreserve", value: { resources: [scalar("cpus", 2, { role: "ops" })] } }]);
    assert.equal(lastCheckpoint(c), "", "nothing left to checkpoint");
    await c.allocate();
    assert.equal(show(ops.sink.offers().at(-1)), "cpus:4; mem:1024");
  });

  it("refuses, with precise errors and without using the offer, reservations not in the offer, for another role or principal", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    const [offer] = ops.sink.offers();
    await rejects(
      accept(c, ops, [offer!], [{ case: "reserve", value: { resources: [scalar("cpus", 8, { role: "ops" })] } }]),
      /operation #1: RESERVE of cpus@ops:8 is not in the offered resources/,
    );
    await rejects(accept(c, ops, [offer!], [{ case: "reserve", value: { resources: [scalar("cpus", 1, { role: "dev" })] } }]), /reserved to 'dev' but offered to role 'ops'|role 'dev' of cpus is not one of framework/);
    await rejects(
      accept(c, ops, [offer!], [{ case: "unreserve", value: { resources: [scalar("cpus", 1, { role: "ops" })] } }]),
      /UNRESERVE of cpus\(ops\)@ops:1 is not in the offered resources/,
    );
    await rejects(
      accept(c, ops, [offer!], [{ case: "create", value: { volumes: [scalar("disk", 10, { role: "ops", volume: { id: "../../etc", path: "data" } })] } }]),
      /persistence id "\.\.\/\.\.\/etc" .* cannot escape the volumes directory/,
    );
    await rejects(
      accept(c, ops, [offer!], [{ case: "create", value: { volumes: [scalar("disk", 10, { role: "ops", volume: { id: "v1", path: "../outside" } })] } }]),
      /container path '\.\.\/outside', which escapes the sandbox/,
    );
    assert.equal(c.metric("master/outstanding_offers"), 1, "the offer is still outstanding");
    assert.equal(c.agents[0]!.messages(CheckpointResourcesSchema).length, 0);
  });

  it("CREATE a volume on reserved disk, use it, get it back with the role's offers, refuse DESTROY while in use, then DESTROY", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:1024;disk:1000" }));
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    const volume = scalar("disk", 100, { role: "ops", volume: { id: "db-1", path: "data" } });
    await accept(c, ops, [ops.sink.offers()[0]!], [
      { case: "reserve", value: { resources: [scalar("disk", 100, { role: "ops" }), scalar("cpus", 1, { role: "ops" })] } },
      { case: "create", value: { volumes: [volume] } },
      { case: "launch", value: { taskInfos: [volumeTask("writer", volume)] } },
    ]);
    assert.equal(lastCheckpoint(c), "cpus(ops):1; disk(ops)[db-1]:100");
    const run = c.agents[0]!.messages(RunTaskSchema).at(-1)!;
    assert.ok(run.task?.resources.some((r) => r.disk?.persistence?.id === "db-1"), "the task is sent with its volume");

    await c.allocate();
    const during = ops.sink.offers().at(-1)!;
    assert.ok(!show(during).includes("db-1"), "a volume in use is not offered");
    await rejects(accept(c, ops, [during], [{ case: "destroy", value: { volumes: [volume] } }]), /persistent volume 'db-1' is in use by task writer/);

    c.agents[0]!.update(ops.frameworkId, "writer", TaskState.FINISHED);
    await c.clock.settle();
    await c.allocate();
    const after = ops.sink.offers().at(-1)!;
    assert.match(show(after), /disk\(ops\)\[db-1\]:100/, "the volume is offered back to its role");
    await accept(c, ops, [after], [{ case: "destroy", value: { volumes: [volume] } }]);
    assert.equal(lastCheckpoint(c), "cpus(ops):1; disk(ops):100", "the disk stays reserved without the volume");
  });
});
