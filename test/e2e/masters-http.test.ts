/**
 * The operators' HTTP view of replicated masters, with real processes: three
 * `dcos-node --role=master` on --http-port=0 (each its own port) and an agent on
 * --http-port=0. Standbys send the web UI and /redirect to the leader's HTTP endpoint (the
 * port from its `elected` entry), also after a failover; the leader reads a task's stdout
 * from the agent's /files at the HTTP port the agent registered with (no guessed port).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { masterProcessesFixture } from "../support/master-processes.js";
import type { NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const HTTP = /Master HTTP on http:\/\/(\S+) /;

function httpAddress(p: NodeProcess): string {
  for (const line of p.lines) {
    const m = HTTP.exec(line);
    if (m) return m[1]!;
  }
  throw new Error(`${p.name} has not said where its HTTP endpoint is:\n${p.tail()}`);
}

/** Status and Location of a GET that is not followed. */
async function head(url: string): Promise<{ status: number; location: string | null }> {
  const r = await fetch(url, { redirect: "manual" });
  await r.arrayBuffer();
  return { status: r.status, location: r.headers.get("location") };
}

describe("Replicated masters' HTTP (separate processes)", () => {
  const fixture = masterProcessesFixture("dcos-masters-http-");

  it("standbys redirect / and /redirect (307) to the leader's HTTP address, before and after a failover; the leader reads sandboxes at the agent's registered HTTP port", async () => {
    const m = await fixture.startMasters(3);
    await waitFor(() => m.leader() >= 0, "a leading master", 30_000);
    const http = m.processes.map((p) => httpAddress(p!));
    assert.equal(new Set(http).size, 3, `each master has its own HTTP port: ${http.join(", ")}`);

    const redirectsTo = async (leader: number): Promise<void> => {
      const target = `http://${http[leader]}/`;
      for (const [i, p] of m.processes.entries()) {
        if (!p || i === leader) continue;
        // The standby learns the leader's port when the leader's elected entry reaches it.
        await waitFor(async () => (await head(`http://${http[i]}/redirect`)).location === target, `master-${i + 1} to redirect to ${target}`, 30_000);
        assert.deepEqual(await head(`http://${http[i]}/redirect`), { status: 307, location: target }, `master-${i + 1} /redirect`);
        assert.deepEqual(await head(`http://${http[i]}/`), { status: 307, location: target }, `master-${i + 1} sends the web UI to the leader`);
      }
      assert.deepEqual(await head(`http://${http[leader]}/redirect`), { status: 307, location: target }, "the leader redirects to itself");
      assert.equal((await head(`http://${http[leader]}/`)).status, 200, "the leader serves the web UI");
    };
    await redirectsTo(m.leader());

    const agent = fixture.spawn("agent", [
      "--role=agent",
      "--port=0",
      "--http-port=0",
      `--master=${m.list}`,
      `--work-dir=${join(fixture.dir(), "agent")}`,
      "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
    ]);
    await agent.waitForLine(/(Registered with master)/, "the agent to register", 30_000);
    const run = fixture.spawn("run", ["run", `--master=${m.list}`, "--name=hello", "--cpus=0.5", "--mem=64", "--", "echo hello-from-the-sandbox; sleep 600"]);
    const frameworkId = await run.waitForLine(/Subscribed to master \S+ as framework (\S+)/, "the framework to subscribe", 30_000);
    const taskId = await run.waitForLine(/Launching task (\S+)/, "the task to launch", 30_000);
    await run.waitForLine(/(TASK_RUNNING)/, "the task to run", 30_000);
    const stdout = `http://${http[m.leader()]}/ui/sandbox/${frameworkId}/${taskId}/read?path=stdout&offset=0`;
    let body: { data?: string } = {};
    await waitFor(async () => {
      body = (await (await fetch(stdout)).json()) as { data?: string };
      return body.data?.includes("hello-from-the-sandbox") ?? false;
    }, `the task's stdout through the leader (last answer ${JSON.stringify(body)})`, 30_000);

    const old = m.leader();
    await m.kill9(old);
    await waitFor(() => m.leader() >= 0 && m.leader() !== old, "a new leading master", 30_000);
    await redirectsTo(m.leader());
  });
});
