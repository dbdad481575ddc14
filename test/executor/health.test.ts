/**
 * Health checks of command tasks run by the agent itself (`--command-executor=agent`) and
 * by the real command executor (`process`), and of task groups in the real default
 * executor (real processes): an HTTP server and a TCP listener in this test process, check
 * commands in the task's sandbox and environment (and, with cgroups,namespaces, inside the
 * task's cgroup and namespaces). Health changes reach the (scripted) master as TASK_RUNNING
 * updates with `healthy`; too many failures kill the task.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, readlink } from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { RunTaskGroupSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { EnvironmentSchema, ExecutorInfo_Type, HealthCheckSchema, HealthCheck_Type, TaskState, TaskStatus_Reason, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { framework } from "../agent/harness.js";
import { removeCgroup } from "../../src/isolation/cgroup-files.js";
import { readCgroupMounts } from "../../src/isolation/cgroup-mounts.js";
import { isolatorsFor } from "../../src/isolation/isolation-flag.js";
import { PosixContainerizer } from "../../src/isolation/posix.js";
import { requireRoot } from "../isolation/support.js";
import { waitFor } from "../support/wait.js";
import { runTask, startCluster as startTestCluster, statusOf, task, type Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  for (const c of cleanups.splice(0)) await c();
});

/** Fast timing for tests: probe at once, every 200 ms, no grace period. */
const FAST = { delaySeconds: 0, intervalSeconds: 0.2, timeoutSeconds: 5, gracePeriodSeconds: 0, consecutiveFailures: 2 };

function checked(t: TaskInfo, check: MessageInitShape<typeof HealthCheckSchema>): TaskInfo {
  t.healthCheck = create(HealthCheckSchema, { ...FAST, ...check });
  return t;
}

function healthUpdates(c: Cluster, taskId: string): StatusUpdate[] {
  return c.master.of<StatusUpdate>("StatusUpdate").filter((u) => u.status?.taskId?.value === taskId && u.status.healthy !== undefined);
}

/** The task's health as reported so far, e.g. ["RUNNING healthy", "RUNNING unhealthy", "KILLED unhealthy"]. */
function healthHistory(c: Cluster, taskId: string): string[] {
  return healthUpdates(c, taskId).map((u) => `${TaskState[u.status!.state]} ${u.status!.healthy ? "healthy" : "unhealthy"}`);
}

function reportedHealthy(c: Cluster, taskId: string, healthy: boolean): StatusUpdate | undefined {
  return healthUpdates(c, taskId).find((u) => u.status!.state === TaskState.RUNNING && u.status!.healthy === healthy);
}

async function killedByHealthCheck(c: Cluster, taskId: string): Promise<StatusUpdate> {
  const killed = await waitFor(() => statusOf(c, taskId, TaskState.KILLED), `${taskId} TASK_KILLED by its health check`, 20_000);
  assert.equal(killed.status!.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
  assert.equal(killed.status!.healthy, false);
  return killed;
}

/** An HTTP server on a free loopback port whose answer the test sets. */
async function httpServer(): Promise<{ port: number; status: { code: number }; paths: string[] }> {
  const status = { code: 200 };
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? "");
    res.statusCode = status.code;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, status, paths };
}

