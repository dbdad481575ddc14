/**
 * MasterMaintenanceTest: a maintenance schedule posted to the master; inverse offers to the
 * frameworks using the machines' agents, accepted or declined; machines DOWN during their
 * window (agents removed, registration refused) and UP after it — on the manual clock.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { MaintenanceScheduleSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ShutdownAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { InverseOfferStatus_Status } from "../../src/gen/dcos/v1/operator_pb.js";
import { AcceptInverseOffersRequestSchema, DeclineInverseOffersRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { maintenanceStatus } from "../../src/actors/master/maintenance.js";
import { decodeCommand, decodeRegistry, encodeOperation, encodeRegistry } from "../../src/actors/master/registry-codec.js";
import { applyOperation, emptyRegistry } from "../../src/actors/master/registry.js";
import { Code } from "../../src/runtime/error.js";
import { Cluster, commandTask, rejectsWith as rejects, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A window for host1 starting `inSeconds` from the cluster's clock, lasting `forSeconds`. */
function schedule(c: Cluster, inSeconds: number, forSeconds: number, hostname = "host1") {
  return create(MaintenanceScheduleSchema, {
    windows: [{ machineIds: [{ hostname }], unavailability: { startSeconds: c.clock.now() / 1000 + inSeconds, durationSeconds: forSeconds } }],
  });
}

/** Frameworks a and b (b partition-aware), each with one task RUNNING on host1. */
async function twoFrameworksOnHost1(c: Cluster): Promise<{ a: Scheduler; b: Scheduler; agentId: string }> {
  const agentId = c.agents[0]!.agentId!;
  const a = await c.subscribe("a");
  await c.launch(a, a.sink.offers().filter((o) => o.agentId!.value === agentId), [commandTask("ta", "cpus:1;mem:128")]);
  const b = await c.subscribe("b", { partitionAware: true });
  await c.allocate();
  await c.launch(b, b.sink.offers().filter((o) => o.agentId!.value === agentId), [commandTask("tb", "cpus:1;mem:128")]);
  c.agents[0]!.update(a.frameworkId, "ta", TaskState.RUNNING);
  c.agents[0]!.update(b.frameworkId, "tb", TaskState.RUNNING);
  await c.clock.settle();
  a.sink.clear();
  b.sink.clear();
  return { a, b, agentId };
}

