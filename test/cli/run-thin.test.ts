/**
 * `dcos-node run` through the dev cluster's run service (src/cli/run-thin.ts,
 * src/frameworks/run), as real processes: one dev cluster with --authenticate and ACLs,
 * and CLI processes against it. Output and exit codes as the framework path has them;
 * a failing task; HTTPS with the dev cluster's client certificate; authentication and
 * ACL refusals; bad input (flags, and raw HTTP: malformed JSON, unknown fields, a body
 * over the limit); Ctrl-C and --timeout; a client killed with SIGKILL gets its task
 * killed, and so is one that stops reading; runs over the service's caps get 429; HTTPS
 * resumes a kept TLS session; --framework still runs a one-off framework.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { devClientTlsDir } from "../../src/cli/dev-client-tls.js";
import { readDevRunService } from "../../src/cli/dev-run-service.js";
import { RunExit } from "../../src/cli/run-exit.js";
import { alive, BIN, CLI, killProcessesUnder, NodeProcess } from "../support/processes.js";
import { runCli, type RunCli } from "../support/run-cli.js";
import { waitFor } from "../support/wait.js";

/** `dcos-node run` with the client's timing marks on stderr (DCOS_NODE_RUN_TIMING). */
function cli(args: string[], env: Record<string, string> = {}, entry = CLI): RunCli {
  return runCli(args, { DCOS_NODE_RUN_TIMING: "1", ...env }, entry);
}