for (const commandExecutor of ["agent", "process"] as const) describe(`health checks, --command-executor=${commandExecutor} (real processes)`, () => {
  const startCluster = (): ReturnType<typeof startTestCluster> => startTestCluster(undefined, { commandExecutor });

  it("HealthyTaskViaHTTP: 2xx is healthy, a 500 makes it unhealthy, two in a row kill it", async () => {
    const server = await httpServer();
    const c = (cluster = await startCluster());
    runTask(c, checked(task("h-http", "sleep 60", 1), { type: HealthCheck_Type.HTTP, http: { port: server.port, path: "/health" } }));
    const healthy = await waitFor(() => reportedHealthy(c, "h-http", true), "h-http reported healthy", 20_000);
    assert.equal(healthy.status!.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
    assert.equal(server.paths[0], "/health");
    server.status.code = 500;
    const killed = await killedByHealthCheck(c, "h-http");
    assert.match(killed.status!.message, /^Health check failed 2 times in a row: GET http:\/\/127\.0\.0\.1:\d+\/health answered 500; Command terminated by signal SIGTERM$/);
    assert.deepEqual(healthHistory(c, "h-http"), ["RUNNING healthy", "RUNNING unhealthy", "KILLED unhealthy"]);
  });

  it("HealthyTaskViaHTTP: a 3xx is healthy (redirects are not followed); `statuses` narrows what is", async () => {
    const server = await httpServer();
    server.status.code = 302;
    const c = (cluster = await startCluster());
    runTask(c, checked(task("h-302", "sleep 60", 1), { type: HealthCheck_Type.HTTP, http: { port: server.port } }));
    runTask(c, checked(task("h-only-200", "sleep 60", 1), { type: HealthCheck_Type.HTTP, http: { port: server.port, statuses: [200] } }));
    await waitFor(() => reportedHealthy(c, "h-302", true), "h-302 healthy", 20_000);
    const killed = await killedByHealthCheck(c, "h-only-200");
    assert.match(killed.status!.message, /answered 302/);
    assert.equal(statusOf(c, "h-302", TaskState.KILLED), undefined, "the 302 task keeps running");
  });

  it("HealthyTaskViaTCP: healthy while the port accepts, killed once it refuses", async () => {
    const listener = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as net.AddressInfo).port;
    const c = (cluster = await startCluster());
    runTask(c, checked(task("h-tcp", "sleep 60", 1), { type: HealthCheck_Type.TCP, tcp: { port } }));
    await waitFor(() => reportedHealthy(c, "h-tcp", true), "h-tcp healthy", 20_000);
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    const killed = await killedByHealthCheck(c, "h-tcp");
    assert.match(killed.status!.message, new RegExp(`TCP connection to 127\\.0\\.0\\.1:${port} failed: connect ECONNREFUSED`));
    assert.deepEqual(healthHistory(c, "h-tcp"), ["RUNNING healthy", "RUNNING unhealthy", "KILLED unhealthy"]);
  });

  it("HealthyTask: a COMMAND check runs in the task's sandbox with the task's environment", async () => {
    const c = (cluster = await startCluster());
    const t = task("h-cmd", "echo ready > ready.txt; sleep 60", 1);
    t.command!.environment = create(EnvironmentSchema, { variables: [{ name: "APP_MODE", value: "serving" }] });
    runTask(c, checked(t, { type: HealthCheck_Type.COMMAND, command: { value: 'test "$APP_MODE" = serving && test -f ready.txt' }, gracePeriodSeconds: 30 }));
    const healthy = await waitFor(() => reportedHealthy(c, "h-cmd", true), "h-cmd healthy", 20_000);
    assert.equal(healthy.status!.message, "Health check succeeded");
    assert.equal(statusOf(c, "h-cmd", TaskState.KILLED), undefined);
  });

  it("ConsecutiveFailures: a failing COMMAND check reports unhealthy, then the task is killed", async () => {
    const c = (cluster = await startCluster());
    runTask(c, checked(task("h-fail", "sleep 60", 1), { type: HealthCheck_Type.COMMAND, command: { value: "exit 7" }, consecutiveFailures: 3 }));
    const killed = await killedByHealthCheck(c, "h-fail");
    assert.match(killed.status!.message, /^Health check failed 3 times in a row: the check's command failed: Command exited with status 7; Command terminated by signal SIGTERM$/);
    assert.deepEqual(healthHistory(c, "h-fail"), ["RUNNING unhealthy", "KILLED unhealthy"], "unhealthy is reported once, before the kill");
    await waitFor(() => c.master.of("ExitedExecutor").length === 1, "the command executor to exit");
  });

  it("CheckCommandTimeout: a check command that hangs is killed at the timeout and counts as a failure", async () => {
    const c = (cluster = await startCluster());
    const check = { type: HealthCheck_Type.COMMAND, command: { value: "echo $$ > check.pid; exec sleep 300" }, timeoutSeconds: 0.5, consecutiveFailures: 1 };
    runTask(c, checked(task("h-hang", "sleep 60", 1), check));
    const killed = await killedByHealthCheck(c, "h-hang");
    assert.match(killed.status!.message, /^Health check failed 1 times in a row: the check did not answer within its timeout of 0.5 s/);
    const pid = Number((await readFile(join(killed.status!.sandboxDirectory, "check.pid"), "utf8")).trim());
    assert.ok(pid > 0);
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, "the hanging check command to be gone");
  });

  it("a task group in the default executor: one task failing its check kills the group", async () => {
    const c = (cluster = await startCluster());
    const executorInfo = { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "hg-1" }, frameworkId: { value: "fw-1" } };
    const tasks = [task("hg-ok", "sleep 60", 1), checked(task("hg-sick", "sleep 60", 1), { type: HealthCheck_Type.COMMAND, command: { value: "false" } })];
    c.master.tell(c.node.agent.self, create(RunTaskGroupSchema, { frameworkInfo: framework, executorInfo, taskGroup: { tasks }, role: "*" }));
    await killedByHealthCheck(c, "hg-sick");
    const other = await waitFor(() => statusOf(c, "hg-ok", TaskState.KILLED), "hg-ok KILLED with its group", 20_000);
    assert.equal(other.status!.healthy, undefined, "the task without a check has no health");
    await waitFor(() => c.master.of("ExitedExecutor").length === 1, "the default executor to exit");
  });
});

