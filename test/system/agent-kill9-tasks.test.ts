/**
 * Command tasks run by the agent itself (the default `--command-executor=agent`) across
 * `kill -9` of the agent, real processes on separate "hosts" (network namespaces, cluster
 * 110): nothing supervises the task while the agent is dead but its launch wrapper, which
 * records how the command ended; the restarted agent learns it from the containerizer and
 * reports it with the real exit status, and a kill that was under way when the agent died is
 * finished and reported as TASK_KILLED (the destroy's deadline is in the container's runtime
 * directory).
 */
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { waitFor } from "../support/wait.js";
import { SystemCluster, sleeping } from "./system-cluster.js";

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe("Agent kill -9 with command tasks run by the agent (real processes in network namespaces)", () => {
  let c: SystemCluster;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-kill9-tasks-"));
    c = await SystemCluster.start(110, 2, "agent-kill9-tasks");
  });

  after(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("reports a task that ended while its agent was dead with its real exit status", async () => {
    const taskId = "ends-while-down";
    const go = join(dir, "go");
    const pidFile = join(dir, "ends.pid");
    await c.framework.launch(taskId, c.hostname(2), `echo $$ > ${pidFile}; while [ ! -e ${go} ]; do sleep 0.05; done; exit 7`);
    const pid = await waitFor(async () => Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || undefined, "the task's pid");
    await c.killAgent(2);
    await writeFile(go, "");
    await waitFor(async () => !(await sleeping(pid)) && !(await exists(`/proc/${pid}/stat`)), "the task to end while the agent is dead", 15_000);

    const since = c.framework.updates.length;
    await c.startAgent(2);
    const failed = await c.framework.waitForState(taskId, [TaskState.FAILED, TaskState.FINISHED, TaskState.KILLED, TaskState.LOST], 30_000, since);
    assert.equal(TaskState[failed.state], "FAILED", c.framework.describe(taskId));
    assert.equal(failed.message, "Command exited with status 7");
    assert.equal(failed.exitCode, 7);
  });

  it("finishes a kill that was under way when the agent was killed: TASK_KILLED with how the task ended", async () => {
    const taskId = "killed-mid-grace";
    const term = join(dir, "term");
    const finish = join(dir, "finish");
    const trapped = join(dir, "trapped");
    await c.framework.launch(taskId, c.hostname(2), `trap 'touch ${term}; while [ ! -e ${finish} ]; do sleep 0.05; done; exit 5' TERM; touch ${trapped}; while :; do sleep 0.05; done`);
    const since = c.framework.updates.length;
    await waitFor(() => exists(trapped), "the task's trap to be installed", 15_000);
    await c.framework.kill(taskId);
    await waitFor(() => exists(term), "the task to get its SIGTERM", 15_000);
    await c.killAgent(2);
    await writeFile(finish, "");
    await c.startAgent(2);
    const killed = await c.framework.waitForState(taskId, [TaskState.FAILED, TaskState.FINISHED, TaskState.KILLED, TaskState.LOST], 30_000, since);
    assert.equal(TaskState[killed.state], "KILLED", c.framework.describe(taskId));
    assert.equal(killed.message, "Command exited with status 5");
    assert.equal(killed.exitCode, 5);
  });
});
