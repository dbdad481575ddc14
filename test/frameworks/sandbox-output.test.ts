/**
 * A task's output followed through the agent's /files/read (src/frameworks/common/
 * sandbox-output.ts) against the real sandbox file routes on an ephemeral port: each file
 * followed on its own with waiting reads, in order, chunks larger than one read, the rest
 * taken at finish(); and against an agent that does not wait (answers without
 * dcos-files-wait), by polling.
 */
import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TaskOutput } from "../../src/frameworks/common/sandbox-output.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { createHttpServer, listen, type RunningHttp } from "../../src/operator/http-server.js";
import { SystemClock } from "../../src/runtime/clock.js";
import { waitFor } from "../support/wait.js";

describe("following a task's output", () => {
  let work: string;
  let waiting: RunningHttp;
  let polling: RunningHttp;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "task-output-"));
    const serve = async (maxWaiting?: number) => {
      const app = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics() });
      addSandboxFileRoutes(app, work, undefined, maxWaiting);
      return listen(app, "127.0.0.1", 0);
    };
    waiting = await serve();
    polling = await serve(0); // no read may wait: the answers carry no dcos-files-wait
  });

  after(async () => {
    await waiting.close();
    await polling.close();
    await rm(work, { recursive: true, force: true });
  });

  async function sandbox(name: string): Promise<string> {
    const dir = join(work, "agents", "a1", "frameworks", "f1", "executors", name, "runs", "c1");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "stdout"), "");
    await writeFile(join(dir, "stderr"), "");
    return dir;
  }

  for (const agent of ["waiting", "polling"] as const) {
    it(`copies stdout and stderr as they grow, in order, and the rest at finish (an agent ${agent === "waiting" ? "that waits" : "that does not wait"})`, async () => {
      const dir = await sandbox(agent);
      const out: string[] = [];
      const err: string[] = [];
      const warnings: string[] = [];
      const output = new TaskOutput({
        agentHttp: (agent === "waiting" ? waiting : polling).address,
        sandbox: dir,
        sinks: { stdout: (c) => out.push(c), stderr: (c) => err.push(c) },
        clock: new SystemClock(),
        warn: (m) => warnings.push(m),
      });
      output.start();
      try {
        await appendFile(join(dir, "stdout"), "first\n");
        await waitFor(() => out.join("") === "first\n", "the first line");
        await appendFile(join(dir, "stderr"), "warning\n");
        await waitFor(() => err.join("") === "warning\n", "the stderr line");
        // More than one read's chunk (64 KiB), and characters of several bytes.
        const big = "ünïcødé ".repeat(20_000);
        await appendFile(join(dir, "stdout"), big);
        await waitFor(() => out.join("") === `first\n${big}`, "the big write, whole and in order", 20_000);
        await appendFile(join(dir, "stdout"), "last words\n");
      } finally {
        await output.finish();
      }
      assert.equal(out.join("").endsWith("last words\n"), true, "finish() took what was left");
      assert.equal(err.join(""), "warning\n");
      assert.deepEqual(warnings, []);
    });
  }
});
