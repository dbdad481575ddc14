/**
 * The run service's own failover, as real processes: a dev cluster without a run service of
 * its own, two `dcos-node run-service` instances (A leads, B follows), and `dcos-node run`
 * streaming a task's output from A. A is killed with SIGKILL mid-run: the client says the
 * stream was lost and that the next leader kills the task, and exits 1 at once; B takes the
 * lease, subscribes as the same framework, learns of the task by reconciliation and kills it
 * (its process is gone, run/orphans_killed 1); runs then go through B.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RunExit } from "../../src/cli/run-exit.js";
import { alive, killProcessesUnder, NodeProcess } from "../support/processes.js";
import { runCli } from "../support/run-cli.js";
import { waitFor } from "../support/wait.js";

describe("the run service's failover", () => {
  let workDir: string;
  let dev: NodeProcess;
  let master: string;
  const instances: NodeProcess[] = [];

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "dcos-run-failover-"));
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--no-jobs", "--services-port=-1", "--run-port=-1", `--work-dir=${join(workDir, "dev")}`]);
    master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
  });

  after(async () => {
    for (const i of instances) await i.stop();
    await dev?.stop();
    await killProcessesUnder(workDir);
    await rm(workDir, { recursive: true, force: true });
  });

  async function instance(name: string): Promise<{ process: NodeProcess; url: string; metrics: () => Promise<Record<string, number>> }> {
    const p = new NodeProcess(`run-service ${name}`, [
      "run-service",
      `--master=${master}`,
      "--http-port=0",
      "--lease-ttl=2secs",
      `--credential-file=${join(workDir, "dev", "credentials", "dcos-run.json")}`,
    ]);
    instances.push(p);
    const url = await p.waitForLine(/Run service on (http:\/\/[\d.]+:\d+)/, `instance ${name}'s URL`, 30_000);
    return { process: p, url, metrics: async () => (await (await fetch(`${url}/metrics`)).json()) as Record<string, number> };
  }

  it("kill -9 of the leading instance mid-run: the client exits 1 saying so, the next leader kills the orphaned task after reconciliation", async () => {
    const a = await instance("A");
    await waitFor(async () => (await a.metrics())["run/elected"] === 1, "A to lead and subscribe", 30_000);
    const b = await instance("B");
    assert.equal((await b.metrics())["run/elected"], 0, "B follows while A holds the lease");

    const pidFile = join(workDir, "task.pid");
    const client = runCli([`--master=${master}`, `--run-url=${a.url}`, "--", `echo $$ > ${pidFile}; echo streaming; exec sleep 600`]);
    await waitFor(() => client.stdout().includes("streaming\n"), "the task's output through A", 30_000);
    assert.match(client.stderr(), /TASK_RUNNING/);
    const pid = await waitFor(async () => Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || undefined, "the task's pid");
    const taskId = /^Launching task (\S+) on agent/m.exec(client.stderr())?.[1];
    assert.ok(taskId && alive(pid));

    a.process.kill("SIGKILL");
    assert.equal(await client.code, RunExit.TASK_FAILED, client.stderr());
    assert.ok(
      client.stderr().includes(`The run service closed the stream before the run ended; its next leader kills task ${taskId} (the master does if none is back within 5 minutes)`),
      client.stderr(),
    );
    assert.ok(alive(pid), "the task outlives the service instance until the next leader decides");

    await waitFor(async () => (await b.metrics())["run/elected"] === 1, "B to take the lease and subscribe", 60_000, 100);
    await waitFor(async () => (await b.metrics())["run/orphans_killed"] === 1, "B to kill the orphaned task after reconciliation", 30_000, 100);
    await waitFor(() => !alive(pid), "the orphaned task's process to end", 30_000);

    // Runs go through B now.
    const next = runCli([`--master=${master}`, `--run-url=${b.url}`, "--", "echo through-b"]);
    assert.equal(await next.code, RunExit.FINISHED, next.stderr());
    assert.equal(next.stdout(), "through-b\n");
  });
});
