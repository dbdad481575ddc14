/**
 * Real processes: the agent with the posix containerizer runs command tasks itself
 * (`--command-executor=agent`, the default: the command directly in its container) and,
 * for comparison, through the real command executor (`process`: a node process per task
 * that connects back over the gRPC ExecutorService); task groups run in the real default
 * executor. A scripted master registers the agent and acknowledges every update. Every
 * command-task behaviour is checked in both modes.
 */
import assert from "node:assert/strict";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, RunTaskGroupSchema, ShutdownFrameworkSchema, type ExitedExecutor } from "../../src/gen/dcos/v1/internal_pb.js";
import { ExecutorInfo_Type, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { framework } from "../agent/harness.js";
import { waitFor } from "../support/wait.js";
import { TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { runTask, startCluster as startTestCluster, statesOf, statusOf, task, type Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** The process is not running any more: gone, or dead and waiting for its reaper (a zombie). */
async function dead(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

for (const commandExecutor of ["agent", "process"] as const) describe(`Command tasks, --command-executor=${commandExecutor} (real processes)`, () => {
  const startCluster = (): ReturnType<typeof startTestCluster> => startTestCluster(undefined, { commandExecutor });

  it("runs a task that finishes; its output lands in the sandbox", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-ok", "echo hello-from-task; exit 0"));
    const finished = await waitFor(() => statusOf(c, "t-ok", TaskState.FINISHED), "TASK_FINISHED", 15_000);
    assert.deepEqual(statesOf(c, "t-ok"), ["STARTING", "RUNNING", "FINISHED"]);
    for (const state of [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]) {
      const u = statusOf(c, "t-ok", state)!;
      assert.equal(u.status!.source, TaskStatus_Source.EXECUTOR, `${TaskState[state]} comes from the task's executor`);
      assert.equal(u.status!.executorId?.value, "t-ok", "the command executor's id is the task's");
    }
    assert.equal(finished.status!.exitCode, 0);
    assert.equal(statusOf(c, "t-ok", TaskState.RUNNING)!.status!.exitCode, undefined, "only the update about the end has one");
    const sandbox = finished.status!.sandboxDirectory;
    assert.ok(sandbox.startsWith(join(c.workDir, "agents", "agent-1", "frameworks", "fw-1", "executors", "t-ok", "runs")));
    assert.match(await readFile(join(sandbox, "stdout"), "utf8"), /hello-from-task/);
    const exited = await waitFor(() => c.master.of<ExitedExecutor>("ExitedExecutor")[0], "ExitedExecutor");
    assert.equal(exited.status, 0, "the command executor exits 0 after its task ended");
  });

  it("reports a failing task with its exit code", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-fail", "echo about-to-fail >&2; exit 3"));
    const failed = await waitFor(() => statusOf(c, "t-fail", TaskState.FAILED), "TASK_FAILED", 15_000);
    assert.equal(failed.status!.message, "Command exited with status 3");
    assert.equal(failed.status!.exitCode, 3, "the exit code in its own field, not only in the text");
    assert.match(await readFile(join(failed.status!.sandboxDirectory, "stderr"), "utf8"), /about-to-fail/);
  });

  it("kills with the grace period: SIGTERM first, SIGKILL when the task ignores it", async () => {
    const c = (cluster = await startCluster());
    const script = `trap 'echo got-term > term.txt' TERM; echo up > started.txt; while :; do sleep 0.05; done`;
    runTask(c, task("t-stubborn", script, 1));
    const running = await waitFor(() => statusOf(c, "t-stubborn", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const sandbox = running.status!.sandboxDirectory;
    await waitFor(() => access(join(sandbox, "started.txt")).then(() => true), "the task's trap to be installed");
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-stubborn" } }));
    const killed = await waitFor(() => statusOf(c, "t-stubborn", TaskState.KILLED), "TASK_KILLED", 15_000);
    assert.equal(killed.status!.message, "Command terminated by signal SIGKILL", "only SIGKILL could end it");
    assert.equal(killed.status!.exitCode, 137, "128 + SIGKILL, as a shell reports it");
    assert.match(await readFile(join(sandbox, "term.txt"), "utf8"), /got-term/, "it got SIGTERM first");
  });

  it("kills a task that honours SIGTERM without waiting for the grace period", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-polite", "trap 'exit 0' TERM; echo up > started.txt; while :; do sleep 0.05; done", 600));
    const running = await waitFor(() => statusOf(c, "t-polite", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    await waitFor(() => access(join(running.status!.sandboxDirectory, "started.txt")).then(() => true), "the task's trap to be installed");
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-polite" } }));
    const killed = await waitFor(() => statusOf(c, "t-polite", TaskState.KILLED), "TASK_KILLED long before the 600 s grace period", 15_000);
    assert.equal(killed.status!.message, "Command exited with status 0");
  });

  it("gives what a `sh -c` started the whole grace when the shell itself ends first", async () => {
    const c = (cluster = await startCluster());
    const child = "(trap 'sleep 0.3; echo child-done > child.txt; exit 0' TERM; echo up > child-up.txt; while :; do sleep 0.05; done) &";
    runTask(c, task("t-children", `${child} trap 'exit 0' TERM; while :; do sleep 0.05; done`, 20));
    const running = await waitFor(() => statusOf(c, "t-children", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const sandbox = running.status!.sandboxDirectory;
    await waitFor(() => access(join(sandbox, "child-up.txt")).then(() => true), "the child's trap to be installed");
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-children" } }));
    const killed = await waitFor(() => statusOf(c, "t-children", TaskState.KILLED), "TASK_KILLED", 15_000);
    assert.equal(killed.status!.message, "Command exited with status 0", "the shell ended on its SIGTERM");
    assert.equal(await readFile(join(sandbox, "child.txt"), "utf8"), "child-done\n", "the child finished its cleanup within the grace, not SIGKILLed when its shell exited");
  });

  it("reports a task whose supervisor (the launch wrapper or the executor) is killed, and kills the rest of the container", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-orphaned", "echo $$ > task.pid; while :; do sleep 0.05; done"));
    const running = await waitFor(() => statusOf(c, "t-orphaned", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const pid = await waitFor(() => readFile(join(running.status!.sandboxDirectory, "task.pid"), "utf8").then((t) => Number(t.trim()) || undefined, () => undefined), "the task's pid");
    const ex = c.node.agent.executorOf("fw-1", "t-orphaned")!;
    // The wrapper (the container's first process) for the agent's own tasks; the command executor, its child, otherwise.
    const supervisor = commandExecutor === "agent" ? ex.container!.pid : Number((await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ")[1]);
    process.kill(supervisor, "SIGKILL");
    const failed = await waitFor(() => statusOf(c, "t-orphaned", TaskState.FAILED), "TASK_FAILED", 15_000);
    assert.equal(failed.status!.reason, TaskStatus_Reason.EXECUTOR_TERMINATED, failed.status!.message);
    assert.equal(failed.status!.source, TaskStatus_Source.AGENT);
    await waitFor(() => dead(pid), "the task's process to be killed with its container", 15_000);
  });

  it("shuts the executor and its task down when the framework is shut down", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-shut", "echo $$ > task.pid; trap '' TERM; while :; do sleep 0.05; done", 1));
    const running = await waitFor(() => statusOf(c, "t-shut", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const pidFile = join(running.status!.sandboxDirectory, "task.pid");
    const pid = await waitFor(() => readFile(pidFile, "utf8").then((t) => Number(t.trim()) || undefined), "the task's pid");
    c.master.tell(c.node.agent.self, create(ShutdownFrameworkSchema, { frameworkId: { value: "fw-1" } }));
    await waitFor(() => c.master.of("ExitedExecutor").length === 1, "the executor to exit", 15_000);
    assert.ok(await dead(pid), "the task's process is gone");
  });

  it("runs a task group together in the default executor: one failing kills the others", async () => {
    const c = (cluster = await startCluster());
    const executorInfo = { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "group-1" }, frameworkId: { value: "fw-1" } };
    const tasks = [task("g-long", "echo $$ > long.pid; sleep 60"), task("g-bad", "sleep 0.5; exit 4")];
    c.master.tell(c.node.agent.self, create(RunTaskGroupSchema, { frameworkInfo: framework, executorInfo, taskGroup: { tasks }, role: "*" }));
    await waitFor(() => statusOf(c, "g-long", TaskState.RUNNING) && statusOf(c, "g-bad", TaskState.RUNNING), "both tasks RUNNING", 15_000);
    const failed = await waitFor(() => statusOf(c, "g-bad", TaskState.FAILED), "g-bad FAILED", 15_000);
    assert.equal(failed.status!.message, "Command exited with status 4");
    const killed = await waitFor(() => statusOf(c, "g-long", TaskState.KILLED), "g-long KILLED with its group", 15_000);
    assert.equal(killed.status!.message, "Command terminated by signal SIGTERM");
    assert.equal(killed.status!.sandboxDirectory, failed.status!.sandboxDirectory, "one executor, one sandbox");
    await waitFor(() => c.master.of("ExitedExecutor").length === 1, "the default executor to exit");
  });
});
