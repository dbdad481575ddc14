import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { startAgentHttp } from "../../src/operator/agent-http.js";
import type { RunningHttp } from "../../src/operator/http-server.js";
import { admit, commandTask, executorStatus, runAndSubscribe, sendUpdate, startHarness, type Harness } from "../agent/harness.js";

let harness: Harness | undefined;
let http: RunningHttp | undefined;
afterEach(async () => {
  await http?.close();
  await harness?.stop();
  http = undefined;
  harness = undefined;
});

async function agentState(x: Harness): Promise<Record<string, any>> {
  http ??= await startAgentHttp({ host: "127.0.0.1", port: 0, version: "9.9.9", flags: {}, metrics: x.metrics, agent: x.agent, workDir: x.workDir, master: "master-host:5050" });
  const r = await fetch(`http://${http.address}/state`);
  assert.equal(r.status, 200);
  return (await r.json()) as Record<string, any>;
}

describe("agent HTTP /state", () => {
  it("lists the agent's frameworks, their executors and tasks in Mesos's shape", async () => {
    const x = (harness = await startHarness());
    await admit(x);
    assert.deepEqual((await agentState(x)).frameworks, [], "no framework before the first task");
    await runAndSubscribe(x, commandTask("t1"));
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.RUNNING));
    const body = await agentState(x);
    assert.equal(body.id, "agent-1");
    assert.equal(body.frameworks.length, 1);
    const fw = body.frameworks[0];
    assert.equal(fw.id, "fw-1");
    assert.equal(fw.name, "test");
    assert.equal(fw.role, "*");
    assert.equal(fw.executors.length, 1);
    const ex = fw.executors[0];
    assert.equal(ex.id, "t1");
    assert.equal(ex.type, "COMMAND");
    assert.match(ex.directory, /t1/, "the executor's sandbox");
    assert.deepEqual(
      ex.tasks.map((t: any) => [t.id, t.state, t.framework_id, t.executor_id, t.slave_id]),
      [["t1", "TASK_RUNNING", "fw-1", "t1", "agent-1"]],
    );
    assert.equal(ex.tasks[0].resources.cpus, 0.5);
    assert.equal(ex.tasks[0].resources.ports, "[31001-31002]");
    assert.deepEqual(ex.completed_tasks, []);

    await sendUpdate(x, "t1", executorStatus("t1", TaskState.FINISHED));
    const after = (await agentState(x)).frameworks[0];
    const all = [...after.executors, ...after.completed_executors];
    assert.deepEqual(
      all.flatMap((e: any) => e.completed_tasks.map((t: any) => [t.id, t.state])),
      [["t1", "TASK_FINISHED"]],
      "a finished task moves to completed_tasks",
    );
  });
});
