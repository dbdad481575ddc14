/**
 * Secrets in a task's environment: never in the agent's logs (at trace level), nor in the
 * executor's own log, and the checkpoints holding them are owner-only. SECRET variables
 * (inline values and references to files of the agent's --secrets-dir) reach the task but
 * no log and no checkpoint in plain text; the master refuses malformed ones.
 */
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, RunTaskSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { CommandInfoSchema, Environment_Variable_Type, EnvironmentSchema, Secret_Type, TaskState, type Environment_Variable } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandProblem } from "../../src/actors/master/validation.js";
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

/** A checkpoint's text, or undefined when the agent removed it since it was listed (the executor ended). */
async function contents(file: string, encoding: BufferEncoding = "utf8"): Promise<string | undefined> {
  return readFile(file, encoding).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
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
    // The task stays running (sleep) so its checkpoints are still there when they are read:
    // once the task ends the agent may remove them at any moment.
    const t = task("with-secret", "test \"$DB_PASSWORD\" = " + SECRET + " && echo has-it && exec sleep 300", 1);
    t.command!.environment = { $typeName: "dcos.v1.Environment", variables: [{ $typeName: "dcos.v1.Environment.Variable", name: "DB_PASSWORD", value: SECRET, type: 0 }] };
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: { ...framework, checkpoint: true }, task: t, role: "*" }));
    const running = await waitFor(() => statusOf(c, "with-secret", TaskState.RUNNING) ?? statusOf(c, "with-secret", TaskState.FAILED), "the task to run", 20_000);
    assert.equal(running.status!.state, TaskState.RUNNING, "the task runs");
    const sandbox = running.status!.sandboxDirectory;
    await waitFor(async () => (await contents(join(sandbox, "stdout")))?.includes("has-it"), "the task to print that it saw its secret", 20_000);
    assert.ok(lines.length > 10, "the agent logged at trace level");
    assert.equal(lines.filter((l) => l.includes(SECRET)).length, 0, "the agent never logged the secret");
    assert.ok(!(await readFile(join(sandbox, "stderr"), "utf8")).includes(SECRET), "the executor never logged it");
    const holding: string[] = [];
    for (const f of await files(join(c.workDir, "meta"))) {
      if (!(await contents(f))?.includes(SECRET)) continue;
      holding.push(f);
      assert.equal((await stat(f)).mode & 0o077, 0, `${f} holds the secret and must be owner-only`);
    }
    assert.ok(holding.length > 0, "the running task's checkpoint holds its environment (to relaunch after a restart)");
    c.master.tell(c.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "with-secret" } }));
    await waitFor(() => statusOf(c, "with-secret", TaskState.KILLED), "TASK_KILLED", 20_000);
  });
});

