/**
 * The operator subcommands as an operator runs them: the real `dcos-node` binary (dist)
 * against a master's OperatorService on a loopback port.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
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

  it("maintenance schedule FILE / schedule / status / down / up: Mesos's schedule JSON in, the machine down at once, then up and out of the schedule", async (t) => {
    const master = await MasterEndpoint.start({ agents: 2, agentResources: "cpus:4;mem:4096" });
    const dir = await mkdtemp(join(tmpdir(), "maintenance-cli-"));
    t.after(async () => {
      await master.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const m = `--master=${master.address}`;
    const c = master.cluster;
    const startNs = String(BigInt(Math.round(c.clock.now() + 3_600_000)) * 1_000_000n);
    const file = join(dir, "schedule.json");
    await writeFile(file, JSON.stringify({ windows: [{ machine_ids: [{ hostname: "host1" }], unavailability: { start: { nanoseconds: startNs }, duration: { nanoseconds: 600e9 } } }] }));
    const posted = await cli("maintenance", m, "schedule", file);
    assert.equal(posted.code, 0, posted.stderr);
    assert.match(posted.stdout, /Maintenance schedule updated: 1 window\(s\), 1 machine\(s\)/);
    assert.equal(c.registrar.state().maintenance.windows[0]!.unavailability!.durationSeconds, 600);
    const shown = JSON.parse((await cli("maintenance", m, "schedule")).stdout);
    assert.deepEqual(shown.windows[0].machine_ids, [{ hostname: "host1", ip: "" }]);
    assert.equal(String(BigInt(shown.windows[0].unavailability.start.nanoseconds)), startNs);

    const status = await cli("maintenance", m, "status");
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^host1\tDRAINING\tdown from \S+Z for 600s$/m);
    assert.deepEqual(JSON.parse((await cli("maintenance", m, "status", "--json")).stdout).draining_machines.map((d: { id: { hostname: string } }) => d.id.hostname), ["host1"]);

    const host1 = c.agents[0]!.agentId!;
    const down = await cli("maintenance", m, "down", "host1");
    assert.equal(down.code, 0, down.stderr);
    await c.clock.settle();
    assert.equal(c.registrar.state().agents.has(host1), false, "host1's agent is removed at once");
    assert.match((await cli("maintenance", m, "status")).stdout, /^host1\tDOWN$/m);
    const again = await cli("maintenance", m, "down", "host1");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /StartMaintenance on .* failed: StartMaintenance: machine host1 is DOWN, not DRAINING/);
    const unknown = await cli("maintenance", m, "up", "10.9.9.9");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /machine 10\.9\.9\.9 is not in the maintenance schedule/);

    const up = await cli("maintenance", m, "up", "host1");
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(c.registrar.state().maintenance.windows, []);
    assert.match((await cli("maintenance", m, "status")).stdout, /No machine has maintenance ahead or is down/);

    await writeFile(file, JSON.stringify({ windows: [{ machine_ids: [{}], unavailability: { start: { nanoseconds: 1 }, duration: { nanoseconds: 1 } } }] }));
    const bad = await cli("maintenance", m, "schedule", file);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /windows\[0\]\.machine_ids\[0\] needs a "hostname" or an "ip"/);
  });
});
