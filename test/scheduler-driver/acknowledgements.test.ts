import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { create } from "@bufbuild/protobuf";
import { StatusUpdateAcknowledgementSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatusSchema, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import type { SchedulerDriverOptions } from "../../src/actors/scheduler-driver/options.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { FakeSchedulerServer } from "../support/fake-scheduler-server.js";
import { MasterEndpoint } from "../support/master-endpoint.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(2626);

interface AckFields {
  taskId?: { value: string };
  acknowledgements?: { taskId?: { value: string } }[];
}

function status(taskId: string, uuid: number[], agentId = "a-1"): TaskStatus {
  return create(TaskStatusSchema, { taskId: { value: taskId }, agentId: { value: agentId }, state: TaskState.RUNNING, uuid: new Uint8Array(uuid) });
}

/** Outcomes of promises, as "ok" or the error's code and message. */
async function outcomes(promises: Promise<void>[]): Promise<string[]> {
  const settled = await Promise.allSettled(promises);
  return settled.map((s) => (s.status === "fulfilled" ? "ok" : `${Code[(s.reason as DcosError).code]} ${(s.reason as Error).message}`));
}

function batchTasks(fake: FakeSchedulerServer): string[][] {
  return fake.callsOf("acknowledgeBatch").map((c) => ((c.request as AckFields).acknowledgements ?? []).map((a) => a.taskId?.value ?? "?"));
}

async function subscribed(t: TestContext, options: Partial<SchedulerDriverOptions> = {}): Promise<{ fake: FakeSchedulerServer; driver: SchedulerDriver; system: ActorSystem }> {
  const fake = await FakeSchedulerServer.start();
  const system = new ActorSystem({ clock: new ManualClock(), logger: testLogger() });
  const driver = new SchedulerDriver({
    masters: fake.address,
    framework: { name: "acks", roles: ["*"], user: "nobody" },
    system,
    random: new Random(SEED),
    reconcileOnSubscribe: false,
    implicitAcknowledgements: false,
    ...options,
  });
  t.after(async () => {
    await driver.stop();
    await system.stop();
    fake.stop();
  });
  await driver.start();
  return { fake, driver, system };
}

describe("SchedulerDriver acknowledgements against a scripted master", () => {
  it("sends the acknowledgements of one event-loop turn in one AcknowledgeBatch call, and a lone one as ACKNOWLEDGE", async (t) => {
    const { fake, driver, system } = await subscribed(t);
    const turn = [driver.acknowledge(status("t-1", [1])), driver.acknowledge(status("t-2", [2])), driver.acknowledge(status("t-3", [3]))];
    assert.deepEqual(await outcomes(turn), ["ok", "ok", "ok"]);
    assert.deepEqual(batchTasks(fake), [["t-1", "t-2", "t-3"]]);
    assert.equal(fake.callsOf("acknowledge").length, 0);
    const request = fake.callsOf("acknowledgeBatch")[0]!.request;
    assert.equal(request.frameworkId?.value, "fw-1");
    assert.equal(request.streamId, "s-1");
    await driver.acknowledge(status("t-4", [4]));
    assert.equal((fake.callsOf("acknowledge")[0]!.request as AckFields).taskId?.value, "t-4");
    assert.equal(system.metrics.value("scheduler_driver/acknowledge_calls"), 2);
    assert.equal(system.metrics.value("scheduler_driver/acknowledgements_sent"), 4);
  });

  it("acknowledges implicitly every update with a uuid exactly once, however they are batched", async (t) => {
    const { fake } = await subscribed(t, { implicitAcknowledgements: true });
    const stream = await fake.stream(1);
    for (let i = 1; i <= 20; i++) {
      stream.send({ kind: { case: "update", value: { status: { taskId: { value: `t-${i}` }, agentId: { value: "a-1" }, state: TaskState.RUNNING, uuid: new Uint8Array([i]) } } } });
    }
    const acked = (): string[] => [...batchTasks(fake).flat(), ...fake.callsOf("acknowledge").map((c) => (c.request as AckFields).taskId?.value ?? "?")];
    await waitFor(() => acked().length >= 20, "20 acknowledgements at the fake master");
    assert.deepEqual(acked().sort(), Array.from({ length: 20 }, (_, i) => `t-${i + 1}`).sort());
  });

  it("checks each acknowledgement itself: one without a uuid or agent rejects at once, the rest of its turn go together", async (t) => {
    const { fake, driver } = await subscribed(t);
    const noUuid = status("t-2", []);
    const noAgent = status("t-3", [3], "");
    const results = await outcomes([driver.acknowledge(status("t-1", [1])), driver.acknowledge(noUuid), driver.acknowledge(noAgent), driver.acknowledge(status("t-4", [4]))]);
    assert.equal(results[0], "ok");
    assert.match(results[1]!, /^INVALID_ARGUMENT .*'t-2'.*no uuid/);
    assert.match(results[2]!, /^INVALID_ARGUMENT .*'t-3'.*no agent_id/);
    assert.equal(results[3], "ok");
    assert.deepEqual(batchTasks(fake), [["t-1", "t-4"]]);
  });

  it("rejects only the entry the master refuses by index; the others go again and resolve", async (t) => {
    const { fake, driver } = await subscribed(t);
    fake.failNext("acknowledgeBatch", new DcosError(Code.INVALID_ARGUMENT, "acknowledgements[1].task_id is required"));
    const results = await outcomes([1, 2, 3].map((i) => driver.acknowledge(status(`t-${i}`, [i]))));
    assert.deepEqual(results, ["ok", "INVALID_ARGUMENT task_id is required", "ok"]);
    assert.deepEqual(batchTasks(fake), [
      ["t-1", "t-2", "t-3"],
      ["t-1", "t-3"],
    ]);
  });

  it("rejects every caller of a batch call that fails as a whole, with the master's status", async (t) => {
    const { fake, driver } = await subscribed(t);
    fake.failNext("acknowledgeBatch", new DcosError(Code.UNAVAILABLE, "the master is busy"));
    const results = await outcomes([1, 2].map((i) => driver.acknowledge(status(`t-${i}`, [i]))));
    assert.deepEqual(results, ["UNAVAILABLE the master is busy", "UNAVAILABLE the master is busy"]);
  });

  it("falls back to one ACKNOWLEDGE each, from then on, with a master that has no AcknowledgeBatch", async (t) => {
    const { fake, driver } = await subscribed(t);
    fake.failNext("acknowledgeBatch", new DcosError(Code.UNIMPLEMENTED, "unknown method AcknowledgeBatch"));
    assert.deepEqual(await outcomes([1, 2, 3].map((i) => driver.acknowledge(status(`t-${i}`, [i])))), ["ok", "ok", "ok"]);
    assert.deepEqual(await outcomes([4, 5].map((i) => driver.acknowledge(status(`t-${i}`, [i])))), ["ok", "ok"]);
    assert.equal(fake.callsOf("acknowledgeBatch").length, 1, "only the first batch was tried");
    assert.deepEqual(fake.callsOf("acknowledge").map((c) => (c.request as AckFields).taskId?.value).sort(), ["t-1", "t-2", "t-3", "t-4", "t-5"]);
  });

  it("rejects acknowledgements still waiting when the driver stops, and later ones", async (t) => {
    const { fake, driver } = await subscribed(t);
    const waiting = driver.acknowledge(status("t-1", [1]));
    const stopped = driver.stop();
    await assert.rejects(waiting, (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION));
    await stopped;
    await assert.rejects(driver.acknowledge(status("t-2", [2])), (e: unknown) => e instanceof DcosError);
    assert.equal(fake.callsOf("acknowledgeBatch").length + fake.callsOf("acknowledge").length, 0);
  });
});

describe("SchedulerDriver acknowledgements against the real master", () => {
  it("acknowledges several updates with one AcknowledgeBatch call, and each reaches its agent", async (t) => {
    const master = await MasterEndpoint.start({ agents: 1, agentResources: "cpus:4;mem:4096;ports:[31000-31010]" });
    t.after(() => master.stop());
    const system = new ActorSystem({ clock: master.cluster.clock, logger: testLogger() });
    const offers: Offer[] = [];
    const updates: TaskStatus[] = [];
    const driver = new SchedulerDriver({
      masters: master.address,
      framework: { name: "acks", roles: ["*"], user: "nobody" },
      system,
      random: new Random(SEED),
      implicitAcknowledgements: false,
      callbacks: { offers: (o) => offers.push(...o), update: (s) => updates.push(s) },
    });
    t.after(async () => {
      await driver.stop();
      await system.stop();
    });
    await driver.start();
    await master.cluster.allocate();
    await waitFor(() => offers.length > 0, "an offer from the master");
    const offer = offers[0]!;
    const tasks = [1, 2, 3].map((i) => commandTask({ command: "sleep 10", offer, resources: pickResources(offer, { cpus: 1, mem: 128 })!, name: `t${i}` }));
    await driver.launch([offer.id!.value], tasks);
    const agent = master.cluster.agents[0]!;
    await waitFor(() => agent.received.filter((m) => m.$typeName === "dcos.v1.RunTask").length === 3, "three RunTasks at the agent");
    const uuids = tasks.map((task) => agent.update(driver.frameworkId!, task.taskId!.value, TaskState.RUNNING));
    await waitFor(() => updates.filter((u) => u.uuid.length > 0).length === 3, "three RUNNING updates at the scheduler");
    const callsBefore = system.metrics.value("scheduler_driver/acknowledge_calls") ?? 0;
    await Promise.all(updates.filter((u) => u.uuid.length > 0).map((u) => driver.acknowledge(u)));
    assert.equal((system.metrics.value("scheduler_driver/acknowledge_calls") ?? 0) - callsBefore, 1, "one call for the three");
    const acked = (uuid: Uint8Array): boolean => agent.messages(StatusUpdateAcknowledgementSchema).some((a) => Buffer.from(a.uuid).equals(uuid));
    await waitFor(() => uuids.every(acked), "the three acknowledgements at the agent");
  });
});
