/**
 * The embedded dev cluster (`--role=dev`) as a first user meets it, in real processes:
 * "up" means the master leads (the UI answers at once), `dcos-node run -- <command>` needs no
 * --name and shows the task's stdout and stderr, and stopping the cluster kills its tasks.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { alive, killProcessesUnder, NodeProcess, runToEnd } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

describe("dev cluster (--role=dev)", () => {
  let workDir: string | undefined;
  let dev: NodeProcess | undefined;
  let run: NodeProcess | undefined;

  after(async () => {
    run?.kill("SIGKILL");
    await dev?.stop();
    if (workDir) {
      await killProcessesUnder(workDir);
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it("is up only once its master leads; run needs no --name and streams the task's output; on exit it kills its tasks", async () => {
    workDir = await mkdtemp(join(tmpdir(), "dcos-dev-cluster-"));
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--dns-port=0", "--jobs-port=0", "--services-port=0", `--work-dir=${workDir}`]);
    const http = await dev.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address");
    const grpc = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address");
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 30_000);
    const page = await fetch(`http://${http}/`);
    assert.equal(page.status, 200, "the web UI answers right after 'up' (the master leads)");
    await page.arrayBuffer();

    const done = await runToEnd("dcos-node run", ["run", `--master=${grpc}`, "--", "echo hello-from-the-task; echo oops-on-stderr >&2"]);
    assert.equal(done.code, 0, done.output);
    assert.match(done.output, /Launching task echo\./, "the name defaults to the command's program");
    assert.match(done.output, /^hello-from-the-task$/m, "stdout streamed");
    assert.match(done.output, /^oops-on-stderr$/m, "stderr streamed");

    const pidFile = join(workDir, "task.pid");
    run = new NodeProcess("dcos-node run", ["run", `--master=${grpc}`, "--name=sleeper", "--no-output", "--", `echo $$ > ${pidFile}; exec sleep 600`]);
    await run.waitForLine(/(TASK_RUNNING)/, "the long task to run", 30_000);
    const pid = await waitFor(async () => Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || undefined, "the task's pid");
    assert.ok(alive(pid));
    // The framework stays subscribed (a one-off framework that went away would be torn down
    // by the master at once, failover timeout 0, and its task with it): the cluster's own exit
    // must end the task.
    dev.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.tail());
    assert.match(dev.lines.join("\n"), /Killed 1 task container\(s\) of the embedded cluster/);
    assert.equal(alive(pid), false, "the task's process is gone after the dev cluster exits");
  });
});
