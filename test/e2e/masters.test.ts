/**
 * MasterFailover with real processes: three `dcos-node --role=master` (one Raft group), an
 * agent given all three, and `dcos-node run` as the framework. kill -9 of the leading
 * master: another one takes over, the agent reregisters with it, the task keeps running
 * (no second launch) and the framework resubscribes under the same id.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MasterProcesses } from "../support/master-processes.js";
import { NodeProcess, killProcessesUnder } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

describe("Replicated masters as separate processes", () => {
  let dir = "";
  let masters: MasterProcesses | undefined;
  const others: NodeProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-masters-"));
  });

  after(async () => {
    await Promise.all(others.map((p) => p.stop()));
    await masters?.stop();
    await killProcessesUnder(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  });

  it("MasterFailover: kill -9 of the leader; a new leader takes over, the task keeps running, the framework resubscribes", async () => {
    masters = await MasterProcesses.start(3, dir);
    const m = masters;
    await waitFor(() => m.leader() >= 0, "a leading master", 20_000);
    const agent = new NodeProcess("agent", [
      "--role=agent",
      "--port=0",
      "--http-port=0",
      `--master=${m.list}`,
      `--work-dir=${join(dir, "agent")}`,
      "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
    ]);
    others.push(agent);
    await agent.waitForLine(/(Registered with master)/, "the agent to register", 30_000);
    const run = new NodeProcess("run", ["run", `--master=${m.list}`, "--name=survivor", "--cpus=0.5", "--mem=64", "--", "sleep 600"]);
    others.push(run);
    let exited = false;
    void run.exited.then(() => (exited = true));
    const frameworkId = await run.waitForLine(/Subscribed to master \S+ as framework (\S+)/, "the framework to subscribe", 30_000);
    await run.waitForLine(/(TASK_RUNNING)/, "the task to run", 30_000);

    const old = m.leader();
    await m.kill9(old);
    await waitFor(() => m.leader() >= 0 && m.leader() !== old, "a new leading master", 30_000);
    const leader = m.processes[m.leader()]!;
    await leader.waitForLine(/(Every agent the registry held when this term began has reregistered)/, "the agent to reregister with the new leader", 30_000);
    const resubscribed = await run.waitForLine(/(Resubscribed to master \S+ as framework \S+)/, "the framework to resubscribe", 30_000);
    assert.ok(resubscribed.endsWith(`framework ${frameworkId}`), `the framework kept its id: ${resubscribed}`);
    assert.ok(resubscribed.includes(m.addresses[m.leader()]!), `it resubscribed at the new leader: ${resubscribed}`);
    assert.equal(run.count(/Launching task/), 1, "the task was launched once");
    assert.equal(run.count(/TASK_(FINISHED|FAILED|KILLED|LOST|ERROR|UNREACHABLE)/), 0, `the task kept running:\n${run.tail()}`);
    assert.equal(exited, false, "dcos-node run is still running its task");
  });
});
