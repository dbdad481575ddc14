/**
 * Command tasks the agent runs itself (`commandExecutor: "agent"`, command-task.ts), on a
 * fake containerizer and a ManualClock: no executor process, the task's own command in its
 * container, the command executor's updates (source EXECUTOR, executor id = task id) made by
 * the agent, kills as destroy with the kill policy's grace, recovery without any executor to
 * wait for, and the health check run by the agent. Real processes: test/executor.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, RunTaskSchema, StatusUpdateAcknowledgementSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { CommandInfoSchema, HealthCheckSchema, HealthCheck_Type, TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { admit, commandTask, framework, startHarness, type Harness } from "./harness.js";

let h: Harness | undefined;
let server: Server | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  server?.close();
  server = undefined;
});

async function registered(): Promise<Harness> {
  h = await startHarness({ commandExecutor: "agent" });
  await admit(h);
  return h;
}

function run(x: Harness, task: TaskInfo, fw: typeof framework & { capabilities?: number[] } = framework): void {
  x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: fw, task, role: "*" }));
}

const acked = new WeakSet<StatusUpdate>();

/** Acknowledges every update the master got so far (so the next one of a stream is sent). */
function ackAll(x: Harness): void {
  for (const u of x.master.of<StatusUpdate>("StatusUpdate")) {
    if (acked.has(u)) continue;
    acked.add(u);
    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: u.status!.taskId, uuid: u.status!.uuid }));
  }
}

/** Acknowledging as they come, until the task's update in `state` arrived. */
async function update(x: Harness, taskId: string, state: TaskState): Promise<StatusUpdate> {
  const find = (): StatusUpdate | undefined => x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.taskId?.value === taskId && u.status.state === state);
  await x.until(() => {
    ackAll(x);
    return find() !== undefined;
  }, `${taskId}: TASK_${TaskState[state]}`);
  return find()!;
}

function containerOf(x: Harness, taskId: string): string {
  return x.agent.executorOf("fw-1", taskId)!.containerId;
}

/**
 * Runs task t1 with a TCP health check against a local server answering connections with
 * `answer` (`failures` in a row kill it); returns its first healthy TASK_RUNNING.
 */
async function healthyTcpTask(x: Harness, answer: (socket: Socket) => void, failures: number): Promise<StatusUpdate> {
  server = createServer(answer);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const task = commandTask("t1", 1);
  task.healthCheck = create(HealthCheckSchema, { type: HealthCheck_Type.TCP, tcp: { port }, delaySeconds: 0, intervalSeconds: 1, timeoutSeconds: 5, consecutiveFailures: failures, gracePeriodSeconds: 0 });
  run(x, task);
  await update(x, "t1", TaskState.RUNNING);
  await x.clock.advance(1);
  const healthy = (): StatusUpdate | undefined => x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.healthy === true);
  await x.until(() => {
    ackAll(x);
    return healthy() !== undefined;
  }, "a healthy TASK_RUNNING");
  return healthy()!;
}

