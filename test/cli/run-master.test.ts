import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { RunExit, type RunOptions } from "../../src/cli/run.js";
import { MasterEndpoint } from "../support/master-endpoint.js";
import { startCapturedRun } from "../support/captured-run.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(5);

async function startRun(t: TestContext, agentResources: string, options: Partial<RunOptions> = {}) {
  const master = await MasterEndpoint.start({ agents: 1, agentResources });
  t.after(() => master.stop());
  const run = await startCapturedRun(master.address, master.cluster.clock, SEED, options);
  return { master, agent: master.cluster.agents[0]!, ...run };
}

describe("dcos-node run against the real master", () => {
  it("runs the command on the agent, shows its states, exits 0 on TASK_FINISHED and tears the framework down", async (t) => {
    const { master, out, err, exit, agent } = await startRun(t, "cpus:2;mem:1024");
    await master.cluster.allocate();
    await waitFor(() => agent.messages(RunTaskSchema).length === 1, "RunTask at the agent");
    const run = agent.messages(RunTaskSchema)[0]!;
    assert.equal(run.task?.command?.value, "echo hello");
    const frameworkId = run.frameworkInfo!.id!.value;
    const taskId = run.task!.taskId!.value;
    agent.update(frameworkId, taskId, TaskState.RUNNING);
    await waitFor(() => out.some((l) => /TASK_RUNNING/.test(l)), "TASK_RUNNING shown");
    agent.update(frameworkId, taskId, TaskState.FINISHED, { message: "Command exited with status 0" });
    assert.equal(await exit, RunExit.FINISHED);
    assert.deepEqual(err, []);
    await master.cluster.clock.settle();
    assert.ok(master.cluster.registrar.state().removedFrameworks.has(frameworkId), "the framework is torn down");
  });

  it("exits 1 with the reason when the task fails", async (t) => {
    const { master, err, exit, agent } = await startRun(t, "cpus:2;mem:1024");
    await master.cluster.allocate();
    await waitFor(() => agent.messages(RunTaskSchema).length === 1, "RunTask at the agent");
    const run = agent.messages(RunTaskSchema)[0]!;
    agent.update(run.frameworkInfo!.id!.value, run.task!.taskId!.value, TaskState.FAILED, { message: "Command exited with status 7" });
    assert.equal(await exit, RunExit.TASK_FAILED);
    assert.match(err[0]!, /TASK_FAILED: Command exited with status 7/);
  });

  it("declines an agent too small for the task and gives up at --timeout", async (t) => {
    const { master, err, exit, agent } = await startRun(t, "cpus:0.25;mem:1024", { timeoutSeconds: 5 });
    await master.cluster.allocate();
    await waitFor(() => err.length > 0 || master.cluster.metric("master/messages_decline") === 1, "the decline at the master");
    await master.cluster.clock.advance(5_000);
    assert.equal(await exit, RunExit.NOT_LAUNCHED);
    assert.match(err.at(-1)!, /No offer fit cpus=0\.5, mem=64 for role \* within 5 s \(declined 1 offer\(s\)\)/);
    assert.equal(agent.messages(RunTaskSchema).length, 0);
  });
});
