/**
 * User switching on a real agent: a task runs as its framework's (or command's) user,
 * resolved with getent; a user the agent does not have fails the task saying so.
 * Needs root (useradd, setuid); fails with how to run it otherwise.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { framework } from "../agent/harness.js";
import { startCluster, statusOf, task, type Cluster } from "../executor/cluster.js";
import { waitFor } from "../support/wait.js";

const USER = "dcos-test-user";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function ensureUser(): number {
  assert.equal(process.getuid?.(), 0, "this test creates a user and switches to it: run it as root (CI does: npm test runs as root)");
  try {
    execFileSync("getent", ["passwd", USER]);
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
  }
  return Number(execFileSync("id", ["-u", USER]).toString().trim());
}

describe("Switching users", () => {
  it("task run as a user: the framework's user runs the task (uid from getent), an unknown user fails it", async () => {
    const uid = ensureUser();
    const c = (cluster = await startCluster(undefined, { switchUser: true }));
    const asUser = { ...framework, user: USER };
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: asUser, task: task("as-user", "id -u; id -un"), role: "*" }));
    const finished = await waitFor(() => statusOf(c, "as-user", TaskState.FINISHED) ?? statusOf(c, "as-user", TaskState.FAILED), "the task to end", 20_000);
    assert.equal(finished.status!.state, TaskState.FINISHED, finished.status!.message);
    const out = await readFile(join(finished.status!.sandboxDirectory, "stdout"), "utf8");
    assert.match(out, new RegExp(`^${uid}\\n${USER}\\n`, "m"), `stdout: ${out}`);

    const unknown = task("no-such-user", "true");
    unknown.command!.user = "no-such-user-dcos";
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: asUser, task: unknown, role: "*" }));
    const failed = await waitFor(() => statusOf(c, "no-such-user", TaskState.FAILED) ?? statusOf(c, "no-such-user", TaskState.FINISHED), "the unknown user's task to end", 20_000);
    assert.match(failed.status!.message, /Cannot run as user 'no-such-user-dcos': no such user on this agent/);
  });
});
