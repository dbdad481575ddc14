/**
 * Clients of the public gRPC services are who they authenticated as: the attacks of
 * issue 11 on the Scheduler, Operator and ReplicatedLog services, each refused with a
 * precise status and counted.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AcceptRequestSchema, type Event } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { ContainerInfo_Type, TaskState, type TaskInfoSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Volume_Mode } from "../../src/gen/dcos/v1/resources_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { unary } from "../support/grpc-loopback.js";
import { call, services, startSecuredMaster, subscribeAs, subscribedOf, until, type SecuredMaster } from "./secured-master.js";

let m: SecuredMaster | undefined;
afterEach(async () => {
  await m?.stop();
  m = undefined;
});

async function refused(p: Promise<unknown>, code: grpc.status, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `expected ${grpc.status[code]}, got ${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, pattern);
    return true;
  });
}

const metric = (mm: SecuredMaster, key: string) => mm.cluster.masterSystem.metrics.snapshot()[key] ?? 0;

/** ACCEPT of one offer with a LAUNCH of these tasks. */
function launch(client: grpc.Client, frameworkId: string, streamId: string, offerId: string, taskInfos: MessageInitShape<typeof TaskInfoSchema>[]): Promise<unknown> {
  return unary(client, "accept", create(AcceptRequestSchema, { frameworkId: { value: frameworkId }, streamId, offerIds: [{ value: offerId }], operations: [{ kind: { case: "launch", value: { taskInfos } } }] }));
}

