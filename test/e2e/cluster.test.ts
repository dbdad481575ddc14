/**
 * The whole offer cycle with real processes: a `dcos-node --role=master`, two
 * `--role=agent` processes, and `dcos-node run` as the framework.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeProcess, runToEnd } from "../support/processes.js";

describe("a master, two agents and dcos-node run, as separate processes", () => {
  let dir = "";
  let master: NodeProcess;
  const agents: NodeProcess[] = [];
  let masterAddress = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-e2e-"));
    master = new NodeProcess("master", ["--role=master", "--port=0", "--http-port=0", "--allocation-interval=100ms"]);
    masterAddress = await master.waitForLine(/Master listening on (\d+\.\d+\.\d+\.\d+:\d+)/, "the master to listen");
    for (const i of [1, 2]) {
      const agent = new NodeProcess(`agent-${i}`, [
        "--role=agent",
        "--port=0",
        "--http-port=0",
        `--master=${masterAddress}`,
        `--work-dir=${join(dir, `agent-${i}`)}`,
        "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
      ]);
      agents.push(agent);
      await agent.waitForLine(/(Registered with master)/, "the agent to register");
    }
  });

  after(async () => {
    await Promise.all([...agents, master].map((p) => p?.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it("runs a command to TASK_FINISHED and exits 0", async () => {
    const { code, output } = await runToEnd("run", ["run", `--master=${masterAddress}`, "--name=hello", "--cpus=0.5", "--mem=64", "--", "echo hello from a task"]);
    assert.equal(code, 0, output);
    assert.match(output, /TASK_RUNNING/);
    assert.match(output, /TASK_FINISHED/);
  });

  it("reports a failing command as TASK_FAILED with its exit status and exits non-zero", async () => {
    const { code, output } = await runToEnd("run", ["run", `--master=${masterAddress}`, "--name=fails", "--", "exit 3"]);
    assert.equal(code, 1, output);
    assert.match(output, /TASK_FAILED/);
    assert.match(output, /status 3/);
  });

  it("runs tasks on both agents when one agent cannot hold them all", async () => {
    // Each agent has 2 cpus, so two 1.5-cpu tasks at once must land on different agents.
    const runs = await Promise.all(
      [1, 2].map((i) => runToEnd(`run-${i}`, ["run", `--master=${masterAddress}`, `--name=big-${i}`, "--cpus=1.5", "--mem=64", "--", "sleep 1"])),
    );
    for (const r of runs) assert.equal(r.code, 0, r.output);
    const agentsUsed = new Set(runs.map((r) => /on agent (\S+)/.exec(r.output)?.[1]));
    assert.equal(agentsUsed.size, 2, `both agents should run a task: ${[...agentsUsed].join(", ")}`);
  });
});
