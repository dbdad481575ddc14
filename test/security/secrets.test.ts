/**
 * Secrets in a task's environment: never in the agent's logs (at trace level), nor in the
 * executor's own log, and the checkpoints holding them are owner-only.
 */
import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { create } from "@bufbuild/protobuf";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { framework } from "../agent/harness.js";
import { startCluster, statusOf, task, type Cluster } from "../executor/cluster.js";
import { waitFor } from "../support/wait.js";

const SECRET = "s3cr3t-value-7f1d9c";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Every file under dir (checkpoints), recursively. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe("Secrets", () => {
  it("a task's environment secret is never logged, and the checkpoints that hold it are 0600", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: "trace" }, sink);
    const c = (cluster = await startCluster(undefined, { logger }));
    const t = task("with-secret", "test \"$DB_PASSWORD\" = " + SECRET + " && echo has-it");
    t.command!.environment = { $typeName: "dcos.v1.Environment", variables: [{ $typeName: "dcos.v1.Environment.Variable", name: "DB_PASSWORD", value: SECRET, type: 0 }] };
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: { ...framework, checkpoint: true }, task: t, role: "*" }));
    const finished = await waitFor(() => statusOf(c, "with-secret", TaskState.FINISHED) ?? statusOf(c, "with-secret", TaskState.FAILED), "the task to end", 20_000);
    assert.equal(finished.status!.state, TaskState.FINISHED, "the task saw its secret");
    const sandbox = finished.status!.sandboxDirectory;
    assert.match(await readFile(join(sandbox, "stdout"), "utf8"), /has-it/);
    assert.ok(lines.length > 10, "the agent logged at trace level");
    assert.equal(lines.filter((l) => l.includes(SECRET)).length, 0, "the agent never logged the secret");
    assert.ok(!(await readFile(join(sandbox, "stderr"), "utf8")).includes(SECRET), "the executor never logged it");
    const holding: string[] = [];
    for (const f of await files(join(c.workDir, "meta"))) {
      if (!(await readFile(f, "utf8")).includes(SECRET)) continue;
      holding.push(f);
      assert.equal((await stat(f)).mode & 0o077, 0, `${f} holds the secret and must be owner-only`);
    }
    assert.ok(holding.length > 0, "the task's checkpoint holds its environment (to relaunch after a restart)");
  });
});