describe("health checks of a command task run by the agent under cgroups,namespaces (real processes, root)", () => {
  const CGROUP_ROOT = `dcos-test-health-${process.pid}`;
  after(async () => {
    const mounts = await readCgroupMounts();
    for (const dir of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) await removeCgroup(join(dir, CGROUP_ROOT));
  });

  it("runs a COMMAND check inside the task's PID namespace and cgroup", async () => {
    requireRoot("The cgroups and namespaces isolators");
    const isolators = await isolatorsFor("cgroups,namespaces", { root: CGROUP_ROOT });
    const c = (cluster = await startTestCluster((workDir) => new PosixContainerizer({ runtimeRoot: join(workDir, "containers"), isolators })));
    const t = task("h-ns", "readlink /proc/self/ns/pid > ns.txt; cat /proc/self/cgroup > cg.txt; sleep 60", 1);
    const inside = 'test "$(readlink /proc/self/ns/pid)" = "$(cat ns.txt)" && test "$(cat /proc/self/cgroup)" = "$(cat cg.txt)"';
    runTask(c, checked(t, { type: HealthCheck_Type.COMMAND, command: { value: inside }, gracePeriodSeconds: 30 }));
    const healthy = await waitFor(() => reportedHealthy(c, "h-ns", true), "h-ns healthy (its check ran in its namespace and cgroup)", 20_000);
    assert.equal(healthy.status!.message, "Health check succeeded");
    assert.notEqual((await readFile(join(healthy.status!.sandboxDirectory, "ns.txt"), "utf8")).trim(), await readlink("/proc/self/ns/pid"), "the task has a PID namespace of its own");
  });

  it("runs a COMMAND check of a task switched to its user (--switch-user) as that user (setpriv), inside its PID namespace and cgroup; a check that needs root fails", async () => {
    requireRoot("The cgroups and namespaces isolators and user switching");
    // The framework's user (test/agent/harness.ts) is `nobody`, which every Debian machine has.
    const uid = Number(execFileSync("id", ["-u", "nobody"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "nobody"]).toString().trim());
    assert.notEqual(uid, 0);
    const isolators = await isolatorsFor("cgroups,namespaces", { root: CGROUP_ROOT });
    const c = (cluster = await startTestCluster((workDir) => new PosixContainerizer({ runtimeRoot: join(workDir, "containers"), isolators }), { switchUser: true }));
    const record = "id -u > uid.txt; readlink /proc/self/ns/pid > ns.txt; cat /proc/self/cgroup > cg.txt; sleep 60";
    const inside = 'test "$(readlink /proc/self/ns/pid)" = "$(cat ns.txt)" && test "$(cat /proc/self/cgroup)" = "$(cat cg.txt)"';
    const asUser = `test "$(id -u)" = ${uid} && test "$(id -g)" = ${gid} && ${inside}`;
    runTask(c, checked(task("h-user", record, 1), { type: HealthCheck_Type.COMMAND, command: { value: asUser }, gracePeriodSeconds: 30 }));
    const healthy = await waitFor(() => reportedHealthy(c, "h-user", true), "h-user healthy (its check ran as its user, in its namespace and cgroup)", 20_000);
    assert.equal(healthy.status!.message, "Health check succeeded");
    assert.equal((await readFile(join(healthy.status!.sandboxDirectory, "uid.txt"), "utf8")).trim(), String(uid), "the task itself runs as its user");

    // The same container as root would pass this check: run as the task's user it fails, twice in a row, and the task is killed.
    runTask(c, checked(task("h-root", "sleep 60", 1), { type: HealthCheck_Type.COMMAND, command: { value: 'test "$(id -u)" = 0' } }));
    const killed = await killedByHealthCheck(c, "h-root");
    assert.match(killed.status!.message, /^Health check failed 2 times in a row: .*status 1/);
    assert.equal(reportedHealthy(c, "h-root", true), undefined, "never healthy: the check never ran as root");
  });
});

