import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventJson, StateJson, TaskJson } from "../../src/ui/web/api.js";
import { describeEvent, taskStateName } from "../../src/ui/web/describe-event.js";
import { findTask, matching, tasksByState, tasksOnAgent } from "../../src/ui/web/queries.js";
import { ResourceSeries } from "../../src/ui/web/series.js";
import type { ResourceSample } from "../../src/ui/resource-sample.js";

function sample(time: number, cpusUsed: number): ResourceSample {
  return { time, cpusTotal: 4, cpusUsed, memTotal: 2048, memUsed: 512, diskTotal: 100, diskUsed: 0, tasksRunning: 1, agents: 1 };
}

function task(id: string, state: string, agent = "S1", framework = "F1"): TaskJson {
  const r = { cpus: 1, mem: 32, disk: 0, gpus: 0 };
  return { id, name: id, framework_id: framework, executor_id: "", slave_id: agent, state, resources: r, role: "*", statuses: [] };
}

function state(): StateJson {
  const fw = (id: string, tasks: TaskJson[], completed: TaskJson[]) =>
    ({ id, name: id, user: "u", role: "*", roles: ["*"], hostname: "h", active: true, connected: true, registered_time: 1, tasks, completed_tasks: completed }) as StateJson["frameworks"][number];
  return {
    frameworks: [fw("F1", [task("a", "TASK_RUNNING"), task("b", "TASK_RUNNING", "S2")], [task("c", "TASK_FINISHED")])],
    completed_frameworks: [fw("F0", [], [task("a", "TASK_FAILED", "S2", "F0")])],
    slaves: [],
  } as unknown as StateJson;
}

describe("web UI model", () => {
  it("the resource series keeps samples in time order within its window, as uPlot columns", () => {
    const s = new ResourceSeries(60_000);
    s.load([sample(0, 1), sample(30_000, 2)]);
    assert.equal(s.add(sample(30_000, 9)), false, "a sample not newer than the last is ignored");
    assert.equal(s.add(sample(70_000, 3)), true);
    assert.deepEqual(s.columns("cpus"), [
      [30, 70],
      [2, 3],
      [4, 4],
    ]);
    assert.deepEqual(s.columns("mem")[1], [512, 512]);
    assert.equal(s.latest()?.cpusUsed, 3);
  });

  it("task counts by state, lookups and filters cover active and completed tasks of every framework", () => {
    const st = state();
    assert.deepEqual(tasksByState(st), [
      ["TASK_RUNNING", 2],
      ["TASK_FAILED", 1],
      ["TASK_FINISHED", 1],
    ]);
    assert.equal(findTask(st, "F1", "c")?.state, "TASK_FINISHED");
    assert.equal(findTask(st, "F0", "a")?.state, "TASK_FAILED", "same task id in another framework");
    assert.equal(findTask(st, "F1", "zz"), undefined);
    assert.deepEqual(tasksOnAgent(st, "S2").map((t) => `${t.framework_id}/${t.id}`), ["F1/b", "F0/a"]);
    const tasks = st.frameworks[0]!.tasks;
    assert.deepEqual(matching(tasks, "b", (t) => [t.id, t.state]).map((t) => t.id), ["b"], "a filter matches any field");
    assert.equal(matching(tasks, "", (t) => [t.id]).length, 2, "an empty filter keeps everything");
  });

  it("each event becomes one line linking to its task, agent or framework", () => {
    const ev = (type: string, body: Record<string, unknown>): EventJson => ({ type, sequence: 1, ...body });
    assert.equal(taskStateName("TASK_STATE_RUNNING"), "TASK_RUNNING");
    assert.deepEqual(describeEvent(ev("TASK_UPDATED", { taskUpdated: { frameworkId: { value: "F1" }, state: "TASK_STATE_FAILED", status: { taskId: { value: "t 1" }, message: "exit 3" } } })), {
      text: "Task t 1 is TASK_FAILED: exit 3",
      href: "#/tasks/F1/t%201",
    });
    assert.deepEqual(describeEvent(ev("TASK_ADDED", { taskAdded: { task: { taskId: { value: "t1" }, frameworkId: { value: "F1" }, agentId: { value: "S1" }, state: "TASK_STATE_STAGING" } } })), {
      text: "Task t1 added on agent S1 (TASK_STAGING)",
      href: "#/tasks/F1/t1",
    });
    assert.deepEqual(describeEvent(ev("AGENT_REMOVED", { agentRemoved: { agentId: { value: "S2" }, reason: "unreachable" } })), {
      text: "Agent S2 removed: unreachable",
      href: "#/agents/S2",
    });
    assert.deepEqual(describeEvent(ev("FRAMEWORK_ADDED", { frameworkAdded: { framework: { frameworkInfo: { name: "web", id: { value: "F9" } } } } })), {
      text: "Framework web added",
      href: "#/frameworks/F9",
    });
    assert.equal(describeEvent(ev("OFFERS_MADE", { offersMade: { offers: [{ frameworkId: { value: "F1" } }, {}] } })).text, "2 offers made to framework F1");
    assert.equal(describeEvent(ev("LEADER_CHANGED", { leaderChanged: {} })).text, "No master is leading");
    assert.deepEqual(describeEvent(ev("SOMETHING_NEW", {})), { text: "SOMETHING_NEW" }, "an unknown kind shows its type");
  });
});
