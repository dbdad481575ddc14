/**
 * Partitions with real processes on separate "hosts" (network namespaces): a master on host 1,
 * agents on hosts 2 and 3, a partition-aware framework in the test process. As Mesos's
 * PartitionTest: an agent the master cannot reach is marked unreachable and its tasks reported
 * TASK_UNREACHABLE, the tasks keep running on the agent, and after healing the agent
 * reregisters and reconciliation reports them TASK_RUNNING again (until then it answers
 * TASK_UNREACHABLE), the same processes, never ended or relaunched.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { SystemCluster, sleeping } from "./system-cluster.js";

/** 3 missed 1 s pings plus the registry write; generous for a noisy machine. */
const UNREACHABLE_WITHIN_MS = 30_000;
/** The agent's own watchdog (5 silent ping intervals) plus its registration backoff. */
const BACK_WITHIN_MS = 60_000;

describe("Partitions between hosts (real processes in network namespaces)", () => {
  let c: SystemCluster;

  before(async () => {
    c = await SystemCluster.start(1, 3, "partition");
  });

  after(async () => {
    await c?.stop();
  });

  /** Runs a long task on `host`, cuts the host off with `cut`, checks, restores with `restore`, checks. */
  async function partitionAndHeal(taskId: string, host: number, cut: () => Promise<unknown>, restore: () => Promise<unknown>): Promise<void> {
    await c.framework.launch(taskId, c.hostname(host), c.longTask(taskId));
    const pid = await c.taskPid(taskId);
    assert.ok(await sleeping(pid), `task ${taskId} runs as pid ${pid}`);

    const beforeCut = c.framework.updates.length;
    await cut();
    const lost = await c.framework.waitForState(taskId, [TaskState.UNREACHABLE, TaskState.LOST], UNREACHABLE_WITHIN_MS, beforeCut);
    assert.equal(lost.state, TaskState.UNREACHABLE, "a partition-aware framework hears TASK_UNREACHABLE, not TASK_LOST");
    assert.match(lost.message, /unreachable/);
    assert.ok(await sleeping(pid), "the task keeps running on the agent cut off from the master");

    const beforeHeal = c.framework.updates.length;
    await restore();
    await c.framework.reconciledAs(taskId, TaskState.RUNNING, beforeHeal, BACK_WITHIN_MS, () => c.logs());
    assert.ok(await sleeping(pid), "the same task process still runs: nothing was relaunched");
    const states = c.framework.updates.filter((u) => u.taskId?.value === taskId).map((u) => u.state);
    assert.ok(!states.some(isTerminal), `the task never ended (states: ${c.framework.describe(taskId)})`);
    assert.equal(c.framework.latest(taskId)?.state, TaskState.RUNNING);
  }

  it("marks an agent partitioned from the master unreachable, keeps its task running, and reconciles it RUNNING after healing", async () => {
    await partitionAndHeal(
      "cut-by-iptables",
      2,
      () => c.net.partition(1, 2),
      () => c.net.heal(1, 2),
    );
  });

  it("does the same for an agent whose network link goes down and comes back", async () => {
    await partitionAndHeal(
      "cut-by-link",
      3,
      () => c.net.linkDown(3),
      () => c.net.linkUp(3),
    );
  });

  it("marked only the agent that was cut off, once per cut", () => {
    const unreachable = c.master.lines.filter((l) => /is unreachable: \d+ pings went unanswered/.test(l));
    const hosts = unreachable.map((l) => /\((dcos-test-\d+-\d+)\) is unreachable/.exec(l)?.[1]);
    assert.deepEqual(hosts, [c.hostname(2), c.hostname(3)], `unreachable markings:\n${unreachable.join("\n")}`);
    const unreachableTasks = new Set(c.framework.updates.filter((u) => u.state === TaskState.UNREACHABLE).map((u) => u.taskId?.value));
    assert.deepEqual([...unreachableTasks].sort(), ["cut-by-iptables", "cut-by-link"]);
  });
});