describe("Command tasks run by the agent (no executor process)", () => {
  it("runs the task's own command in its container and reports STARTING, RUNNING and the exit as the command executor would", async () => {
    const x = await registered();
    const task = commandTask("t1");
    task.command = create(CommandInfoSchema, { value: "sleep 100", environment: { variables: [{ name: "GREETING", value: "hi" }] } });
    run(x, task);
    const running = await update(x, "t1", TaskState.RUNNING);
    const config = x.containerizer.launched[0]!;
    assert.equal(config.command, "sleep 100", "the task's command itself, no executor program");
    assert.equal(config.env?.GREETING, "hi");
    assert.equal(config.env?.DCOS_EXECUTOR_ID, undefined, "nothing connects back to the agent");
    assert.deepEqual(config.resources?.ports, [31001, 31002]);
    assert.equal(x.agent.executorOf("fw-1", "t1")!.phase, ExecutorPhase.RUNNING, "no subscription to wait for");
    const starting = await update(x, "t1", TaskState.STARTING);
    for (const u of [starting, running]) {
      assert.equal(u.status!.source, TaskStatus_Source.EXECUTOR);
      assert.equal(u.status!.executorId?.value, "t1", "the command executor's id is the task's");
      assert.equal(u.status!.sandboxDirectory, config.sandbox);
    }
    x.containerizer.exit(config.id, 3);
    const failed = await update(x, "t1", TaskState.FAILED);
    assert.equal(failed.status!.message, "Command exited with status 3");
    assert.equal(failed.status!.exitCode, 3);
    assert.equal(failed.status!.source, TaskStatus_Source.EXECUTOR);
    assert.deepEqual(x.master.updates(), ["t1:STARTING", "t1:RUNNING", "t1:FAILED"]);
    await x.until(() => x.master.of("ExitedExecutor").length === 1, "ExitedExecutor to the master");
  });

  it("a container's end waits behind a launch under way (the launch lane): reported once the launch has its RUNNING, in order", async () => {
    const x = await registered();
    run(x, commandTask("t1"));
    await update(x, "t1", TaskState.RUNNING);
    let release!: () => void;
    x.containerizer.holdLaunch = new Promise<void>((r) => (release = r));
    run(x, commandTask("t2"));
    await update(x, "t2", TaskState.STARTING);
    x.containerizer.exit(containerOf(x, "t1"), 0);
    await x.until(() => x.agent.launchLane.ends === 1, "t1's end waiting in the lane");
    assert.deepEqual(x.agent.launchLane, { launches: 1, ends: 1 });
    assert.ok(!x.master.updates().includes("t1:FINISHED"), "not reported while t2 launches");
    x.containerizer.holdLaunch = undefined;
    release();
    await update(x, "t1", TaskState.FINISHED);
    const order = x.master.updates();
    assert.ok(order.indexOf("t2:RUNNING") < order.indexOf("t1:FINISHED"), `t2's RUNNING first: ${order.join(" ")}`);
    assert.deepEqual(x.agent.launchLane, { launches: 0, ends: 0 });
  });

  it("a container's end waits behind a launch at most launchLaneMaxWaitMs (100 ms by default); 0 turns the lane off", async () => {
    const x = await registered();
    run(x, commandTask("t1"));
    await update(x, "t1", TaskState.RUNNING);
    x.containerizer.holdLaunch = new Promise<void>(() => undefined); // t2's launch never returns
    run(x, commandTask("t2"));
    await update(x, "t2", TaskState.STARTING);
    x.containerizer.exit(containerOf(x, "t1"), 0);
    await x.until(() => x.agent.launchLane.ends === 1, "t1's end waiting in the lane");
    await x.clock.advance(99);
    await x.clock.settle();
    assert.ok(!x.master.updates().includes("t1:FINISHED"), "still waiting at 99 ms");
    await x.clock.advance(1);
    await update(x, "t1", TaskState.FINISHED);
    assert.deepEqual(x.agent.launchLane, { launches: 1, ends: 0 }, "released by the timer; t2 still launches");
    await h!.stop();
    h = await startHarness({ commandExecutor: "agent", launchLaneMaxWaitMs: 0 });
    await admit(h);
    const y = h;
    run(y, commandTask("u1"));
    await update(y, "u1", TaskState.RUNNING);
    y.containerizer.holdLaunch = new Promise<void>(() => undefined);
    run(y, commandTask("u2"));
    await update(y, "u2", TaskState.STARTING);
    y.containerizer.exit(containerOf(y, "u1"), 0);
    await update(y, "u1", TaskState.FINISHED);
    assert.deepEqual(y.agent.launchLane, { launches: 0, ends: 0 }, "nothing is counted with the lane off");
  });

  it("reports exit 0 as FINISHED and a signal with 128 + its number", async () => {
    const x = await registered();
    run(x, commandTask("ok"));
    run(x, commandTask("sig"));
    await update(x, "ok", TaskState.RUNNING);
    await update(x, "sig", TaskState.RUNNING);
    x.containerizer.exit(containerOf(x, "ok"), 0);
    x.containerizer.exit(containerOf(x, "sig"), null, "SIGSEGV");
    const finished = await update(x, "ok", TaskState.FINISHED);
    assert.equal(finished.status!.exitCode, 0);
    const failed = await update(x, "sig", TaskState.FAILED);
    assert.equal(failed.status!.message, "Command terminated by signal SIGSEGV");
    assert.equal(failed.status!.exitCode, 128 + 11);
  });

  it("kills with the kill policy's grace (the kill message's policy first), TASK_KILLING for frameworks that want it", async () => {
    const x = await registered();
    run(x, commandTask("t1", 7), { ...framework, capabilities: [3] });
    await update(x, "t1", TaskState.RUNNING);
    const id = containerOf(x, "t1");
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, killPolicy: { gracePeriodSeconds: 2 } }));
    const killing = await update(x, "t1", TaskState.KILLING);
    assert.equal(killing.status!.source, TaskStatus_Source.EXECUTOR);
    const killed = await update(x, "t1", TaskState.KILLED);
    assert.deepEqual(x.containerizer.destroyed, [{ id, gracePeriodMs: 2_000 }]);
    assert.equal(killed.status!.message, "Command terminated by signal SIGKILL");
    assert.equal(killed.status!.exitCode, 137);
    assert.equal(killed.status!.source, TaskStatus_Source.EXECUTOR);
  });

  it("reports what only the agent knows with source AGENT: a memory limit", async () => {
    const x = await registered();
    run(x, commandTask("t1"));
    await update(x, "t1", TaskState.RUNNING);
    x.containerizer.exit(containerOf(x, "t1"), null, "SIGKILL", "memory limit");
    const failed = await update(x, "t1", TaskState.FAILED);
    assert.equal(failed.status!.reason, TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY);
    assert.equal(failed.status!.source, TaskStatus_Source.AGENT);
  });

  it("recovers a running task after a restart without waiting for any executor, then reports how it ended", async () => {
    const x = await registered();
    run(x, commandTask("t1"));
    await update(x, "t1", TaskState.RUNNING);
    const id = containerOf(x, "t1");
    await x.restartAgent();
    await admit(x, 60, true);
    await x.until(() => x.agent.executorOf("fw-1", "t1")?.phase === ExecutorPhase.RUNNING, "the task recovered as running");
    await x.clock.advance(20_000); // past the reregistration timeout: nothing is destroyed
    assert.deepEqual(x.containerizer.destroyed, []);
    x.containerizer.exit(id, 9);
    const failed = await update(x, "t1", TaskState.FAILED);
    assert.equal(failed.status!.exitCode, 9);
    const runningUuids = new Set(x.master.of<StatusUpdate>("StatusUpdate").filter((u) => u.status?.state === TaskState.RUNNING).map((u) => Buffer.from(u.status!.uuid).toString("hex")));
    assert.equal(runningUuids.size, 1, "no new RUNNING after the restart (only resends of the one not yet acknowledged)");
  });

  it("reports a task whose container left no exit status while the agent was down as FAILED from the agent, never forgets it", async () => {
    const x = await registered();
    run(x, commandTask("t1"));
    await update(x, "t1", TaskState.RUNNING);
    const id = containerOf(x, "t1");
    await x.restartAgent();
    x.containerizer.exit(id, null, null, "status unknown");
    await admit(x, 60, true);
    const failed = await update(x, "t1", TaskState.FAILED);
    assert.equal(failed.status!.reason, TaskStatus_Reason.EXECUTOR_TERMINATED);
    assert.equal(failed.status!.source, TaskStatus_Source.AGENT);
    assert.match(failed.status!.message, /exit status is not known/);
  });

  it("runs the task's health check in the agent: a TCP check that fails kills the task, KILLED with healthy=false", async () => {
    const x = await registered();
    const healthy = await healthyTcpTask(x, (s) => s.destroy(), 1);
    assert.equal(healthy.status!.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
    assert.equal(healthy.status!.source, TaskStatus_Source.EXECUTOR);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    await x.clock.advance(1_000);
    const killed = await update(x, "t1", TaskState.KILLED);
    assert.equal(killed.status!.healthy, false);
    assert.equal(killed.status!.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
    assert.match(killed.status!.message, /TCP connection to 127\.0\.0\.1:\d+ failed/);
    assert.deepEqual(x.containerizer.destroyed.map((d) => d.gracePeriodMs), [1_000], "killed with the task's grace");
  });

  it("stops the health checks it runs when the agent stops (their timers would keep a stopped agent's process alive)", async () => {
    const x = await registered();
    await healthyTcpTask(x, (s) => s.end(), 3);
    await x.stop();
    h = undefined;
    assert.equal(x.clock.pendingTimers(), 0, "no timer is left once the agent and its master stopped");
  });
});
