/**
 * Real processes across an agent restart: the task and its command executor keep running
 * while the agent is down; the restarted agent recovers the container, the executor
 * reconnects to the same endpoint, and the task can still be killed through it.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, type ReregisterAgent } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { waitFor } from "../support/wait.js";
import { runTask, startCluster, statusOf, task, type Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("Agent restart (real processes)", () => {
  it("recovers a running task: the executor reconnects and the task is killed through it", async () => {
    const c = (cluster = await startCluster());
    runTask(c, task("t-long", "trap 'exit 0' TERM; while :; do sleep 0.05; done", 5));
    await waitFor(() => statusOf(c, "t-long", TaskState.RUNNING), "TASK_RUNNING", 15_000);
    const endpoint = c.node.executorEndpoint;

    await c.restartAgent();
    assert.equal(c.node.executorEndpoint, endpoint, "the restarted agent listens where its executors expect it");
    const re = await waitFor(() => c.master.of<ReregisterAgent>("ReregisterAgent")[0], "ReregisterAgent");
    assert.deepEqual(re.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t-long", "RUNNING"]]);
    await waitFor(() => c.node.agent.executorOf("fw-1", "t-long")?.phase === ExecutorPhase.RUNNING, "the executor to subscribe again", 15_000);

    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "t-long" } }));
    const killed = await waitFor(() => statusOf(c, "t-long", TaskState.KILLED), "TASK_KILLED after the restart", 15_000);
    assert.equal(killed.status!.message, "Command exited with status 0");
  });
});
