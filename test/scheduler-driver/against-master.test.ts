import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { RunTaskSchema, StatusUpdateAcknowledgementSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { create } from "@bufbuild/protobuf";
import { MaintenanceScheduleSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { InverseOffer, Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { InverseOfferStatus_Status } from "../../src/gen/dcos/v1/operator_pb.js";
import { maintenanceStatus } from "../../src/actors/master/maintenance.js";
import { TaskState, TaskStatus_Reason, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import type { SchedulerDriverOptions } from "../../src/actors/scheduler-driver/options.js";
import { DriverState } from "../../src/actors/scheduler-driver/state.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { MasterEndpoint } from "../support/master-endpoint.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";
import { ActorSystem } from "../../src/runtime/system.js";

const SEED = testSeed(17);

interface Framework {
  driver: SchedulerDriver;
  offers: Offer[];
  updates: TaskStatus[];
  disconnects: DcosError[];
}

function framework(t: TestContext, master: MasterEndpoint, options: Partial<SchedulerDriverOptions> = {}): Framework {
  const offers: Offer[] = [];
  const updates: TaskStatus[] = [];
  const disconnects: DcosError[] = [];
  const driver = new SchedulerDriver({
    masters: master.address,
    framework: { name: "driver-test", roles: ["*"], user: "nobody", failoverTimeout: 60 },
    clock: master.cluster.clock,
    logger: testLogger(),
    random: new Random(SEED),
    callbacks: { offers: (o) => offers.push(...o), update: (s) => updates.push(s), disconnected: (e) => disconnects.push(e!) },
    ...options,
  });
  t.after(() => driver.stop());
  return { driver, offers, updates, disconnects };
}

async function startMaster(t: TestContext): Promise<MasterEndpoint> {
  const master = await MasterEndpoint.start({ agents: 1, agentResources: "cpus:4;mem:4096;ports:[31000-31010]" });
  t.after(() => master.stop());
  return master;
}

/** Subscribes, lets the allocator run, launches one command task on the first offer. */
async function launchOne(master: MasterEndpoint, fw: Framework): Promise<string> {
  await fw.driver.start();
  await master.cluster.allocate();
  await waitFor(() => fw.offers.length > 0, "an offer from the master");
  const offer = fw.offers[0]!;
  const resources = pickResources(offer, { cpus: 1, mem: 128, ports: 1 });
  assert.ok(resources, "the offer fits one small task");
  const task = commandTask({ command: "sleep 10", offer, resources, name: "sleeper" });
  await fw.driver.launch([offer.id!.value], [task]);
  const agent = master.cluster.agents[0]!;
  await waitFor(() => agent.messages(RunTaskSchema).length === 1, "RunTask at the agent");
  return task.taskId!.value;
}

describe("SchedulerDriver against the real master over gRPC", () => {
  it("subscribes, gets an offer, launches, hears the updates and acknowledges them implicitly", async (t) => {
    const master = await startMaster(t);
    const fw = framework(t, master);
    const taskId = await launchOne(master, fw);
    const agent = master.cluster.agents[0]!;
    const run = agent.messages(RunTaskSchema)[0]!;
    assert.equal(run.task?.taskId?.value, taskId);
    assert.equal(run.frameworkInfo?.id?.value, fw.driver.frameworkId);
    // As the agent's status update manager does: the next update only after the last was acknowledged.
    const acked = (uuid: Uint8Array): boolean => agent.messages(StatusUpdateAcknowledgementSchema).some((a) => Buffer.from(a.uuid).equals(uuid));
    const running = agent.update(fw.driver.frameworkId!, taskId, TaskState.RUNNING);
    await waitFor(() => acked(running), "the implicit acknowledgement of RUNNING at the agent");
    const finished = agent.update(fw.driver.frameworkId!, taskId, TaskState.FINISHED, { message: "Command exited with status 0" });
    await waitFor(() => acked(finished), "the implicit acknowledgement of FINISHED at the agent");
    const states = fw.updates.filter((u) => u.taskId?.value === taskId && u.reason !== TaskStatus_Reason.RECONCILIATION).map((u) => TaskState[u.state]);
    assert.deepEqual(states, ["RUNNING", "FINISHED"]);
  });

  it("rejects calls the master refuses with the master's status", async (t) => {
    const master = await startMaster(t);
    const fw = framework(t, master);
    await fw.driver.start();
    await assert.rejects(fw.driver.kill(""), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /task_id/.test((e as Error).message));
    await assert.rejects(
      fw.driver.revive(["not-mine"]),
      (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /not-mine/.test((e as Error).message),
    );
    await fw.driver.revive();
  });

  it("a REVIVE asked while the Subscribe is on its way reaches the master once SUBSCRIBED: the framework that subscribed suppressed gets offers", async (t) => {
    const master = await startMaster(t);
    const fw = framework(t, master, { suppressedRoles: ["*"] });
    const subscribed = fw.driver.start();
    // In the driver's mailbox after start(): the Subscribe has left (suppressed), SUBSCRIBED has not come.
    await assert.rejects(fw.driver.revive(), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE));
    await subscribed;
    // The master offers its agent only once the REVIVE the driver sends after SUBSCRIBED has reached it.
    await waitFor(async () => {
      await master.cluster.allocate();
      return fw.offers.length > 0;
    }, "an offer: the master heard the REVIVE");
    assert.equal(fw.driver.state, DriverState.SUBSCRIBED);
  });

  it("an acknowledgement the master matches to no pending update rejects NOT_FOUND alone, in a batch or by itself; so does declining an unknown offer", async (t) => {
    const master = await startMaster(t);
    const fw = framework(t, master, { implicitAcknowledgements: false });
    const taskId = await launchOne(master, fw);
    master.cluster.agents[0]!.update(fw.driver.frameworkId!, taskId, TaskState.RUNNING);
    const running = await waitFor(() => fw.updates.find((u) => u.taskId?.value === taskId && u.state === TaskState.RUNNING), "RUNNING at the framework");
    // Same turn: one AcknowledgeBatch; the second entry finds the update already acknowledged.
    const [first, second] = await Promise.allSettled([fw.driver.acknowledge(running), fw.driver.acknowledge(running)]);
    assert.equal(first.status, "fulfilled");
    assert.equal(second.status, "rejected");
    assert.ok(DcosError.is((second as PromiseRejectedResult).reason, Code.NOT_FOUND), String((second as PromiseRejectedResult).reason));
    await assert.rejects(fw.driver.acknowledge(running), (e: unknown) => DcosError.is(e, Code.NOT_FOUND) && /a duplicate/.test((e as Error).message));
    await assert.rejects(fw.driver.decline(["no-such-offer"]), (e: unknown) => DcosError.is(e, Code.NOT_FOUND) && /no-such-offer/.test((e as Error).message));
  });

  it("fails over: a new scheduler with the framework id resubscribes and reconciliation reports the running task", async (t) => {
    const master = await startMaster(t);
    const first = framework(t, master);
    const taskId = await launchOne(master, first);
    const agent = master.cluster.agents[0]!;
    agent.update(first.driver.frameworkId!, taskId, TaskState.RUNNING);
    await waitFor(() => first.updates.some((u) => u.state === TaskState.RUNNING), "RUNNING at the first scheduler");
    const frameworkId = first.driver.frameworkId!;
    await first.driver.stop(); // the scheduler process dies; failover_timeout keeps the framework
    const second = framework(t, master, { frameworkId });
    const subscribed = await second.driver.start();
    assert.equal(subscribed.frameworkId?.value, frameworkId);
    assert.equal(second.driver.state, DriverState.SUBSCRIBED);
    await waitFor(
      () => second.updates.some((u) => u.taskId?.value === taskId && u.state === TaskState.RUNNING),
      "the reconciliation answer for the running task",
    );
  });

  for (const batches of [true, false]) {
    it(`reconciliation answers reach the update callback one by one, in order, ${batches ? "unpacked from UPDATES events" : "one UPDATE each without acceptUpdateBatches"}`, async (t) => {
      const master = await startMaster(t);
      const system = new ActorSystem({ clock: master.cluster.clock, logger: testLogger() });
      t.after(() => system.stop());
      const fw = framework(t, master, { system, acceptUpdateBatches: batches, reconcileOnSubscribe: false });
      await fw.driver.start();
      const ids = Array.from({ length: 1200 }, (_, i) => `ghost-${i}`);
      await fw.driver.reconcile(ids.map((id) => ({ taskId: id, agentId: "agent-never-admitted" })));
      await waitFor(() => fw.updates.length >= 1200, "1,200 reconciliation answers");
      assert.deepEqual(
        fw.updates.map((u) => u.taskId?.value),
        ids,
      );
      assert.ok(fw.updates.every((u) => u.state === TaskState.UNKNOWN && u.reason === TaskStatus_Reason.RECONCILIATION));
      const received = system.metrics.value("scheduler_driver/update_batches_received") ?? 0;
      if (batches) assert.ok(received >= 3, `1,200 answers of one turn come in UPDATES events of at most 500 (${received})`);
      else assert.equal(received, 0);
      assert.ok((system.metrics.value("scheduler_driver/events_received") ?? 0) >= 1200, "each update counts as an event");
    });
  }

  it("tears the framework down: its task is killed at the agent, and the stream's end is expected", async (t) => {
    const master = await startMaster(t);
    const fw = framework(t, master);
    const taskId = await launchOne(master, fw);
    await fw.driver.teardown();
    assert.equal(fw.driver.state, DriverState.STOPPED);
    assert.deepEqual(fw.disconnects, [], "the master closing the stream on TEARDOWN is no disconnection");
    await master.cluster.clock.settle();
    const agent = master.cluster.agents[0]!;
    await waitFor(() => agent.received.some((m) => m.$typeName === "dcos.v1.ShutdownFramework" || m.$typeName === "dcos.v1.KillTask"), `the agent told to stop ${taskId}`);
  });

  it("hears inverse offers for a machine with maintenance ahead and answers them (accept, then NOT_FOUND for an unknown one)", async (t) => {
    const master = await startMaster(t);
    const inverse: InverseOffer[] = [];
    const fwOffers: Offer[] = [];
    const driver = new SchedulerDriver({
      masters: master.address,
      framework: { name: "maintenance-test", roles: ["*"], user: "nobody", failoverTimeout: 60 },
      clock: master.cluster.clock,
      logger: testLogger(),
      random: new Random(SEED),
      callbacks: { offers: (o) => fwOffers.push(...o), inverseOffers: (io) => inverse.push(...io) },
    });
    t.after(() => driver.stop());
    await launchOne(master, { driver, offers: fwOffers, updates: [], disconnects: [] });
    const start = master.cluster.clock.now() / 1000 + 3600;
    await master.cluster.facade.updateMaintenanceSchedule(create(MaintenanceScheduleSchema, { windows: [{ machineIds: [{ hostname: "host1" }], unavailability: { startSeconds: start, durationSeconds: 60 } }] }));
    await waitFor(() => inverse.length === 1, "an inverse offer at the driver");
    assert.equal(inverse[0]!.agentId?.value, master.cluster.agents[0]!.agentId);
    assert.equal(inverse[0]!.unavailability?.startSeconds, start);
    await driver.acceptInverseOffers([inverse[0]!.id!.value]);
    const status = await master.cluster.facade.inspect(maintenanceStatus);
    assert.equal(status.drainingMachines[0]?.statuses[0]?.status, InverseOfferStatus_Status.ACCEPT);
    await assert.rejects(driver.declineInverseOffers(["no-such-inverse-offer"]), (err: unknown) => err instanceof DcosError && err.code === Code.NOT_FOUND);
  });
});