describe("Client authentication on the public gRPC services", () => {
  it("hijacked framework id: another principal cannot subscribe with a framework's id and principal, nor tear it down", async () => {
    m = await startSecuredMaster();
    const alice = subscribeAs(m, m.client(services.scheduler, "alice"), { name: "victim" });
    const { frameworkId, streamId } = await subscribedOf(m, alice);
    const state = await m.cluster.facade.inspect((core) => core.frameworks.get(frameworkId)!.info.principal);
    assert.equal(state, "alice", "the principal is the authenticated one, filled in by the master");

    // The attacker read the id and principal from /state and claims both.
    const bob = m.client(services.scheduler, "bob");
    const hijack = subscribeAs(m, bob, { name: "attacker", id: frameworkId, principal: "alice" });
    const s1 = await hijack.status;
    assert.equal(s1.code, grpc.status.PERMISSION_DENIED);
    assert.match(s1.details, /framework_info.principal 'alice' is not the authenticated principal 'bob'/);
    const hijack2 = subscribeAs(m, bob, { name: "attacker", id: frameworkId });
    const s2 = await hijack2.status;
    assert.equal(s2.code, grpc.status.PERMISSION_DENIED);
    assert.match(s2.details, /registered with principal 'alice', not 'bob'/);
    const anonymous = subscribeAs(m, m.client(services.scheduler, "anonymous"), { name: "attacker", id: frameworkId, principal: "alice" });
    assert.equal((await anonymous.status).code, grpc.status.UNAUTHENTICATED);

    // Even holding the stream id (e.g. leaked), bob's TEARDOWN of alice's framework is refused.
    await refused(call(bob, services.scheduler, "teardown", { frameworkId: { value: frameworkId }, streamId }), grpc.status.PERMISSION_DENIED, new RegExp(`Framework ${frameworkId} belongs to principal 'alice'`));
    await m.cluster.clock.settle();
    assert.ok(await m.cluster.facade.inspect((core) => core.frameworks.has(frameworkId)), "alice's framework is still registered");
    assert.ok(!alice.events.some((e) => e.kind.case === "error"), "alice's scheduler was not failed over");
    assert.ok(metric(m, "authorization/denied") >= 2, "the refusals are counted");
    alice.cancel();
  });

  it("anonymous operator calls are refused UNAUTHENTICATED, bad secrets too; ACLs decide what an authenticated operator may change", async () => {
    m = await startSecuredMaster({
      acls: {
        permissive: false,
        update_weights: [{ principals: { values: ["ops"] }, roles: { type: "ANY" } }],
        view_frameworks: [{ principals: { values: ["ops"] }, users: { type: "ANY" } }],
        view_tasks: [{ principals: { values: ["ops"] }, users: { type: "ANY" } }],
        view_executors: [{ principals: { values: ["ops"] }, users: { type: "ANY" } }],
        register_frameworks: [{ principals: { values: ["alice"] }, roles: { type: "ANY" } }],
        run_tasks: [{ principals: { type: "ANY" }, users: { type: "ANY" } }],
      },
    });
    const anonymous = m.client(services.operator, "anonymous");
    await refused(call(anonymous, services.operator, "getState"), grpc.status.UNAUTHENTICATED, /Authentication required/);
    await refused(call(anonymous, services.operator, "updateWeights", { weightInfos: [{ role: "web", weight: 5 }] }), grpc.status.UNAUTHENTICATED, /Authentication required/);
    await refused(call(anonymous, services.operator, "reserveResources", { agentId: { value: "a" }, resources: [] }), grpc.status.UNAUTHENTICATED, /Authentication required/);
    const forged = new (Object.getPrototypeOf(anonymous).constructor as typeof grpc.Client)(m.target, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", `Basic ${Buffer.from("ops:wrong-secret").toString("base64")}`);
    await refused(
      new Promise((resolve, reject) => (forged as unknown as Record<string, Function>)["getState"]!({}, md, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r)))),
      grpc.status.UNAUTHENTICATED,
      /Invalid credentials for principal 'ops'/,
    );
    forged.close();
    assert.ok(metric(m, "authentication/failed") >= 4);

    const bob = m.client(services.operator, "bob");
    await refused(call(bob, services.operator, "updateWeights", { weightInfos: [{ role: "web", weight: 5 }] }), grpc.status.PERMISSION_DENIED, /principal 'bob' may not update the weight of role 'web' \(ACL update_weights\)/);
    // GET_STATE is filtered per caller: bob may view no framework's user, so he sees none.
    const registered = subscribeAs(m, m.client(services.scheduler, "alice"), { name: "alice-fw" });
    await subscribedOf(m, registered);
    const bobsView = await call<{ getFrameworks?: { frameworks: unknown[] } }>(bob, services.operator, "getState");
    assert.deepEqual(bobsView.getFrameworks?.frameworks, []);
    await refused(call(bob, services.operator, "updateQuota", { quotaInfos: [{ role: "web" }] }), grpc.status.PERMISSION_DENIED, /ACL update_quotas/);
    assert.equal(metric(m, "authorization/denied/update_weights"), 1);
    const ops = m.client(services.operator, "ops");
    await call(ops, services.operator, "updateWeights", { weightInfos: [{ role: "web", weight: 5 }] });
    assert.equal(((await call<{ weightInfos: { role: string; weight: number }[] }>(ops, services.operator, "getWeights")).weightInfos[0]!).weight, 5);
    const opsView = await call<{ getFrameworks?: { frameworks: { frameworkInfo?: { name: string } }[] } }>(ops, services.operator, "getState");
    assert.deepEqual(opsView.getFrameworks?.frameworks.map((f) => f.frameworkInfo?.name), ["alice-fw"]);
    registered.cancel();
  });

  it("register_frameworks and run_tasks: a role or a user the ACLs do not give the principal is refused", async () => {
    m = await startSecuredMaster({
      acls: {
        register_frameworks: [
          { principals: { values: ["bob"] }, roles: { values: ["prod"] } },
          { principals: { type: "NONE" }, roles: { values: ["prod"] } },
        ],
        run_tasks: [
          { principals: { values: ["ops"] }, users: { values: ["root"] } },
          { principals: { type: "NONE" }, users: { values: ["root"] } },
        ],
      },
    });
    // Only bob may register in prod (the NONE rule refuses everyone else).
    const denied = await subscribeAs(m, m.client(services.scheduler, "alice"), { name: "a", roles: ["prod"] }).status;
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.match(denied.details, /principal 'alice' may not register a framework in role 'prod' \(ACL register_frameworks\)/);
    const allowed = subscribeAs(m, m.client(services.scheduler, "bob"), { name: "b", roles: ["prod"] });
    await subscribedOf(m, allowed);
    allowed.cancel();
    const alice = m.client(services.scheduler, "alice");
    const s = subscribeAs(m, alice, { name: "runner", user: "root" });
    const { frameworkId, streamId } = await subscribedOf(m, s);
    const offers = await until(m, "an offer", () => s.events.find((e) => e.kind.case === "offers"));
    const offer = (offers.kind.value as { offers: { id: { value: string }; agentId: { value: string } }[] }).offers[0]!;
    await launch(alice, frameworkId, streamId, offer.id.value, [{ name: "t", taskId: { value: "as-root" }, resources: [{ name: "cpus", type: 0, scalar: { value: 0.1 } }], command: { value: "true" } }]);
    const update = await until(m, "TASK_ERROR", () => s.events.find((e: Event) => e.kind.case === "update"));
    const status = (update.kind.value as { status: { state: TaskState; message: string } }).status;
    assert.equal(status.state, TaskState.ERROR);
    assert.match(status.message, /principal 'alice' is not authorized to run tasks as user 'root' \(ACL run_tasks/);
    assert.equal(metric(m, "authorization/denied/run_tasks"), 1);
    s.cancel();
  });
  it("mount_host_paths: a host path volume outside the prefixes the ACLs give the principal is TASK_ERROR at the master", async () => {
    m = await startSecuredMaster({
      acls: {
        mount_host_paths: [
          { principals: { values: ["alice"] }, host_paths: { values: ["/srv/shared"] } },
          { principals: { type: "ANY" }, host_paths: { type: "NONE" } },
        ],
      },
    });
    const alice = m.client(services.scheduler, "alice");
    const s = subscribeAs(m, alice, { name: "mounter" });
    const { frameworkId, streamId } = await subscribedOf(m, s);
    const offers = await until(m, "an offer", () => s.events.find((e) => e.kind.case === "offers"));
    const offer = (offers.kind.value as { offers: { id: { value: string } }[] }).offers[0]!;
    const withVolume = (id: string, hostPath: string) => ({
      name: id,
      taskId: { value: id },
      resources: [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: 0.1 } }],
      command: { value: "true" },
      container: { type: ContainerInfo_Type.MESOS, volumes: [{ hostPath, containerPath: "data", mode: Volume_Mode.RW }] },
    });
    await launch(alice, frameworkId, streamId, offer.id.value, [withVolume("outside", "/srv/shared/../secret"), withVolume("relative", "srv/shared"), withVolume("inside", "/srv/shared/web")]);
    const updates = () => s.events.filter((e: Event) => e.kind.case === "update").map((e) => (e.kind.value as { status: { taskId: { value: string }; state: TaskState; message: string } }).status);
    const refusedTask = await until(m, "TASK_ERROR", () => updates().find((u) => u.taskId.value === "outside"));
    assert.equal(refusedTask.state, TaskState.ERROR);
    assert.match(refusedTask.message, /principal 'alice' is not authorized to mount host path '\/srv\/secret' \(ACL mount_host_paths\)/, "checked on the normalized path");
    assert.equal(metric(m, "authorization/denied/mount_host_paths"), 1);
    const relative = await until(m, "TASK_ERROR", () => updates().find((u) => u.taskId.value === "relative"));
    assert.match(relative.message, /Task 'relative': host path 'srv\/shared' must be an absolute path/);
    assert.ok(await m.cluster.facade.inspect((core) => core.frameworks.get(frameworkId)!.tasks.has("inside")), `the task under the allowed prefix was launched: ${JSON.stringify(updates())}`);
    s.cancel();
  });
});
