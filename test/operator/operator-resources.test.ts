import assert from "node:assert/strict";
import { create, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, it } from "node:test";
import { CheckpointResourcesSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { OperatorService } from "../../src/gen/dcos/v1/operator_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { addOperatorService } from "../../src/operator/operator-service.js";
import { Resources } from "../../src/resources/index.js";
import { Cluster, commandTask } from "../master/harness.js";
import { serveOnLoopback, unary, type Loopback } from "../support/grpc-loopback.js";
import { scalar } from "../support/resources.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";

let served: (Loopback & { c: Cluster }) | undefined;
afterEach(async () => {
  if (!served) return;
  served.close();
  await served.c.stop();
  served = undefined;
});

async function serve(): Promise<Loopback & { c: Cluster }> {
  const c = await Cluster.start({ agentResources: "cpus:4;mem:1024;disk:1000" });
  const loopback = await serveOnLoopback(OperatorService as DescService, (server) => addOperatorService(server, { master: c.facade, metrics: c.masterSystem.metrics, version: "test" }));
  return (served = { ...loopback, c });
}

async function call(s: Loopback & { c: Cluster }, method: string, field: "resources" | "volumes", list: Resource[], agentId = s.c.agents[0]!.agentId): Promise<void> {
  const input = OperatorService.method[method as keyof typeof OperatorService.method].input;
  await unary(s.client, method, create(input, { agentId: { value: agentId }, [field]: list } as never));
  await s.c.clock.settle();
}

async function fails(p: Promise<unknown>, code: grpc.status, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `expected ${grpc.status[code]}, got ${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, pattern);
    return true;
  });
}

const lastCheckpoint = (c: Cluster): string => String(Resources.of(c.agents[0]!.messages(CheckpointResourcesSchema).at(-1)?.resources ?? []));
const show = (o: Offer | undefined): string => String(Resources.of(o?.resources ?? []).unallocated()).split("; ").sort().join("; ");

describe("Operator gRPC service: reservations and volumes", () => {
  it("RESERVE_RESOURCES rescinds the agent's offers, the agent checkpoints it, and the reservation is offered only to its role", async () => {
    const s = await serve();
    const dev = await s.c.subscribe("dev-fw", { roles: ["dev"] });
    assert.equal(dev.sink.offers().length, 1, "dev holds an offer of the whole agent");
    await call(s, "reserveResources", "resources", [scalar("cpus", 2, "ops"), scalar("disk", 100, "ops")]);
    assert.equal(lastCheckpoint(s.c), "cpus(ops):2; disk(ops):100");
    assert.equal(s.c.metric("master/offers_rescinded"), 1, "the offer made of the old resources is rescinded");
    await s.c.allocate();
    assert.equal(show(dev.sink.offers().at(-1)), "cpus:2; disk:900; mem:1024", "dev is offered only the unreserved part");
    const ops = await s.c.subscribe("ops-fw", { roles: ["ops"] });
    await s.c.allocate();
    assert.equal(show(ops.sink.offers().at(-1)), "cpus(ops):2; disk(ops):100", "ops gets its reservation");
  });

  it("CREATE_VOLUMES on reserved disk, DESTROY_VOLUMES refused while a task uses it, then DESTROY and UNRESERVE", async () => {
    const s = await serve();
    await call(s, "reserveResources", "resources", [scalar("disk", 100, "ops"), scalar("cpus", 1, "ops")]);
    await call(s, "createVolumes", "volumes", [scalar("disk", 100, "ops", "db-1")]);
    assert.equal(lastCheckpoint(s.c), "cpus(ops):1; disk(ops)[db-1]:100");
    const ops = await s.c.subscribe("ops-fw", { roles: ["ops"] });
    const offer = ops.sink.offers().at(-1)!;
    assert.match(show(offer), /disk\(ops\)\[db-1\]:100/, "the volume is offered to its role");
    const task = commandTask("db", "cpus:1;mem:128");
    task.resources = [...Resources.of(task.resources).allocate("ops").toProto(), ...Resources.of([scalar("disk", 100, "ops", "db-1")]).allocate("ops").toProto()];
    await s.c.launch(ops, [offer], [task]);
    await fails(call(s, "destroyVolumes", "volumes", [scalar("disk", 100, "ops", "db-1")]), grpc.status.INVALID_ARGUMENT, /DESTROY_VOLUMES on agent .*: DESTROY: persistent volume 'db-1' is in use by task db/);
    s.c.agents[0]!.update(ops.frameworkId, "db", TaskState.FINISHED);
    await s.c.clock.settle();
    await call(s, "destroyVolumes", "volumes", [scalar("disk", 100, "ops", "db-1")]);
    assert.equal(lastCheckpoint(s.c), "cpus(ops):1; disk(ops):100");
    await call(s, "unreserveResources", "resources", [scalar("disk", 100, "ops"), scalar("cpus", 1, "ops")]);
    assert.equal(lastCheckpoint(s.c), "");
  });

  it("refuses with precise errors, changing nothing", async () => {
    const s = await serve();
    await fails(call(s, "reserveResources", "resources", [scalar("cpus", 1, "ops")], "no-such-agent"), grpc.status.NOT_FOUND, /RESERVE_RESOURCES: unknown agent 'no-such-agent'/);
    await fails(call(s, "reserveResources", "resources", [scalar("cpus", 1, "ops")], ""), grpc.status.INVALID_ARGUMENT, /agent_id is required/);
    await fails(call(s, "reserveResources", "resources", []), grpc.status.INVALID_ARGUMENT, /RESERVE_RESOURCES names no resources/);
    await fails(call(s, "reserveResources", "resources", [scalar("cpus", 8, "ops")]), grpc.status.INVALID_ARGUMENT, /RESERVE of cpus@ops:8 is not in the unused resources of agent/);
    await fails(call(s, "reserveResources", "resources", [scalar("cpus", 1)]), grpc.status.INVALID_ARGUMENT, /must carry a DYNAMIC reservation/);
    await fails(call(s, "unreserveResources", "resources", [scalar("cpus", 1, "ops")]), grpc.status.INVALID_ARGUMENT, /UNRESERVE of cpus\(ops\)@ops:1 is not in the unused resources/);
    await fails(call(s, "createVolumes", "volumes", [scalar("disk", 10, "ops", "../../etc")]), grpc.status.INVALID_ARGUMENT, /cannot escape the volumes directory/);
    await fails(call(s, "createVolumes", "volumes", [scalar("disk", 10, undefined, "v1")]), grpc.status.INVALID_ARGUMENT, /must be on reserved disk; RESERVE it first/);
    assert.equal(s.c.agents[0]!.messages(CheckpointResourcesSchema).length, 0, "nothing was checkpointed");
  });
});
