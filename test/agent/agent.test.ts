import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  AgentPingSchema,
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  FrameworkMessageSchema,
  KillTaskSchema,
  ReconcileAgentTasksSchema,
  RunTaskGroupSchema,
  RunTaskSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  type ExitedExecutor,
  type FrameworkMessage,
  type RegisterAgent,
  type ReregisterAgent,
  type StatusUpdate,
} from "../../src/gen/dcos/v1/internal_pb.js";
import { ExecutorServiceMessageRequestSchema } from "../../src/gen/dcos/v1/executor_pb.js";
import { CommandURISchema, ExecutorInfo_Type, TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { COMMAND_EXECUTOR_PATH } from "../../src/actors/agent/executor-config.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { admit, commandTask, executorStatus, framework, runAndSubscribe, sendUpdate, startHarness, subscribeExecutor, type Harness } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function registered(options: Parameters<typeof startHarness>[0] = {}, pingIntervalSeconds = 60): Promise<Harness> {
  h = await startHarness(options);
  await admit(h, pingIntervalSeconds);
  return h;
}

describe("Agent", () => {
  it("registers with detected resources and attributes, retrying with backoff until the master answers", async () => {
    h = await startHarness({ attributes: "rack:a;zone:1", resources: "cpus:2" });
    const x = h;
    await x.until(() => x.master.of("RegisterAgent").length === 1, "a first RegisterAgent");
    const first = x.master.of<RegisterAgent>("RegisterAgent")[0]!;
    const res = new Map(first.agentInfo!.resources.map((r) => [r.name, r]));
    assert.equal(res.get("cpus")?.scalar?.value, 2, "--resources replaces the detected cpus");
    assert.equal(res.get("mem")?.scalar?.value, 7 * 1024, "8 GiB less 1 GiB for the system");
    assert.equal(res.get("disk")?.scalar?.value, 95 * 1024, "100 GiB less 5 GiB");
    assert.deepEqual(res.get("ports")?.ranges?.range.map((r) => [r.begin, r.end]), [[31000, 32000]]);
    assert.deepEqual(first.agentInfo!.attributes.map((a) => a.name), ["rack", "zone"]);

    await x.clock.advance(60_000);
    const attempts = x.master.of("RegisterAgent").length;
    assert.ok(attempts >= 3, `the agent retries while the master is silent (${attempts} attempts in 60 s)`);
    await x.clock.advance(120_000);
    assert.ok(x.master.of("RegisterAgent").length - attempts <= 4, "backoff grows to at most one attempt a minute");

    x.master.tell(x.agent.self, create(AgentRegisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 15 }));
    await x.until(() => x.agent.agentState === AgentPhase.RUNNING, "registered");
    assert.equal(x.metrics.value("slave/registered"), 1);
    const after = x.master.of("RegisterAgent").length;
    await x.clock.advance(30_000);
    assert.equal(x.master.of("RegisterAgent").length, after, "no attempts once registered");
  });

  it("answers pings, and reregisters with its id and tasks when the master stops pinging", async () => {
    const x = await registered({}, 1);
    await runAndSubscribe(x);
    for (let i = 0; i < 4; i++) {
      await x.clock.advance(1_000);
      x.master.tell(x.agent.self, create(AgentPingSchema, { connected: true }));
    }
    await x.until(() => x.master.of("AgentPong").length === 4, "four pongs");
    assert.equal(x.agent.agentState, AgentPhase.RUNNING);
    await x.clock.advance(5_000);
    assert.equal(x.agent.agentState, AgentPhase.DISCONNECTED, "5 missed pings (1 s interval) disconnect the agent");
    await x.until(() => x.master.of("ReregisterAgent").length > 0, "a ReregisterAgent");
    const re = x.master.of<ReregisterAgent>("ReregisterAgent")[0]!;
    assert.equal(re.agentInfo?.id?.value, "agent-1");
    assert.deepEqual(re.tasks.map((t) => t.taskId?.value), ["t1"]);
    assert.deepEqual(re.frameworks.map((f) => f.id?.value), ["fw-1"]);
    x.master.tell(x.agent.self, create(AgentReregisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 1 }));
    await x.until(() => x.agent.agentState === AgentPhase.RUNNING, "reregistered");
  });

  it("reregisters when a ping says the master does not know it", async () => {
    const x = await registered();
    x.master.tell(x.agent.self, create(AgentPingSchema, { connected: false }));
    await x.until(() => x.master.of("ReregisterAgent").length === 1, "a ReregisterAgent");
  });

  it("runs a command task: sandbox in the Mesos layout, the command executor launched, LAUNCH after SUBSCRIBE, updates relayed and acknowledged", async () => {
    const x = await registered();
    const link = await runAndSubscribe(x);
    const config = x.containerizer.launched[0]!;
    assert.deepEqual(config.command, [process.execPath, COMMAND_EXECUTOR_PATH]);
    assert.equal(config.sandbox, join(x.workDir, "agents", "agent-1", "frameworks", "fw-1", "executors", "t1", "runs", config.id));
    assert.ok((await stat(config.sandbox)).isDirectory());
    assert.deepEqual(config.resources?.ports, [31001, 31002]);
    assert.equal(config.env?.DCOS_EXECUTOR_ID, "t1");
    assert.equal(config.env?.DCOS_FRAMEWORK_ID, "fw-1");
    assert.deepEqual(link.kinds(), ["subscribed", "launch"]);

    const running = executorStatus("t1", TaskState.RUNNING);
    await sendUpdate(x, "t1", running);
    await x.until(() => x.master.updates().length === 1, "TASK_RUNNING at the master");
    const u = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    assert.equal(u.status?.source, TaskStatus_Source.EXECUTOR);
    assert.equal(u.agentId?.value, "agent-1");
    assert.equal(u.status?.sandboxDirectory, config.sandbox);
    assert.equal(x.metrics.value("slave/tasks_running"), 1);

    await sendUpdate(x, "t1", executorStatus("t1", TaskState.FINISHED));
    await x.clock.advance(30_000);
    assert.deepEqual(x.master.updates(), ["t1:RUNNING", "t1:RUNNING", "t1:RUNNING"], "RUNNING is resent until acknowledged; FINISHED waits behind it");
    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, uuid: running.uuid }));
    await x.until(() => x.master.updates().length === 4, "TASK_FINISHED at the master");
    assert.deepEqual(x.master.updates().at(-1), "t1:FINISHED");
    assert.deepEqual(link.kinds(), ["subscribed", "launch", "acknowledged"]);
    assert.equal(x.metrics.value("slave/tasks_finished"), 1);
  });

  it("refuses bad executor calls with precise errors", async () => {
    const x = await registered();
    await runAndSubscribe(x);
    await assert.rejects(sendUpdate(x, "nope", executorStatus("t1", TaskState.RUNNING)), (e: unknown) => DcosError.is(e, Code.NOT_FOUND) && /executor 'nope'/.test(e.message));
    await assert.rejects(sendUpdate(x, "t1", executorStatus("t9", TaskState.RUNNING)), (e: unknown) => DcosError.is(e, Code.NOT_FOUND) && /task 't9'/.test(e.message));
    const noUuid = executorStatus("t1", TaskState.RUNNING);
    noUuid.uuid = new Uint8Array();
    await assert.rejects(sendUpdate(x, "t1", noUuid), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /no uuid/.test(e.message));
    await assert.rejects(sendUpdate(x, "t1", executorStatus("t1", TaskState.STAGING)), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    assert.equal(x.metrics.value("slave/invalid_status_updates"), 3);
  });

  it("kills a task through its executor with the kill policy's grace period", async () => {
    const x = await registered();
    const link = await runAndSubscribe(x, commandTask("t1", 7));
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t1" } }));
    await x.until(() => link.kinds().includes("kill"), "a KILL event");
    const kill = link.events.find((e) => e.kind.case === "kill")!;
    assert.equal(kill.kind.case === "kill" && kill.kind.value.killPolicy?.gracePeriodSeconds, 7);
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, killPolicy: { gracePeriodSeconds: 1 } }));
    await x.until(() => link.kinds().filter((k) => k === "kill").length === 2, "a second KILL");
    const second = link.events.filter((e) => e.kind.case === "kill")[1]!;
    assert.equal(second.kind.case === "kill" && second.kind.value.killPolicy?.gracePeriodSeconds, 1, "the kill message's policy overrides the task's");
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.KILLED));
    await x.until(() => x.master.updates().includes("t1:KILLED"), "TASK_KILLED at the master");
  });

  it("kills a task that is still queued without its executor, as TASK_KILLED during launch", async () => {
    const x = await registered();
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t1" } }));
    await x.until(() => x.master.updates().includes("t1:KILLED"), "TASK_KILLED");
    const u = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    assert.equal(u.status?.reason, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH);
    await x.until(() => x.containerizer.destroyed.length === 1, "the executor container destroyed");
  });

  it("shuts a framework down: SHUTDOWN to the executor, its container destroyed after the grace period, tasks KILLED", async () => {
    const x = await registered();
    const link = await runAndSubscribe(x);
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.RUNNING));
    x.master.tell(x.agent.self, create(ShutdownFrameworkSchema, { frameworkId: { value: "fw-1" } }));
    await x.until(() => link.kinds().includes("shutdown"), "a SHUTDOWN event");
    await x.clock.advance(4_999);
    assert.equal(x.containerizer.destroyed.length, 0, "the executor has its 5 s grace period");
    await x.clock.advance(1);
    await x.until(() => x.containerizer.destroyed.length === 1, "the container destroyed after the grace period");
    await x.until(() => x.master.of("ExitedExecutor").length === 1, "ExitedExecutor at the master");
    assert.equal(link.closed, true);
    assert.equal(x.metrics.value("slave/tasks_killed"), 1, "the running task ended KILLED");
    assert.equal(x.agent.executorOf("fw-1", "t1"), undefined, "the framework is forgotten once its executors are gone");
    await x.clock.advance(60_000);
    assert.deepEqual(x.master.updates(), ["t1:RUNNING"], "updates of a removed framework are not forwarded (the master ends its tasks)");
  });

  it("a framework torn down after its task finished (terminal update unacknowledged, executor gone) is removed: its update is not resent for ever", async () => {
    const x = await registered();
    await runAndSubscribe(x);
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.FINISHED));
    await x.until(() => x.master.updates().includes("t1:FINISHED"), "TASK_FINISHED at the master");
    x.containerizer.exit(x.containerizer.launched[0]!.id, 0);
    await x.until(() => x.master.of("ExitedExecutor").length === 1, "ExitedExecutor at the master");
    // The one-off framework (dcos-node run) tears down on FINISHED; its acknowledgement never comes.
    x.master.tell(x.agent.self, create(ShutdownFrameworkSchema, { frameworkId: { value: "fw-1" } }));
    await x.until(() => x.agent.executorOf("fw-1", "t1") === undefined, "the framework removed from the agent");
    const sent = x.master.updates().length;
    await x.clock.advance(600_000);
    assert.equal(x.master.updates().length, sent, "no TASK_FINISHED resent for a removed framework");
  });

  it("fails the tasks of an executor whose container ends without a terminal update", async () => {
    const x = await registered();
    await runAndSubscribe(x);
    x.containerizer.exit(x.containerizer.launched[0]!.id, 3);
    await x.until(() => x.master.of("ExitedExecutor").length === 1, "ExitedExecutor");
    await x.until(() => x.master.updates().includes("t1:FAILED"), "TASK_FAILED");
    const u = x.master.of<StatusUpdate>("StatusUpdate").find((s) => s.status?.state === TaskState.FAILED)!;
    assert.equal(u.status?.reason, TaskStatus_Reason.EXECUTOR_TERMINATED);
    assert.equal(u.status?.source, TaskStatus_Source.AGENT);
    assert.equal(x.master.of<ExitedExecutor>("ExitedExecutor")[0]!.status, 3);
  });

  it("destroys an executor that does not subscribe within the registration timeout", async () => {
    const x = await registered({ executorRegistrationTimeoutMs: 10_000 });
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await x.until(() => x.agent.executorOf("fw-1", "t1")?.phase === ExecutorPhase.REGISTERING, "launched");
    await x.clock.advance(10_000);
    await x.until(() => x.master.updates().includes("t1:FAILED"), "TASK_FAILED");
    const u = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    assert.equal(u.status?.reason, TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT);
  });

  it("fails a task whose container cannot be launched", async () => {
    const x = await registered();
    x.containerizer.failLaunch = () => new DcosError(Code.PERMISSION_DENIED, "no such user");
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await x.until(() => x.master.updates().includes("t1:FAILED"), "TASK_FAILED");
    const u = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    assert.equal(u.status?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.match(u.status?.message ?? "", /no such user/);
    assert.equal(x.metrics.value("slave/container_launch_errors"), 1);
  });

  it("fetches the task's URIs into the sandbox before its container starts, and fails the task when a fetch fails", async () => {
    const x = await registered();
    const dir = await mkdtemp(join(tmpdir(), "agent-fetch-"));
    try {
      await chmod(dir, 0o755);
      await writeFile(join(dir, "app.conf"), "port=8080\n", { mode: 0o644 });
      const task = commandTask("t1");
      task.command!.uris = [create(CommandURISchema, { value: `file://${join(dir, "app.conf")}`, outputFile: "conf/app.conf" })];
      await runAndSubscribe(x, task);
      const config = x.containerizer.launched[0]!;
      assert.equal(await readFile(join(config.sandbox, "conf", "app.conf"), "utf8"), "port=8080\n", "fetched before the launch");

      const bad = commandTask("t2");
      bad.command!.uris = [create(CommandURISchema, { value: join(dir, "missing.tgz"), extract: true })];
      x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: bad, role: "*" }));
      await x.until(() => x.master.updates().includes("t2:FAILED"), "TASK_FAILED for t2");
      const u = x.master.of<StatusUpdate>("StatusUpdate").find((s) => s.status?.taskId?.value === "t2")!;
      assert.equal(u.status?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
      assert.match(u.status?.message ?? "", /Failed to fetch '.*missing\.tgz': no such file on the agent/);
      assert.equal(x.containerizer.launched.length, 1, "no container for the task whose fetch failed");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs a task group in one default executor with LAUNCH_GROUP", async () => {
    const x = await registered();
    const executorInfo = { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "group-ex" }, frameworkId: { value: "fw-1" } };
    const tasks = [commandTask("a"), commandTask("b")];
    x.master.tell(x.agent.self, create(RunTaskGroupSchema, { frameworkInfo: framework, executorInfo, taskGroup: { tasks }, role: "*" }));
    await x.until(() => x.agent.executorOf("fw-1", "a")?.phase === ExecutorPhase.REGISTERING, "the default executor launched");
    assert.equal(x.containerizer.launched.length, 1);
    assert.deepEqual(x.containerizer.launched[0]!.resources?.ports, [31001, 31002, 31001, 31002].slice(0, 2), "ports of the tasks, merged");
    const link = await subscribeExecutor(x, "group-ex");
    assert.deepEqual(link.kinds(), ["subscribed", "launchGroup"]);
    const group = link.events[1]!;
    assert.deepEqual(group.kind.case === "launchGroup" && group.kind.value.taskGroup?.tasks.map((t) => t.taskId?.value), ["a", "b"]);
  });

  it("passes framework messages between the master and a connected executor", async () => {
    const x = await registered();
    const link = await runAndSubscribe(x);
    x.master.tell(x.agent.self, create(FrameworkMessageSchema, { frameworkId: { value: "fw-1" }, executorId: { value: "t1" }, data: new TextEncoder().encode("to-executor") }));
    await x.until(() => link.kinds().includes("message"), "a MESSAGE event");
    const event = link.events.find((e) => e.kind.case === "message")!;
    assert.equal(event.kind.case === "message" && new TextDecoder().decode(event.kind.value.data), "to-executor");
    await x.agent.message(create(ExecutorServiceMessageRequestSchema, { frameworkId: { value: "fw-1" }, executorId: { value: "t1" }, data: new TextEncoder().encode("to-scheduler") }));
    await x.until(() => x.master.of("FrameworkMessage").length === 1, "a FrameworkMessage at the master");
    const m = x.master.of<FrameworkMessage>("FrameworkMessage")[0]!;
    assert.equal(m.agentId?.value, "agent-1");
    assert.equal(new TextDecoder().decode(m.data), "to-scheduler");
    x.master.tell(x.agent.self, create(FrameworkMessageSchema, { frameworkId: { value: "fw-1" }, executorId: { value: "nobody" } }));
    await x.until(() => x.metrics.value("slave/invalid_framework_messages") === 1, "a message for an unknown executor dropped");
    assert.equal(x.metrics.value("slave/valid_framework_messages"), 2);
  });

  it("exposes the slave/* metrics operators know, with the running task's resources in use", async () => {
    const x = await registered();
    await runAndSubscribe(x);
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.RUNNING));
    const snap = x.metrics.snapshot();
    for (const key of [
      "slave/registered", "slave/uptime_secs", "slave/recovery_time_secs", "slave/frameworks_active",
      "slave/tasks_staging", "slave/tasks_starting", "slave/tasks_running", "slave/tasks_killing",
      "slave/tasks_finished", "slave/tasks_failed", "slave/tasks_killed", "slave/tasks_lost",
      "slave/executors_registering", "slave/executors_running", "slave/executors_terminating", "slave/executors_terminated",
      "slave/valid_status_updates", "slave/invalid_status_updates", "slave/valid_framework_messages", "slave/invalid_framework_messages",
      "slave/cpus_total", "slave/cpus_used", "slave/mem_total", "slave/mem_used", "slave/disk_total", "slave/disk_used",
    ]) {
      assert.ok(key in snap, `${key} is in the snapshot`);
    }
    assert.equal(snap["slave/tasks_running"], 1);
    assert.equal(snap["slave/executors_running"], 1);
    assert.equal(snap["slave/frameworks_active"], 1);
    assert.equal(snap["slave/cpus_total"], 4);
    assert.equal(snap["slave/cpus_used"], 0.5);
    assert.equal(snap["slave/mem_used"], 64);
  });

  it("answers the master's question about tasks a reregistration did not list: silence for a task it runs, TASK_DROPPED/LOST (RECONCILIATION) for one it never got", async () => {
    const x = await registered();
    await runAndSubscribe(x);
    const ask = (taskIds: string[], unknownState: TaskState) =>
      x.master.tell(x.agent.self, create(ReconcileAgentTasksSchema, { frameworkId: { value: "fw-1" }, taskIds: taskIds.map((value) => ({ value })), unknownState }));
    ask(["t1", "never-sent"], TaskState.DROPPED);
    await x.until(() => x.master.updates().length === 1, "an update for the unknown task");
    const u = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    assert.deepEqual(x.master.updates(), ["never-sent:DROPPED"], "t1 runs here: it reports through its own updates");
    assert.equal(u.status?.reason, TaskStatus_Reason.RECONCILIATION);
    assert.equal(u.status?.source, TaskStatus_Source.AGENT);
    assert.match(u.status?.message ?? "", /never-sent is not on agent agent-1/);
    assert.equal(x.metrics.value("slave/reconciled_unknown_tasks"), 1);

    // Reliable: resent until acknowledged; once acknowledged to the end, asking again changes nothing.
    await x.clock.advance(15_000);
    assert.ok(x.master.updates().length >= 2, "the TASK_DROPPED is retried until acknowledged");
    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "never-sent" }, uuid: u.uuid }));
    await x.clock.settle();
    const sent = x.master.updates().length;
    ask(["never-sent"], TaskState.DROPPED);
    ask(["other"], TaskState.LOST);
    await x.until(() => x.master.updates().length === sent + 1, "the non-partition-aware answer");
    assert.deepEqual(x.master.updates().slice(sent), ["other:LOST"], "a task whose terminal update was acknowledged is known");

    // A RunTask that arrives after the agent answered "never received" (it travelled on a
    // connection the master had given up) is refused: the task was reported TASK_DROPPED.
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("never-sent"), role: "*" }));
    await x.until(() => (x.metrics.value("slave/dropped_messages") ?? 0) === 1, "the late RunTask refused");
    assert.equal(x.containerizer.launched.length, 1, "only t1 was ever launched");

    ask(["bad"], TaskState.RUNNING);
    await x.until(() => (x.metrics.value("slave/dropped_messages") ?? 0) === 2, "an unknown_state other than DROPPED/LOST refused");
  });

  it("ignores (and counts) messages from a pid that is not its master, and tasks before registration", async () => {
    h = await startHarness();
    const x = h;
    await x.until(() => x.master.of("RegisterAgent").length > 0, "RegisterAgent");
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await x.until(() => (x.metrics.value("slave/dropped_messages") ?? 0) === 1, "the early task dropped");
    assert.equal(x.containerizer.launched.length, 0);
  });
});
