/**
 * The run service's scheduling (src/frameworks/run/run-scheduler.ts) on the manual clock
 * with a recording driver: offers held for the window then suppressed and declined, one
 * spare kept, a run that nothing held fits revives, statuses streamed and mapped to exit
 * codes, a client gone kills its task, a task nobody waits for is killed, timeouts.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { OfferSchema, type Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatusSchema, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/parse.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { silentLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { RunExit } from "../../src/frameworks/run/run-exit.js";
import { parseRunRequest } from "../../src/frameworks/run/run-request.js";
import { RunScheduler, type RunDriver, type RunEvent } from "../../src/frameworks/run/run-scheduler.js";

function offer(id: string, agent: string, resources = "cpus:2;mem:1024"): Offer {
  return create(OfferSchema, { id: { value: id }, agentId: { value: agent }, hostname: `${agent}.host`, resources: [...parseResources(resources)] });
}

type Call = { call: string; ids?: string[]; refuse?: number; task?: TaskInfo; taskId?: string };

function setup(holdMs = 5_000) {
  const clock = new ManualClock();
  const calls: Call[] = [];
  const driver: RunDriver = {
    master: "127.0.0.1:5050",
    launch: async (ids, tasks, filters) => void calls.push({ call: "launch", ids: ids.map(String), task: tasks[0], refuse: filters?.refuseSeconds }),
    decline: async (ids, filters) => void calls.push({ call: "decline", ids: ids.map(String), refuse: filters?.refuseSeconds }),
    suppress: async () => void calls.push({ call: "suppress" }),
    revive: async () => void calls.push({ call: "revive" }),
    kill: async (taskId) => void calls.push({ call: "kill", taskId: String(taskId) }),
    acknowledge: async () => void calls.push({ call: "ack" }),
  } as RunDriver;
  const scheduler = new RunScheduler({ driver, frameworkId: "fw-1", clock, logger: silentLogger(), random: new Random(7), holdMs, agentHttp: async () => "127.0.0.1:1" });
  const submit = (body: Record<string, unknown>, owner: string | null = "ops") => {
    const events: RunEvent[] = [];
    const run = scheduler.submit(parseRunRequest({ cpus: 0.1, mem: 32, user: "nobody", output: false, ...body }), owner ?? undefined, (e) => events.push(e));
    return { run, events };
  };
  const status = (taskId: string, state: TaskState) =>
    scheduler.update(create(TaskStatusSchema, { taskId: { value: taskId }, agentId: { value: "a1" }, state, uuid: new Uint8Array([1]), timestamp: 1 }));
  return { clock, calls, scheduler, submit, status };
}

const names = (calls: Call[]) => calls.map((c) => c.call);
const end = (events: RunEvent[]) => events.find((e) => e.event === "end") as Extract<RunEvent, { event: "end" }> | undefined;

describe("run service scheduling", () => {
  it("holds one offer for the window, declines the spare ones for the rest of it, then suppresses and declines", async () => {
    const { clock, calls, scheduler } = setup(5_000);
    scheduler.offers([offer("o1", "a1"), offer("o2", "a2")]);
    assert.equal(scheduler.offersHeld, 1);
    assert.deepEqual(calls, [{ call: "decline", ids: ["o2"], refuse: 5 }]);
    await clock.advance(5_000);
    assert.deepEqual(names(calls), ["decline", "suppress", "decline"]);
    assert.deepEqual(calls[2]!.ids, ["o1"]);
    assert.equal(scheduler.offersHeld, 0);
    assert.ok(scheduler.isSuppressed);
    // Offers already on their way when the suppress landed go straight back.
    scheduler.offers([offer("o3", "a1")]);
    assert.deepEqual(calls.at(-1), { call: "decline", ids: ["o3"], refuse: 5 });
  });

  it("a run takes a held offer at once (the rest back with refuse 0) and streams its states to exit 0", async () => {
    const { calls, scheduler, submit, status } = setup();
    scheduler.offers([offer("o1", "a1")]);
    const { run, events } = submit({ command: "echo hi" });
    const launch = calls.find((c) => c.call === "launch")!;
    assert.deepEqual([launch.ids, launch.refuse], [["o1"], 0]);
    assert.equal(launch.task!.taskId?.value, run.taskId);
    assert.equal(launch.task!.command?.user, "nobody");
    assert.deepEqual(
      events.map((e) => e.event),
      ["subscribed", "launching"],
    );
    status(run.taskId, TaskState.RUNNING);
    status(run.taskId, TaskState.FINISHED);
    await new Promise((r) => setImmediate(r));
    assert.equal(end(events)?.exit, RunExit.FINISHED);
    assert.equal(scheduler.active, 0);
    assert.equal(names(calls).filter((c) => c === "ack").length, 2);
    assert.ok(!names(calls).includes("revive"));
  });

  it("a run while suppressed revives, and launches on the next offer; a failed task ends with exit 1", async () => {
    const { clock, calls, scheduler, submit, status } = setup(1_000);
    await clock.advance(1_000);
    assert.ok(scheduler.isSuppressed);
    // (The service subscribes suppressed: the same state from the start, without the window.)
    assert.ok(new RunScheduler({ driver: {} as RunDriver, frameworkId: "f", clock, logger: silentLogger(), suppressed: true, agentHttp: async () => "" }).isSuppressed);
    const { run, events } = submit({ command: ["false"] });
    assert.equal(calls.at(-1)!.call, "revive");
    assert.equal(scheduler.counters.revives, 1);
    scheduler.offers([offer("o9", "a1")]);
    assert.equal(calls.at(-1)!.call, "launch");
    status(run.taskId, TaskState.FAILED);
    await new Promise((r) => setImmediate(r));
    assert.equal(end(events)?.exit, RunExit.TASK_FAILED);
    assert.match(end(events)!.reason!, /ended TASK_FAILED/);
  });

  it("a run no held offer fits revives and waits; --timeout without an offer ends it NOT_LAUNCHED", async () => {
    const { clock, calls, scheduler, submit } = setup(60_000);
    scheduler.offers([offer("small", "a1", "cpus:0.05;mem:16")]);
    const { events } = submit({ command: "true", timeoutSeconds: 2 });
    assert.equal(calls.at(-1)!.call, "revive", "the held offer does not fit");
    await clock.advance(2_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(end(events)?.exit, RunExit.NOT_LAUNCHED);
    assert.match(end(events)!.reason!, /No offer fit cpus=0.1, mem=32 for role \* within 2 s/);
    assert.equal(scheduler.active, 0);
  });

  it("a client that goes away gets its task killed; a running task's timeout kills it with exit 124", async () => {
    const { clock, calls, scheduler, submit, status } = setup();
    scheduler.offers([offer("o1", "a1"), offer("o2", "a2")]);
    const gone = submit({ command: "sleep 600" });
    status(gone.run.taskId, TaskState.RUNNING);
    gone.run.disconnect();
    assert.deepEqual(calls.at(-1), { call: "kill", taskId: gone.run.taskId });
    assert.equal(scheduler.counters.disconnects, 1);
    const eventsBefore = gone.events.length;
    status(gone.run.taskId, TaskState.KILLED);
    await new Promise((r) => setImmediate(r));
    assert.equal(gone.events.length, eventsBefore, "nothing is sent to a client that is gone");
    assert.equal(scheduler.active, 0);

    scheduler.offers([offer("o3", "a1")]);
    const slow = submit({ command: "sleep 600", timeoutSeconds: 1 });
    status(slow.run.taskId, TaskState.RUNNING);
    await clock.advance(1_000);
    assert.deepEqual(calls.at(-1), { call: "kill", taskId: slow.run.taskId });
    status(slow.run.taskId, TaskState.KILLED);
    await new Promise((r) => setImmediate(r));
    assert.equal(end(slow.events)?.exit, RunExit.TIMED_OUT);
  });

  it("kills a task no client waits for (a previous leader's) and acknowledges every update", () => {
    const { calls, scheduler, status } = setup();
    status("orphan.1", TaskState.RUNNING);
    assert.deepEqual(calls, [{ call: "ack" }, { call: "kill", taskId: "orphan.1" }]);
    status("orphan.1", TaskState.KILLED);
    assert.deepEqual(names(calls), ["ack", "kill", "ack"], "a terminal update of an unknown task is only acknowledged");
    assert.equal(scheduler.counters.orphansKilled, 1);
  });

  it("Ctrl-C (interrupt) kills the task and ends with 130; a rescinded offer is not used", async () => {
    const { calls, scheduler, submit, status } = setup();
    scheduler.offers([offer("o1", "a1")]);
    scheduler.rescind("o1");
    const { run, events } = submit({ command: "sleep 1" });
    assert.ok(!names(calls).includes("launch"), "the rescinded offer is gone");
    scheduler.offers([offer("o2", "a1")]);
    status(run.taskId, TaskState.RUNNING);
    run.interrupt();
    assert.ok(events.some((e) => e.event === "error" && /Interrupted; killing task/.test(e.message)));
    status(run.taskId, TaskState.KILLED);
    await new Promise((r) => setImmediate(r));
    assert.equal(end(events)?.exit, RunExit.INTERRUPTED);
  });

  it("counts runs in progress per owner (the run service's per-principal cap): up at submit, down at each run's end only once", async () => {
    const { clock, scheduler, submit, status } = setup();
    scheduler.offers([offer("o1", "a1", "cpus:4;mem:4096")]);
    const a = submit({ command: "sleep 1" });
    const b = submit({ command: "sleep 1", timeoutSeconds: 2 });
    const anonymous = submit({ command: "sleep 1" }, null);
    assert.deepEqual([scheduler.activeOf("ops"), scheduler.activeOf(undefined), scheduler.activeOf("other"), scheduler.active], [2, 1, 0, 3]);
    status(a.run.taskId, TaskState.FINISHED);
    status(a.run.taskId, TaskState.FINISHED); // a duplicate update does not count down twice
    assert.deepEqual([scheduler.activeOf("ops"), scheduler.active], [1, 2]);
    // A run waiting for an offer that times out ends too.
    await clock.advance(2_000);
    assert.equal(end(b.events)?.exit, RunExit.NOT_LAUNCHED);
    assert.deepEqual([scheduler.activeOf("ops"), scheduler.active], [0, 1]);
    anonymous.run.disconnect();
    status(anonymous.run.taskId, TaskState.KILLED);
    assert.deepEqual([scheduler.activeOf(undefined), scheduler.active], [0, 0]);
  });
});
