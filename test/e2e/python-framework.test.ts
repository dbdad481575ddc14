/**
 * The example framework in Python (examples/python-framework, written from proto/ alone
 * with Debian's python3-grpcio) against a real dev cluster: it finds the master (the first
 * address given answers nothing), subscribes, launches, acknowledges, reads the exit code
 * and tears down. Its stubs are generated from the repository's proto/ for the test.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { killProcessesUnder, NodeProcess } from "../support/processes.js";
import { spawn } from "node:child_process";

const EXAMPLE = fileURLToPath(new URL("../../../examples/python-framework/", import.meta.url));
const PYTHON = "/usr/bin/python3";
const INSTALL = "sudo apt-get install -y python3-grpcio protobuf-compiler protobuf-compiler-grpc (or sudo bash deploy/setup-host.sh)";

function requirePython(): void {
  try {
    execFileSync(PYTHON, ["-c", "import grpc, google.protobuf"], { stdio: "pipe" });
  } catch (err) {
    throw new Error(`The Python framework test needs Debian's python3 with grpcio at ${PYTHON}: install it with ${INSTALL}. (${(err as Error).message.split("\n")[0]})`);
  }
}

/** Runs the example to its end (deadline 90 s); its exit code and output. */
function runExample(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [join(EXAMPLE, "hello_framework.py"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("a framework in Python from proto/ alone", () => {
  let workDir: string | undefined;
  let dev: NodeProcess | undefined;

  after(async () => {
    await dev?.stop();
    if (workDir) {
      await killProcessesUnder(workDir);
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it("runs its task on a dev cluster: finished, exit code 0, acknowledged, torn down", async () => {
    requirePython();
    workDir = await mkdtemp(join(tmpdir(), "dcos-python-framework-"));
    const gen = join(workDir, "gen");
    execFileSync("bash", [join(EXAMPLE, "generate.sh"), gen], { stdio: "pipe" });
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--dns-port=0", `--work-dir=${join(workDir, "cluster")}`]);
    const master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address");
    const http = await dev.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address");
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 30_000);

    // 127.0.0.1:1 answers nothing: the framework moves on to the next master.
    const run = await runExample([`--masters=127.0.0.1:1,${master}`, `--gen=${gen}`, "--command=echo hello-from-python"]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Subscribed at 127\.0\.0\.1:\d+/);
    assert.match(run.output, /Task hello-python\.\w+ is TASK_RUNNING/);
    assert.match(run.output, /Task hello-python\.\w+ is TASK_FINISHED, exit code 0: Command exited with status 0/);

    const state = (await (await fetch(`http://${http}/state`)).json()) as { completed_frameworks: { name: string; completed_tasks: { state: string }[] }[] };
    const done = state.completed_frameworks.find((f) => f.name === "hello-python");
    assert.ok(done, "the framework tore itself down");
    assert.deepEqual(done.completed_tasks.map((t) => t.state), ["TASK_FINISHED"], "its task finished and its updates were acknowledged");

    const failed = await runExample([`--masters=${master}`, `--gen=${gen}`, "--command=exit 3"]);
    assert.equal(failed.code, 1, failed.output);
    assert.match(failed.output, /TASK_FAILED, exit code 3/);
  });
});