describe("MasterMaintenanceTest", () => {
  it("InverseOffersAcceptedDeclined: frameworks using the machine get inverse offers; the master records who agreed", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { a, b, agentId } = await twoFrameworksOnHost1(c);
    await c.facade.updateMaintenanceSchedule(schedule(c, 3600, 600));
    await c.clock.settle();
    const [ia] = a.sink.of("inverseOffers").flatMap((e) => e.inverseOffers);
    const [ib] = b.sink.of("inverseOffers").flatMap((e) => e.inverseOffers);
    assert.equal(ia?.agentId?.value, agentId);
    assert.equal(ia?.machineId?.hostname, "host1");
    assert.equal(ib?.agentId?.value, agentId);
    await c.facade.acceptInverseOffers(create(AcceptInverseOffersRequestSchema, { frameworkId: { value: a.frameworkId }, streamId: a.streamId, inverseOfferIds: [ia!.id!] }));
    await c.facade.declineInverseOffers(create(DeclineInverseOffersRequestSchema, { frameworkId: { value: b.frameworkId }, streamId: b.streamId, inverseOfferIds: [ib!.id!] }));
    const status = await c.facade.inspect(maintenanceStatus);
    assert.equal(status.drainingMachines.length, 1);
    const answers = new Map(status.drainingMachines[0]!.statuses.map((s) => [s.frameworkId!.value, s.status]));
    assert.deepEqual(answers, new Map([[a.frameworkId, InverseOfferStatus_Status.ACCEPT], [b.frameworkId, InverseOfferStatus_Status.DECLINE]]));
    // An answered inverse offer has ended: answering it again (or b answering a's) names it.
    await assert.rejects(
      c.facade.acceptInverseOffers(create(AcceptInverseOffersRequestSchema, { frameworkId: { value: b.frameworkId }, streamId: b.streamId, inverseOfferIds: [ia!.id!] })),
      rejects(Code.NOT_FOUND, /is not an outstanding inverse offer\(s\) of framework/),
    );
    await assert.rejects(
      c.facade.acceptInverseOffers(create(AcceptInverseOffersRequestSchema, { frameworkId: { value: a.frameworkId }, streamId: a.streamId, inverseOfferIds: [ia!.id!] })),
      rejects(Code.NOT_FOUND, new RegExp(`${ia!.id!.value} is not an outstanding inverse offer`)),
    );
    // As in Mesos, a framework still using the agent is asked again once its answer's filter
    // (refuse_seconds, default 5 s) has run out; the recorded answers stay meanwhile.
    await c.clock.advance(4_000);
    assert.equal(a.sink.of("inverseOffers").length, 1, "not within refuse_seconds of the answer");
    await c.clock.advance(2_000);
    const [ia2] = a.sink.of("inverseOffers").slice(1).flatMap((e) => e.inverseOffers);
    assert.equal(b.sink.of("inverseOffers").length, 2, "b (declined) is asked again too");
    assert.equal(ia2?.agentId?.value, agentId);
    assert.notEqual(ia2?.id?.value, ia!.id!.value, "a new inverse offer");
    const again = new Map((await c.facade.inspect(maintenanceStatus)).drainingMachines[0]!.statuses.map((s) => [s.frameworkId!.value, s.status]));
    assert.equal(again.get(a.frameworkId), InverseOfferStatus_Status.ACCEPT, "the latest answer is kept while the new inverse offer is outstanding");
    // Moving the window rescinds the outstanding inverse offers and forgets the answers; the
    // moved window is offered afresh.
    await c.facade.updateMaintenanceSchedule(schedule(c, 7200, 600));
    await c.clock.settle();
    assert.equal(a.sink.of("rescindInverseOffer")[0]?.inverseOfferId?.value, ia2!.id!.value);
    assert.equal(a.sink.of("inverseOffers").length, 3, "a fresh inverse offer for the moved window");
    const fresh = (await c.facade.inspect(maintenanceStatus)).drainingMachines[0]!.statuses;
    assert.deepEqual(fresh.map((s) => s.status), [InverseOfferStatus_Status.UNSPECIFIED, InverseOfferStatus_Status.UNSPECIFIED]);
  });

  it("InverseOffersForFrameworksArrivingLater: a framework that starts using the agent after the schedule was set gets inverse offers; offers carry the unavailability", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const host1 = c.agents[0]!.agentId!;
    await c.facade.updateMaintenanceSchedule(schedule(c, 3600, 600));
    await c.clock.settle();
    // Nobody uses host1 yet: nothing to ask.
    assert.deepEqual((await c.facade.inspect(maintenanceStatus)).drainingMachines[0]!.statuses, []);
    // A framework subscribing now is offered both agents; the offer of host1 says when it
    // goes away, and holding it is using the agent: an inverse offer follows.
    const late = await c.subscribe("late");
    await c.allocate();
    const offers = late.sink.offers();
    const on1 = offers.find((o) => o.agentId!.value === host1)!;
    const on2 = offers.find((o) => o.agentId!.value !== host1)!;
    assert.equal(on1.unavailability?.durationSeconds, 600);
    assert.equal(on2.unavailability, undefined, "host2 has no maintenance");
    await c.clock.advance(1_000);
    const inverse = late.sink.of("inverseOffers").flatMap((e) => e.inverseOffers);
    assert.deepEqual(inverse.map((io) => io.agentId?.value), [host1], "one inverse offer, for host1 only");
    // It launches there anyway, declines, and keeps being asked while its task runs there.
    await c.launch(late, [on1], [commandTask("t1", "cpus:1;mem:128")]);
    c.agents[0]!.update(late.frameworkId, "t1", TaskState.RUNNING);
    await c.facade.declineInverseOffers(create(DeclineInverseOffersRequestSchema, { frameworkId: { value: late.frameworkId }, streamId: late.streamId, inverseOfferIds: [inverse[0]!.id!], filters: { refuseSeconds: 30 } }));
    await c.clock.advance(29_000);
    assert.equal(late.sink.of("inverseOffers").length, 1, "refuse_seconds honoured");
    await c.clock.advance(2_000);
    assert.equal(late.sink.of("inverseOffers").length, 2, "asked again after refuse_seconds");
    // A framework that subscribes anew (failover) gets a new inverse offer on its new stream.
    const again = await c.subscribe("late", { id: late.frameworkId, failoverTimeout: 60 });
    await c.clock.advance(1_000);
    assert.equal(again.sink.of("inverseOffers").flatMap((e) => e.inverseOffers)[0]?.agentId?.value, host1);
    await assert.rejects(
      c.facade.declineInverseOffers(create(DeclineInverseOffersRequestSchema, { frameworkId: { value: late.frameworkId }, streamId: again.streamId, inverseOfferIds: [{ value: "x" }], filters: { refuseSeconds: -1 } })),
      rejects(Code.INVALID_ARGUMENT, /refuse_seconds -1/),
    );
  });

  it("MachineDownUp: at the window's start the machine's agent leaves and may not register; at its end it may", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { a, b, agentId } = await twoFrameworksOnHost1(c);
    await c.facade.updateMaintenanceSchedule(schedule(c, 60, 30));
    await c.clock.advance(59_000);
    assert.ok(c.registrar.state().agents.has(agentId), "still up before the window");
    await c.clock.advance(1_000);
    assert.equal(c.registrar.state().agents.has(agentId), false, "removed at the window's start");
    assert.equal(a.sink.updates().at(-1)?.state, TaskState.LOST, "a framework that is not partition-aware hears TASK_LOST");
    assert.equal(b.sink.updates().at(-1)?.state, TaskState.GONE_BY_OPERATOR, "a partition-aware one hears TASK_GONE_BY_OPERATOR");
    assert.match(c.agents[0]!.messages(ShutdownAgentSchema).at(-1)!.message, /down for maintenance/);
    const status = await c.facade.inspect(maintenanceStatus);
    assert.deepEqual(status.downMachines.map((m) => m.hostname), ["host1"]);

    const host1 = c.agents[0]!;
    const shutdowns = host1.messages(ShutdownAgentSchema).length;
    host1.register();
    await c.clock.settle();
    assert.match(host1.messages(ShutdownAgentSchema).at(-1)?.message ?? "", /machine host1 is down for maintenance until/, "registration refused while down");
    assert.equal(host1.messages(ShutdownAgentSchema).length, shutdowns + 1);
    assert.equal(c.metric("master/slaves_active"), 1);

    await c.clock.advance(30_000);
    host1.register();
    await c.clock.settle();
    assert.equal(host1.messages(ShutdownAgentSchema).length, shutdowns + 1, "the machine is up again: not refused");
    assert.equal(c.metric("master/slaves_active"), 2);
    assert.deepEqual((await c.facade.inspect(maintenanceStatus)).downMachines, []);
  });

  it("MachineDownUpByOperator: StartMaintenance takes a DRAINING machine down at once until StopMaintenance brings it up and out of the schedule", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { a, agentId } = await twoFrameworksOnHost1(c);
    await c.facade.updateMaintenanceSchedule(schedule(c, 3600, 600));
    await c.clock.settle();
    await assert.rejects(c.facade.startMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: "host9", ip: "" }]), rejects(Code.INVALID_ARGUMENT, /machine host9 is not in the maintenance schedule/));
    await assert.rejects(c.facade.startMaintenance([]), rejects(Code.INVALID_ARGUMENT, /machines is empty/));
    await assert.rejects(c.facade.stopMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: "host1", ip: "" }]), rejects(Code.FAILED_PRECONDITION, /machine host1 is DRAINING, not DOWN/));

    await c.facade.startMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: "host1", ip: "" }]);
    await c.clock.settle();
    assert.equal(c.registrar.state().agents.has(agentId), false, "removed at once, an hour before the window");
    assert.equal(a.sink.updates().at(-1)?.state, TaskState.LOST);
    assert.deepEqual(c.registrar.state().downMachines.map((m) => m.hostname), ["host1"]);
    assert.deepEqual((await c.facade.inspect(maintenanceStatus)).downMachines.map((m) => m.hostname), ["host1"]);
    await assert.rejects(c.facade.startMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: "host1", ip: "" }]), rejects(Code.FAILED_PRECONDITION, /machine host1 is DOWN, not DRAINING/));
    await assert.rejects(c.facade.updateMaintenanceSchedule(create(MaintenanceScheduleSchema)), rejects(Code.FAILED_PRECONDITION, /machine host1 is down; it stays in the schedule until it is brought up/));
    const host1 = c.agents[0]!;
    host1.register();
    await c.clock.settle();
    assert.match(host1.messages(ShutdownAgentSchema).at(-1)?.message ?? "", /machine host1 is down for maintenance until an operator brings it up/);
    // Past the window's end it stays down: the operator decides.
    await c.clock.advance(4_300_000);
    host1.register();
    await c.clock.settle();
    assert.equal(c.metric("master/slaves_active"), 1, "still refused after the window");

    await c.facade.stopMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: "host1", ip: "" }]);
    assert.deepEqual(c.registrar.state().maintenance.windows, [], "host1 left the schedule (its window had no other machine)");
    assert.deepEqual(c.registrar.state().downMachines, []);
    host1.register();
    await c.clock.settle();
    assert.equal(c.metric("master/slaves_active"), 2, "registers again");

    // Both survive in Raft entries and snapshots.
    const state = emptyRegistry();
    applyOperation(state, { kind: "updateMaintenanceSchedule", schedule: create(MaintenanceScheduleSchema, { windows: [{ machineIds: [{ hostname: "h1" }, { hostname: "h2" }], unavailability: { startSeconds: 1, durationSeconds: 2 } }] }) });
    for (const kind of ["startMaintenance", "stopMaintenance"] as const) {
      const decoded = decodeCommand(encodeOperation({ kind, machines: [{ $typeName: "dcos.v1.MachineID", hostname: "h1", ip: "" }] }, 3));
      assert.ok("op" in decoded && decoded.op.kind === kind);
      if (kind === "startMaintenance") {
        applyOperation(state, decoded.op);
        assert.deepEqual(decodeRegistry(encodeRegistry(state, 3, undefined)).state.downMachines.map((m) => m.hostname), ["h1"]);
      }
    }
    applyOperation(state, { kind: "stopMaintenance", machines: [{ $typeName: "dcos.v1.MachineID", hostname: "h1", ip: "" }] });
    assert.deepEqual(state.maintenance.windows[0]!.machineIds.map((m) => m.hostname), ["h2"]);
  });

  it("the schedule is checked, kept in the registry across a master restart, and encodes in Raft entries and snapshots", async () => {
    const c = (cluster = await Cluster.start({ agents: 1 }));
    await assert.rejects(c.facade.updateMaintenanceSchedule(create(MaintenanceScheduleSchema, { windows: [{ machineIds: [], unavailability: { startSeconds: 1, durationSeconds: 1 } }] })), rejects(Code.INVALID_ARGUMENT, /window #1 names no machine/));
    await assert.rejects(c.facade.updateMaintenanceSchedule(schedule(c, 10, 0)), rejects(Code.INVALID_ARGUMENT, /duration_seconds must be > 0/));
    const twice = create(MaintenanceScheduleSchema, { windows: [schedule(c, 10, 5).windows[0]!, schedule(c, 100, 5).windows[0]!] });
    await assert.rejects(c.facade.updateMaintenanceSchedule(twice), rejects(Code.INVALID_ARGUMENT, /machine host1 is in more than one window/));
    const s = schedule(c, 600, 60);
    await c.facade.updateMaintenanceSchedule(s);
    const registrar = c.registrar;
    await c.stop();
    const next = (cluster = await Cluster.start({ agents: 0, registrar }));
    assert.deepEqual((await next.facade.inspect(maintenanceStatus)).drainingMachines.map((m) => m.id?.hostname), ["host1"]);

    const op = { kind: "updateMaintenanceSchedule" as const, schedule: s };
    const decoded = decodeCommand(encodeOperation(op, 3));
    assert.ok("op" in decoded && decoded.op.kind === "updateMaintenanceSchedule");
    const state = emptyRegistry();
    applyOperation(state, decoded.op);
    applyOperation(state, { kind: "updateAgentDrain", drain: { agentId: "a1", deactivated: true } });
    const restored = decodeRegistry(encodeRegistry(state, 3, undefined)).state;
    assert.equal(restored.maintenance.windows[0]!.machineIds[0]!.hostname, "host1");
    assert.equal(restored.drains.get("a1")?.deactivated, true);
  });
});