describe("dcos-node run through the run service", () => {
  let workDir: string;
  let dev: NodeProcess;
  let master: string;
  let loopback: string;
  let operator: Record<string, string>;
  let operatorHeader: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "dcos-run-thin-"));
    const acls = join(workDir, "acls.json");
    await writeFile(
      acls,
      JSON.stringify({
        permissive: true,
        run_tasks: [
          { principals: { values: ["dcos-jobs"] }, users: { type: "NONE" } },
          { principals: { values: ["dcos-operator", "dcos-run", "dev"] }, users: { type: "ANY" } },
        ],
      }),
    );
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--no-jobs", "--services-port=-1", "--run-offer-hold=1secs", "--run-max-runs=4", "--run-max-runs-per-principal=3", "--authenticate", `--acls=${acls}`, `--work-dir=${join(workDir, "dev")}`]);
    master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    const service = readDevRunService(devClientTlsDir(master));
    assert.ok(service?.loopback && service.url.startsWith("https://"), `the dev cluster records its run service: ${JSON.stringify(service)}`);
    loopback = service.loopback;
    const credentialFile = join(workDir, "dev", "credentials", "dcos-operator.json");
    operator = { DCOS_NODE_CREDENTIAL_FILE: credentialFile };
    const c = JSON.parse(await readFile(credentialFile, "utf8")) as { principal: string; secret: string };
    operatorHeader = `Basic ${Buffer.from(`${c.principal}:${c.secret}`).toString("base64")}`;
    // The service leads and is subscribed once /metrics says so.
    await waitFor(async () => ((await (await fetch(`${loopback}/metrics`, { headers: { authorization: operatorHeader } })).json()) as Record<string, number>)["run/elected"] === 1, "the run service to be subscribed", 30_000);
  });

  after(async () => {
    await dev?.stop();
    await killProcessesUnder(workDir);
    await rm(workDir, { recursive: true, force: true });
  });

  const metrics = async () => (await (await fetch(`${loopback}/metrics`, { headers: { authorization: operatorHeader } })).json()) as Record<string, number>;

  it("runs a task: its output on stdout, the run's lines on stderr, exit 0, without loading the framework", async () => {
    const r = cli([`--master=${master}`, "--", "echo hello-thin"], operator);
    assert.equal(await r.code, RunExit.FINISHED, r.stderr());
    assert.equal(r.stdout(), "hello-thin\n");
    const err = r.stderr();
    assert.match(err, /^timing thin /m, "the thin path ran");
    assert.doesNotMatch(err, /^timing (modules|cli:)/m, "neither the bundle nor the gRPC modules were loaded");
    assert.match(err, /^Subscribed to master \S+ as framework \S+-\d+$/m);
    assert.match(err, /^Launching task echo\.\S+ on agent \S+ \(\S+\) with cpus/m);
    assert.match(err, /TASK_RUNNING \(SOURCE_EXECUTOR\)$/m);
    assert.match(err, /TASK_FINISHED: Command exited with status 0/m);
    assert.match(err, /^Sandbox: \S+ \(stdout, stderr\)$/m);
  });

  it("the installed command (dist/cli/dcos-node.cjs) runs the thin path from one file and the rest from the modules", async () => {
    const r = cli([`--master=${master}`, "--", "echo via-bin"], operator, BIN);
    assert.equal(await r.code, RunExit.FINISHED, r.stderr());
    assert.equal(r.stdout(), "via-bin\n");
    assert.match(r.stderr(), /^timing thin /m);
    const version = cli(["--version"], {}, BIN);
    assert.equal(await version.code, 0, version.stderr());
    assert.match(version.stdout(), /^\d+\.\d+\.\d+\n$/);
    const framework = cli([`--master=${master}`, "--framework", "--no-output", "--cpus=0", "--", "true"], {}, BIN);
    assert.equal(await framework.code, RunExit.USAGE, "the framework path's own checks, through the modules");
    assert.match(framework.stderr(), /Invalid --cpus 0/);
    assert.match(framework.stderr(), /^timing cli:/m, "the bundled run command ran");
  });

  it("a failing task: exit 1, its stderr and the reason shown; --no-output prints the lines on stdout", async () => {
    const r = cli([`--master=${master}`, "--name=failing", "--", "echo oops >&2; exit 3"], operator);
    assert.equal(await r.code, RunExit.TASK_FAILED, r.stderr());
    assert.match(r.stderr(), /^oops$/m);
    assert.match(r.stderr(), /Task failing\.\S+ ended TASK_FAILED: Command exited with status 3/);
    const quiet = cli([`--master=${master}`, "--no-output", "--", "echo not-shown; exit 4"], operator);
    assert.equal(await quiet.code, RunExit.TASK_FAILED);
    assert.doesNotMatch(quiet.stdout() + quiet.stderr(), /not-shown/);
    assert.match(quiet.stdout(), /TASK_FAILED: Command exited with status 4/);
  });

  it("HTTPS with the dev cluster's client certificate authenticates its principal", async () => {
    const r = cli([`--master=${master}`, `--tls-dir=${devClientTlsDir(master)}`, "--no-output", "--", "true"]);
    assert.equal(await r.code, RunExit.FINISHED, r.stderr() + r.stdout());
    assert.match(r.stdout(), /TASK_FINISHED/);
    assert.match(r.stderr(), /^timing tls-(full|resumed) /m);
    // The next run resumes the session whose ticket the first kept (~/.dcos-node/tls-sessions, 0600).
    const again = cli([`--master=${master}`, `--tls-dir=${devClientTlsDir(master)}`, "--no-output", "--", "true"]);
    assert.equal(await again.code, RunExit.FINISHED, again.stderr() + again.stdout());
    assert.match(again.stderr(), /^timing tls-resumed /m);
  });

  it("refuses anonymous callers, wrong secrets and principals the ACLs deny (exit 3, nothing runs)", async () => {
    const before = (await metrics())["run/launched"]!;
    const anonymous = cli([`--master=${master}`, "--", "true"]);
    assert.equal(await anonymous.code, RunExit.NOT_LAUNCHED);
    assert.match(anonymous.stderr(), /HTTP 401\): Authentication required/);
    const wrong = cli([`--master=${master}`, "--principal=dcos-operator", "--secret=not-the-secret", "--", "true"]);
    assert.equal(await wrong.code, RunExit.NOT_LAUNCHED);
    assert.match(wrong.stderr(), /HTTP 401\): Invalid credentials for principal 'dcos-operator'/);
    const denied = cli([`--master=${master}`, "--", "true"], { DCOS_NODE_CREDENTIAL_FILE: join(workDir, "dev", "credentials", "dcos-jobs.json") });
    assert.equal(await denied.code, RunExit.NOT_LAUNCHED);
    assert.match(denied.stderr(), /HTTP 403\): Not authorized: principal 'dcos-jobs'.*run_tasks/);
    assert.equal((await metrics())["run/launched"], before, "no task was launched");
  });

  it("bad input is a 4xx with a JSON message: flags (exit 2), malformed JSON, unknown fields, a body over the limit", async () => {
    const r = cli([`--master=${master}`, "--cpus=0", "--", "true"], operator);
    assert.equal(await r.code, RunExit.USAGE);
    assert.match(r.stderr(), /^Invalid --cpus 0: must be a number > 0$/m);
    const env = cli([`--master=${master}`, "--env=1X=y", "--", "true"], operator);
    assert.equal(await env.code, RunExit.USAGE);
    assert.match(env.stderr(), /Invalid --env name '1X'/);
    const post = async (body: string) => {
      const res = await fetch(`${loopback}/v1/runs`, { method: "POST", headers: { authorization: operatorHeader, "content-type": "application/json" }, body });
      return { status: res.status, json: (await res.json()) as { message: string } };
    };
    const malformed = await post("{not json");
    assert.equal(malformed.status, 400);
    assert.ok(malformed.json.message.length > 0);
    const unknown = await post(JSON.stringify({ command: "true", cpus: 0.1, mem: 16, user: "root", shell: true }));
    assert.deepEqual(unknown, { status: 400, json: { message: "Unknown field 'shell'" } });
    const noCommand = await post(JSON.stringify({ command: 42, cpus: 0.1, mem: 16, user: "root" }));
    assert.equal(noCommand.status, 400);
    assert.match(noCommand.json.message, /'command' must be a string/);
    const huge = await post(JSON.stringify({ command: "x".repeat(70 * 1024), cpus: 0.1, mem: 16, user: "root" }));
    assert.equal(huge.status, 413);
    assert.match(huge.json.message, /too large/i);
    const kill = await fetch(`${loopback}/v1/runs/no-such-run/kill`, { method: "POST", headers: { authorization: operatorHeader } });
    assert.equal(kill.status, 404);
  });

  it("Ctrl-C kills the task (exit 130) and --timeout kills it (exit 124)", async () => {
    const r = cli([`--master=${master}`, "--no-output", "--", "sleep 600"], operator);
    await waitFor(() => /TASK_RUNNING/.test(r.stdout()), "the task to run", 30_000);
    r.signal("SIGINT");
    assert.equal(await r.code, RunExit.INTERRUPTED, r.stderr());
    assert.match(r.stdout(), /TASK_KILLED/);
    const t = cli([`--master=${master}`, "--no-output", "--timeout=1", "--", "sleep 600"], operator);
    assert.equal(await t.code, RunExit.TIMED_OUT, t.stderr());
    assert.match(t.stderr(), /Timed out after 1 s; killing task/);
  });

  it("a client that goes away (SIGKILL) gets its task killed", async () => {
    const pidFile = join(workDir, "task.pid");
    const before = (await metrics())["run/disconnects"]!;
    const r = cli([`--master=${master}`, "--no-output", "--", `echo $$ > ${pidFile}; exec sleep 600`], operator);
    await waitFor(() => /TASK_RUNNING/.test(r.stdout()), "the task to run", 30_000);
    const pid = await waitFor(async () => Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || undefined, "the task's pid");
    assert.ok(alive(pid));
    r.signal("SIGKILL");
    await r.code;
    await waitFor(async () => (await metrics())["run/disconnects"] === before + 1, "the service to see the client go", 30_000);
    await waitFor(() => !alive(pid), "the task's process to be killed", 30_000);
    await waitFor(async () => (await metrics())["run/active"] === 0, "the run to end", 30_000);
  });

  it("caps runs in progress per principal (3 here) and in total (4): one more is refused with 429, Retry-After and a JSON message (exit 3)", async () => {
    await waitFor(async () => (await metrics())["run/active"] === 0, "no run in progress", 30_000);
    const refusedBefore = (await metrics())["run/refused_over_limit"]!;
    const tlsDir = devClientTlsDir(master);
    const running = [0, 1, 2].map(() => cli([`--master=${master}`, "--no-output", "--", "sleep 120"], operator));
    try {
      await waitFor(async () => (await metrics())["run/active"] === 3, "three runs of dcos-operator in progress", 30_000);
      const res = await fetch(`${loopback}/v1/runs`, {
        method: "POST",
        headers: { authorization: operatorHeader, "content-type": "application/json" },
        body: JSON.stringify({ command: "true", cpus: 0.1, mem: 32, user: "root" }),
      });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("retry-after"), "5");
      assert.match(((await res.json()) as { message: string }).message, /^Principal 'dcos-operator' already has 3 runs in progress, the limit per principal \(--max-runs-per-principal=3\); try again in 5 s$/);
      const refused = cli([`--master=${master}`, "--no-output", "--", "true"], operator);
      assert.equal(await refused.code, RunExit.NOT_LAUNCHED, refused.stderr());
      assert.match(refused.stderr(), /The run service refused the run \(HTTP 429\): Principal 'dcos-operator' already has 3 runs/);
      // Another principal (the dev client certificate's) still gets a run: the fourth in progress.
      running.push(cli([`--master=${master}`, `--tls-dir=${tlsDir}`, "--no-output", "--", "sleep 120"]));
      await waitFor(async () => (await metrics())["run/active"] === 4, "four runs in progress", 30_000);
      const overTotal = cli([`--master=${master}`, `--tls-dir=${tlsDir}`, "--no-output", "--", "true"]);
      assert.equal(await overTotal.code, RunExit.NOT_LAUNCHED, overTotal.stderr());
      assert.match(overTotal.stderr(), /HTTP 429\): The run service already has 4 runs in progress, its limit \(--max-runs=4\); try again in 5 s/);
      assert.equal((await metrics())["run/refused_over_limit"], refusedBefore + 3);
    } finally {
      for (const r of running) r.signal("SIGINT");
      for (const r of running) await r.code;
    }
    await waitFor(async () => (await metrics())["run/active"] === 0, "the capped runs to end", 30_000);
    const after = cli([`--master=${master}`, "--no-output", "--", "true"], operator);
    assert.equal(await after.code, RunExit.FINISHED, after.stderr());
  });

  it("a client that stops reading a task's flood of output is dropped and the task killed", async () => {
    const before = (await metrics())["run/disconnects"]!;
    const { port } = new URL(loopback);
    const socket = connect(Number(port), "127.0.0.1");
    const body = JSON.stringify({ command: "head -c 50331648 /dev/zero | tr '\\0' x; exec sleep 600", cpus: 0.1, mem: 32, user: "root" });
    socket.write(`POST /v1/runs HTTP/1.1\r\nhost: ${port}\r\nauthorization: ${operatorHeader}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // Never read: the socket stays paused, the kernel's buffers fill, then the service's (48 MiB of output is more than both).
    try {
      await waitFor(async () => (await metrics())["run/disconnects"] === before + 1, "the service to drop the client that does not read", 60_000, 100);
      await waitFor(async () => (await metrics())["run/active"] === 0, "the flooding task to be killed", 30_000, 100);
    } finally {
      socket.destroy();
    }
  });

  it("a role the service does not serve runs a one-off framework of that role instead", async () => {
    // Both paths authenticated by the dev cluster's client certificate.
    const r = cli([`--master=${master}`, `--tls-dir=${devClientTlsDir(master)}`, "--role=batch", "--no-output", "--", "true"]);
    // Unreserved resources are offered to every role: the framework of role "batch" runs it.
    assert.equal(await r.code, RunExit.FINISHED, r.stderr());
    assert.match(r.stderr(), /^timing thin /m);
    assert.match(r.stderr(), /^timing modules /m, "then the framework path ran");
    assert.match(r.stdout(), /TASK_FINISHED/);
  });

  it("dcos-node run-service: a second instance (not leading) sends the client to the leader with a 307", async () => {
    const tlsDir = devClientTlsDir(master);
    const standby = new NodeProcess("run-service", [
      "run-service",
      `--master=${master}`,
      "--http-port=0",
      `--tls-cert=${join(tlsDir, "node.crt")}`,
      `--tls-key=${join(tlsDir, "node.key")}`,
      `--tls-ca=${join(tlsDir, "ca.crt")}`,
      `--credential-file=${join(workDir, "dev", "credentials", "dcos-run.json")}`,
      `--credentials=${join(workDir, "dev", "credentials.json")}`,
    ]);
    try {
      const url = await standby.waitForLine(/Run service on (https:\/\/[\d.]+:\d+)/, "the second instance's URL", 30_000);
      // The dev cluster's instance holds the lease (same principal, same lease log): this one follows.
      const launched = (await metrics())["run/launched"]!;
      const r = cli([`--master=${master}`, `--run-url=${url}`, `--tls-dir=${tlsDir}`, "--no-output", "--", "true"]);
      assert.equal(await r.code, RunExit.FINISHED, r.stderr() + r.stdout());
      assert.match(r.stdout(), /TASK_FINISHED/);
      assert.equal((await metrics())["run/launched"], launched + 1, "the leader (the dev cluster's instance) launched it");
    } finally {
      await standby.stop();
    }
  });

  it("--framework runs a one-off framework of its own, as before", async () => {
    // Authenticated by the dev cluster's client certificate (principal "dev"), as the framework path finds it.
    const r = cli([`--master=${master}`, "--framework", "--no-output", "--", "true"]);
    assert.equal(await r.code, RunExit.FINISHED, r.stderr());
    assert.match(r.stderr(), /^timing modules /m, "the framework path loaded its modules");
    assert.doesNotMatch(r.stderr(), /^timing thin /m);
    assert.match(r.stdout(), /TASK_FINISHED/);
  });
});
