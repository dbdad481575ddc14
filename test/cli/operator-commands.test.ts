/**
 * The operator subcommands as an operator runs them: the real `dcos-node` binary (dist)
 * against a master's OperatorService on a loopback port.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MasterEndpoint } from "../support/master-endpoint.js";

const MAIN = join(fileURLToPath(new URL(".", import.meta.url)), "../../src/cli/main.js");

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("dcos-node operator subcommands", () => {
  it("quota set / show / remove; a guarantee beyond the cluster fails with the master's reason unless --force", async (t) => {
    const master = await MasterEndpoint.start({ agents: 2, agentResources: "cpus:4;mem:4096" });
    t.after(() => master.stop());
    const m = `--master=${master.address}`;
    const set = await cli("quota", m, "set", "eng", "--guarantee=cpus:2;mem:512", "--limit=cpus:6");
    assert.equal(set.code, 0, set.stderr);
    const shown = await cli("quota", m, "show");
    assert.match(shown.stdout, /^eng\tguarantees cpus:2;mem:512\tlimits cpus:6$/m);
    const tooBig = await cli("quota", m, "set", "big", "--guarantee=cpus:100");
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /UpdateQuota on .* failed: Total quota guarantees of cpus \(102\) would exceed .* \(8\); set force/);
    assert.equal((await cli("quota", m, "set", "big", "--guarantee=cpus:100", "--force")).code, 0);
    assert.equal((await cli("quota", m, "remove", "big")).code, 0);
    assert.deepEqual([...master.cluster.registrar.state().quotas.keys()], ["eng"]);
    const bad = await cli("quota", m, "set", "eng", "--guarantee=cpus:x");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--guarantee: /);
  });

  it("agent drain / reactivate / deactivate: the master records the drain with the grace period; an unknown agent fails with NOT_FOUND's reason", async (t) => {
    const master = await MasterEndpoint.start({ agents: 1, agentResources: "cpus:4;mem:4096" });
    t.after(() => master.stop());
    const m = `--master=${master.address}`;
    const id = master.cluster.agents[0]!.agentId!;
    const drain = await cli("agent", m, "drain", id, "--max-grace-period=5secs");
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, new RegExp(`Draining agent ${id}`));
    const recorded = master.cluster.registrar.state().drains.get(id);
    assert.equal(recorded?.drainInfo?.config?.maxGracePeriodSeconds, 5);
    assert.equal((await cli("agent", m, "reactivate", id)).code, 0);
    assert.equal(master.cluster.registrar.state().drains.has(id), false);
    assert.equal((await cli("agent", m, "deactivate", id)).code, 0);
    assert.equal(master.cluster.registrar.state().drains.get(id)?.deactivated, true);
    const unknown = await cli("agent", m, "drain", "no-such-agent");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /DrainAgent on .* failed: DrainAgent: unknown agent 'no-such-agent'/);
  });
});
