/**
 * The agent's warm launcher (src/isolation/launcher-server.ts) with real processes on
 * separate "hosts" (network namespaces, cluster 137): a kill -9 of the launcher while tasks
 * run and while one ends is seen by the agent (counted in slave/launcher_crashes), the
 * task that ended is reported with its real exit status, the others keep running and are
 * still watched, and new launches go through a new launcher. And the other way round: an
 * agent killed for longer than its --recovery-timeout has its tasks killed by the launcher
 * (no task outlives an agent that never returns), and an agent that returns later still
 * reports how they ended.
 */
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { waitFor } from "../support/wait.js";
import { launcherPid, launcherSocket } from "../support/warm-launcher.js";
import { SystemCluster, sleeping } from "./system-cluster.js";

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const AGENT_HTTP_PORT = 5081;
const RECOVERY_TIMEOUT_S = 3;

describe("The agent's warm launcher (real processes in network namespaces)", () => {
  let c: SystemCluster;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-launcher-crash-"));
    c = await SystemCluster.start(137, 2, "launcher-crash", 1, { agentFlags: [`--recovery-timeout=${RECOVERY_TIMEOUT_S}secs`] });
  });

  after(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const socket = (): string => launcherSocket(join(c.dir, "agent-2", "containers"));
  const metrics = async (): Promise<Record<string, number>> => (await (await fetch(`http://${c.net.ip(2)}:${AGENT_HTTP_PORT}/metrics/snapshot`)).json()) as Record<string, number>;

  it("survives a kill -9 of the launcher: counted, the ended task reported with its exit status, the others still watched, new launches work", async () => {
    const go = join(dir, "go");
    await c.framework.launch("long", c.hostname(2), c.longTask("long"));
    const longPid = await c.taskPid("long");
    await c.framework.launch("ends", c.hostname(2), `while [ ! -e ${go} ]; do sleep 0.05; done; exit 7`);
    assert.equal((await metrics())["slave/launcher_crashes"], 0);
    const first = await waitFor(() => launcherPid(socket()), "the agent's launcher");
    process.kill(first, "SIGKILL");
    await writeFile(go, "");

    const ended = await c.framework.waitForState("ends", [TaskState.FAILED, TaskState.FINISHED, TaskState.KILLED, TaskState.LOST], 30_000);
    assert.equal(TaskState[ended.state], "FAILED", c.framework.describe("ends"));
    assert.equal(ended.message, "Command exited with status 7");
    assert.equal(ended.exitCode, 7);
    assert.equal((await metrics())["slave/launcher_crashes"], 1);
    assert.ok(await sleeping(longPid), "the long task still runs");

    await c.framework.launch("after", c.hostname(2), "exit 0");
    const finished = await c.framework.waitForState("after", [TaskState.FINISHED, TaskState.FAILED], 30_000);
    assert.equal(TaskState[finished.state], "FINISHED", c.framework.describe("after"));
    const second = await waitFor(() => launcherPid(socket()), "a new launcher");
    assert.notEqual(second, first);

    const since = c.framework.updates.length;
    await c.framework.kill("long");
    const killed = await c.framework.waitForState("long", [TaskState.KILLED, TaskState.FAILED], 30_000, since);
    assert.equal(TaskState[killed.state], "KILLED", c.framework.describe("long"));
    assert.equal(killed.message, "Command terminated by signal SIGTERM");
  });

  it("kills the tasks of an agent gone for longer than --recovery-timeout; the agent that returns reports how they ended", async () => {
    const bye = join(dir, "bye");
    await c.framework.launch("orphaned", c.hostname(2), `trap 'touch ${bye}; exit 3' TERM; echo $$ > ${join(dir, "orphaned.pid")}; while :; do sleep 0.05; done`);
    const pid = await waitFor(async () => Number((await readFile(join(dir, "orphaned.pid"), "utf8").catch(() => "")).trim()) || undefined, "the task's pid");
    const launcher = await waitFor(() => launcherPid(socket()), "the agent's launcher");
    await c.killAgent(2);
    // Nothing happens before the recovery timeout; then the task gets its SIGTERM and the launcher exits.
    await waitFor(() => exists(bye), "the launcher to SIGTERM the task", 30_000);
    await waitFor(async () => !(await exists(`/proc/${pid}/stat`)) || (await readFile(`/proc/${pid}/stat`, "utf8")).includes(") Z"), "the task to end", 15_000);
    await waitFor(async () => (await launcherPid(socket())) === undefined || undefined, "the launcher to exit", 15_000);
    assert.equal(await launcherPid(socket()), undefined, `launcher ${launcher} exited`);

    const since = c.framework.updates.length;
    await c.startAgent(2);
    const killed = await c.framework.waitForState("orphaned", [TaskState.KILLED, TaskState.FAILED, TaskState.FINISHED, TaskState.LOST], 30_000, since);
    assert.equal(TaskState[killed.state], "KILLED", c.framework.describe("orphaned"));
    assert.equal(killed.message, "Command exited with status 3");
    assert.equal(killed.exitCode, 3);
  });
});