describe("SECRET environment variables", () => {
  const INLINE = "inline-s3cr3t-41a7";
  const REFERENCED = "referenced-t0ken-9c2e";
  const secretVar = (name: string, secret: object): Environment_Variable =>
    ({ $typeName: "dcos.v1.Environment.Variable", name, value: "", type: Environment_Variable_Type.SECRET, secret: { $typeName: "dcos.v1.Secret", ...secret } }) as Environment_Variable;
  const inline = (name: string, value: string) => secretVar(name, { type: Secret_Type.VALUE, value: { $typeName: "dcos.v1.Secret.Value", data: Buffer.from(value) } });
  const reference = (name: string, ref: string, key = "") => secretVar(name, { type: Secret_Type.REFERENCE, reference: { $typeName: "dcos.v1.Secret.Reference", name: ref, key } });

  it("a task sees its inline and referenced secrets; no log line, no checkpoint (plain or base64) and no status message holds them", async () => {
    const secretsDir = await mkdtemp(join(tmpdir(), "dcos-secrets-"));
    try {
      await mkdir(join(secretsDir, "db"));
      await writeFile(join(secretsDir, "db", "creds"), JSON.stringify({ token: REFERENCED, other: "x" }), { mode: 0o600 });
      await writeFile(join(secretsDir, "world-readable"), "leaky", { mode: 0o644 });
      await chmod(join(secretsDir, "world-readable"), 0o644);
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const c = (cluster = await startCluster(undefined, { logger: pino({ level: "trace" }, sink), secretsDir }));
      const t = task("secret-env", `test "$DB_PASSWORD" = ${INLINE} && test "$API_TOKEN" = ${REFERENCED} && test "$PLAIN" = visible && echo has-both`);
      t.command!.environment = create(EnvironmentSchema, {
        variables: [inline("DB_PASSWORD", INLINE), reference("API_TOKEN", "db/creds", "token"), { name: "PLAIN", value: "visible" }],
      });
      c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: { ...framework, checkpoint: true }, task: t, role: "*" }));
      const finished = await waitFor(() => statusOf(c, "secret-env", TaskState.FINISHED) ?? statusOf(c, "secret-env", TaskState.FAILED), "the task to end", 20_000);
      assert.equal(finished.status!.state, TaskState.FINISHED, `the task saw both secrets: ${finished.status!.message}`);
      const sandbox = finished.status!.sandboxDirectory;
      assert.match(await readFile(join(sandbox, "stdout"), "utf8"), /has-both/);

      // A reference to a file others may read fails the task, naming why and never a value.
      const leaky = task("leaky-secret", "echo should-not-run");
      leaky.command!.environment = create(EnvironmentSchema, { variables: [reference("LEAKY", "world-readable")] });
      c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: { ...framework, checkpoint: true }, task: leaky, role: "*" }));
      const failed = await waitFor(() => statusOf(c, "leaky-secret", TaskState.FAILED), "the leaky task to fail", 20_000);
      assert.match(failed.status!.message, /Cannot resolve secret environment variable LEAKY of task leaky-secret: secret 'world-readable' is readable by others \(mode 644\); it must be 0600 or 0400/);
      const missing = task("missing-secret", "echo should-not-run");
      missing.command!.environment = create(EnvironmentSchema, { variables: [reference("GONE", "../etc/shadow")] });
      c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: { ...framework, checkpoint: true }, task: missing, role: "*" }));
      assert.match((await waitFor(() => statusOf(c, "missing-secret", TaskState.FAILED), "the bad reference to fail", 20_000)).status!.message, /reference '..\/etc\/shadow' is not a valid secret name/);

      const forms = [INLINE, REFERENCED, Buffer.from(INLINE).toString("base64"), Buffer.from(REFERENCED).toString("base64")];
      assert.ok(lines.length > 10, "the agent logged at trace level");
      for (const f of forms) assert.equal(lines.filter((l) => l.includes(f)).length, 0, `no log line holds ${f}`);
      for (const f of await files(join(c.workDir, "meta"))) {
        const text = (await contents(f, "latin1")) ?? "";
        for (const form of forms) assert.ok(!text.includes(form), `${f} holds a secret in plain text (${form})`);
      }
      assert.ok(!(await readFile(join(sandbox, "stderr"), "utf8")).includes(INLINE), "the executor never logged it");
      for (const u of c.master.of<StatusUpdate>("StatusUpdate")) for (const f of forms) assert.ok(!(u.status?.message ?? "").includes(f));
      // The task's records were checkpointed (the status update journal names it), and no file
      // under meta, the journal included, held a secret in any form (checked above).
      const named: string[] = [];
      for (const f of await files(join(c.workDir, "meta"))) if (((await contents(f, "latin1")) ?? "").includes("secret-env")) named.push(f);
      assert.ok(named.length > 0, "the task was checkpointed");
    } finally {
      await rm(secretsDir, { recursive: true, force: true });
    }
  });

  it("the master refuses malformed SECRET variables with the variable named", () => {
    const cmd = (v: Environment_Variable) => create(CommandInfoSchema, { value: "true", environment: { variables: [v] } });
    assert.match(commandProblem(cmd({ ...inline("A", "x"), value: "plain" }), "task t command")!, /environment variable A is of type SECRET and must not have a value/);
    assert.match(commandProblem(cmd({ ...inline("A", "x"), secret: undefined }), "task t command")!, /environment variable A is of type SECRET but has no secret/);
    assert.match(commandProblem(cmd(inline("A", "")), "task t command")!, /environment variable A has a VALUE secret without data/);
    assert.match(commandProblem(cmd(reference("A", "")), "task t command")!, /environment variable A has a REFERENCE secret without a name/);
    assert.match(commandProblem(cmd({ ...inline("A", "x"), type: Environment_Variable_Type.VALUE }), "task t command")!, /environment variable A has a secret but is not of type SECRET/);
    assert.equal(commandProblem(cmd(reference("A", "db/creds", "token")), "task t command"), undefined);
  });
});
