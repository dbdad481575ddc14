/**
 * Real processes across an agent restart (the agent node stopped without touching its
 * containers, as kill -9 leaves them; test/system/agent-restart has the real kill -9): the
 * task keeps running while the agent is down and the restarted agent recovers its
 * container. With `--command-executor=process` the command executor reconnects to the same
 * endpoint and the task is killed through it; with `agent` (the default) there is no
 * executor to wait for: the agent learns from the containerizer how a task that ended
 * meanwhile ended (the recorded exit status), and finishes a kill whose grace was running.
 */
import assert from "node:assert/strict";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, type ReregisterAgent } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { waitFor } from "../support/wait.js";
import { runTask, startCluster, statesOf, statusOf, task, type Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

for (const commandExecutor of ["agent", "process"] as const) {
  describe(`Agent restart, --command-executor=${commandExecutor} (real processes)`, () => {
    it("recovers a running task, which can then be killed", async () => {
      const c = (cluster = await startCluster(undefined, { commandExecutor }));
      runTask(c, task("t-long", "trap 'exit 0' TERM; while :; do sleep 0.05; done", 5));
      await waitFor(() => statusOf(c, "t-long", TaskState.RUNNING), "TASK_RUNNING", 15_000);
      const endpoint = c.node.executorEndpoint;

      await c.restartAgent();
      assert.equal(c.node.executorEndpoint, endpoint, "the restarted agent listens where its executors expect it");
      const re = await waitFor(() => c.master.of<ReregisterAgent>("ReregisterAgent")[0], "ReregisterAgent");
      assert.deepEqual(re.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t-long", "RUNNING"]]);
      await waitFor(() => c.node.agent.executorOf("fw-1", "t-long")?.phase === ExecutorPhase.RUNNING, "the task's executor running again", 15_000);

      c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-long" } }));
      const killed = await waitFor(() => statusOf(c, "t-long", TaskState.KILLED), "TASK_KILLED after the restart", 15_000);
      assert.equal(killed.status!.message, "Command exited with status 0");
    });
  });
}

describe("Agent restart with command tasks run by the agent (real processes)", () => {
  it("reports a task that ended while the agent was down with its real exit status", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-end", "while [ ! -e go ]; do sleep 0.05; done; exit 7"));
    const running = await waitFor(() => statusOf(c, "t-end", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const containerId = c.node.agent.executorOf("fw-1", "t-end")!.containerId;
    await c.restartAgent(async () => {
      await writeFile(join(running.status!.sandboxDirectory, "go"), "");
      const statusFile = join(c.workDir, "containers", containerId, "exit_status");
      await waitFor(() => exists(statusFile), "the task to end (its status recorded) while the agent is down", 15_000);
    });
    const failed = await waitFor(() => statusOf(c, "t-end", TaskState.FAILED), "TASK_FAILED after the restart", 15_000);
    assert.equal(failed.status!.message, "Command exited with status 7");
    assert.equal(failed.status!.exitCode, 7);
    assert.equal(failed.status!.source, TaskStatus_Source.EXECUTOR);
    assert.deepEqual(statesOf(c, "t-end"), ["STARTING", "RUNNING", "FAILED"]);
  });

  it("finishes a kill whose grace was running when the agent stopped: the task still gets the rest of its grace", async () => {
    const c = (cluster = await startCluster());
    // On SIGTERM it takes its time (but less than the 30 s grace) and exits 5.
    runTask(c, task("t-slow", "trap 'touch term.txt; while [ ! -e finish ]; do sleep 0.05; done; exit 5' TERM; touch trapped; while :; do sleep 0.05; done", 30));
    const running = await waitFor(() => statusOf(c, "t-slow", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const sandbox = running.status!.sandboxDirectory;
    // RUNNING comes once the container runs, maybe before the shell has set its trap.
    await waitFor(() => exists(join(sandbox, "trapped")), "the task's trap to be installed", 15_000);
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-slow" } }));
    await waitFor(() => exists(join(sandbox, "term.txt")), "the task to get its SIGTERM", 15_000);
    await c.restartAgent(() => writeFile(join(sandbox, "finish"), ""));
    const killed = await waitFor(() => statusOf(c, "t-slow", TaskState.KILLED), "TASK_KILLED after the restart", 15_000);
    assert.equal(killed.status!.message, "Command exited with status 5", "the restarted agent let it finish within its grace");
    assert.equal(killed.status!.exitCode, 5);
  });

  it("finishes a kill whose grace was running when the agent stopped: SIGKILL once the grace is over", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-stubborn", "trap 'touch term.txt' TERM; touch trapped; while :; do sleep 0.05; done", 2));
    const running = await waitFor(() => statusOf(c, "t-stubborn", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    await waitFor(() => exists(join(running.status!.sandboxDirectory, "trapped")), "the task's trap to be installed", 15_000);
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-stubborn" } }));
    await waitFor(() => exists(join(running.status!.sandboxDirectory, "term.txt")), "the task to get its SIGTERM", 15_000);
    await c.restartAgent();
    const killed = await waitFor(() => statusOf(c, "t-stubborn", TaskState.KILLED), "TASK_KILLED after the restart", 15_000);
    assert.equal(killed.status!.message, "Command terminated by signal SIGKILL");
    assert.equal(killed.status!.exitCode, 137);
  });
});
