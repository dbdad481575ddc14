import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, readlink } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import type { CgroupDriver } from "../../src/isolation/cgroup-driver.js";
import { readControl, removeCgroup } from "../../src/isolation/cgroup-files.js";
import { sharesToWeight } from "../../src/isolation/cgroup-v2.js";
import { readCgroupMounts } from "../../src/isolation/cgroup-mounts.js";
import { CgroupV1Driver } from "../../src/isolation/cgroup-v1.js";
import { CgroupsIsolator, hostCgroupDriver } from "../../src/isolation/cgroups.js";
import type { Isolator } from "../../src/isolation/isolator.js";
import { NamespacesIsolator } from "../../src/isolation/namespaces.js";
import { isAlive } from "../../src/isolation/proc.js";
import { waitFor } from "../support/wait.js";
import { config, containerizer, isGone, rejectsWith, requireRoot, sandboxFile, setup, waitForOutput, waitForPid } from "./support.js";

const ROOT = `dcos-test-${process.pid}`;
const run = promisify(execFile);
let driver: CgroupDriver;

function cgroups(options: { cpuQuota?: boolean; pidsLimit?: number } = {}): Isolator {
  return new CgroupsIsolator({ driver, logger: testLogger(), ...options });
}

before(async () => {
  requireRoot("The cgroups isolator");
  driver = await hostCgroupDriver({ root: ROOT });
});

after(async () => {
  const mounts = await readCgroupMounts();
  for (const dir of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) {
    await removeCgroup(join(dir, ROOT));
  }
});

describe("cgroups isolator (on this host's cgroups)", () => {
  it("reports an out-of-memory kill as the memory limit, with how much was used", async () => {
    const { c, sandbox } = await setup([cgroups()]);
    // tail keeps the whole (newline-free) input in memory: 200 MB against a 32 MiB limit.
    const { id } = await c.launch(config(sandbox, "head -c 200000000 /dev/zero | tail > /dev/null", { resources: { memMb: 32 } }));
    const t = await c.wait(id);
    assert.equal(t.reason, "memory limit", t.message);
    assert.equal(t.signal, "SIGKILL");
    assert.match(t.message, /Memory limit exceeded: the container reached the memory limit of 32\.0 MiB/);
    assert.ok(t.memoryBytes !== undefined && t.memoryBytes > 30 * 2 ** 20, `peak usage ${t.memoryBytes}`);
  });

  it("does not report a memory limit for a command that stays below it", async () => {
    const { c, sandbox } = await setup([cgroups()]);
    const { id } = await c.launch(config(sandbox, "head -c 1000000 /dev/zero | tail > /dev/null; exit 4", { resources: { memMb: 64 } }));
    const t = await c.wait(id);
    assert.equal(t.reason, undefined);
    assert.equal(t.exitCode, 4);
  });

  it("holds a busy loop to its CPU quota", async () => {
    const { c, sandbox } = await setup([cgroups({ cpuQuota: true })]);
    const { id } = await c.launch(config(sandbox, "while :; do :; done", { resources: { cpus: 0.2 } }));
    const first = await c.usage(id);
    const later = await waitFor(async () => {
      const u = await c.usage(id);
      return u.timestamp - first.timestamp >= 1500 ? u : undefined;
    }, "1.5 s of the busy loop");
    const cpu = (u: typeof first) => u.cpuUserSeconds + u.cpuSystemSeconds;
    const share = (cpu(later) - cpu(first)) / ((later.timestamp - first.timestamp) / 1000);
    assert.ok(share <= 0.3, `the loop used ${share.toFixed(2)} CPUs; its quota is 0.2`);
    assert.ok(share > 0.05, `the loop ran at all (${share.toFixed(2)} CPUs)`);
    assert.ok((later.cpuThrottledSeconds ?? 0) > 0, "the kernel throttled it");
    await c.destroy(id, 0);
  });

  it("kills on destroy the processes that escaped with setsid or a double fork", async () => {
    const { c, sandbox } = await setup([cgroups()]);
    const { id } = await c.launch(
      config(sandbox, "setsid sh -c 'echo $$ > setsid.pid; exec sleep 60' & sh -c 'sleep 60 & echo $! > double.pid' & sleep 60"),
    );
    const escaped = await waitForPid(sandbox, "setsid.pid");
    const orphan = await waitForPid(sandbox, "double.pid");
    assert.equal((await c.usage(id)).processes >= 4, true);
    const t = await c.destroy(id, 200);
    assert.equal(t.reason, "destroyed");
    assert.ok(await isGone(escaped), `the setsid escapee ${escaped} is gone`);
    assert.ok(await isGone(orphan), `the double-forked orphan ${orphan} is gone`);
  });

  it("measures usage from the cgroup and removes the cgroup when the container ends", async () => {
    const { c, sandbox } = await setup([cgroups()]);
    const { id } = await c.launch(config(sandbox, "echo up; sleep 60", { resources: { memMb: 64, cpus: 0.5 } }));
    await waitForOutput(sandbox, "up");
    const u = await c.usage(id);
    assert.equal(u.memLimitBytes, 64 * 2 ** 20);
    assert.ok(u.processes >= 2, `recorder and sleep, got ${u.processes}`);
    assert.ok(await driver.exists(id));
    await c.destroy(id, 0);
    assert.equal(await driver.exists(id), false, "the cgroup is removed");
  });

  it("limits the number of processes", async () => {
    const { c, sandbox } = await setup([cgroups({ pidsLimit: 16 })]);
    const { id } = await c.launch(config(sandbox, "i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i > started; done"));
    const t = await c.wait(id);
    assert.notEqual(t.exitCode, 0, "the shell fails when it cannot fork");
    assert.match(await sandboxFile(sandbox, "stderr"), /Cannot fork|Resource temporarily unavailable/i);
    const started = Number(await sandboxFile(sandbox, "started"));
    assert.ok(started < 16, `${started} sleeps started under a limit of 16 processes`);
  });

  it("finds a container's cgroup again after a restart and kills its escaped processes", async () => {
    const { c, root, sandbox } = await setup([cgroups()]);
    const state = await c.launch(config(sandbox, "setsid sh -c 'echo $$ > setsid.pid; exec sleep 60' & sleep 60"));
    const escaped = await waitForPid(sandbox, "setsid.pid");
    c.detach();
    const fresh = containerizer(root, [cgroups()]);
    assert.deepEqual((await fresh.recover([state])).recovered, [state.id]);
    assert.equal((await fresh.destroy(state.id, 0)).reason, "destroyed");
    assert.ok(await isGone(escaped));
  });

  it("gives the containers' root cgroup the CPU share of the agent's cpus (rootCpus), written before the first container", async () => {
    const root = `${ROOT}-weighted`;
    const mounts = await readCgroupMounts();
    const weighted = await hostCgroupDriver({ root, rootCpus: 2 });
    const rootDir = weighted.version === 1 ? join(mounts.v1.get("cpu")!, root) : join(mounts.v2!, root);
    try {
      const { c, sandbox } = await setup([new CgroupsIsolator({ driver: weighted, logger: testLogger() })]);
      const { id } = await c.launch(config(sandbox, "true", { resources: { cpus: 0.5 } }));
      const expected = weighted.version === 1 ? "2048" : String(sharesToWeight(2048));
      assert.equal((await readControl(rootDir, weighted.version === 1 ? "cpu.shares" : "cpu.weight"))?.trim(), expected);
      await c.wait(id);
    } finally {
      for (const dir of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) await removeCgroup(join(dir, root));
    }
  });

  it("refuses a launch when a limit cannot be applied and leaves nothing behind", async () => {
    const mounts = await readCgroupMounts();
    const withoutPids = new Map([...mounts.v1].filter(([controller]) => controller !== "pids"));
    const isolator = new CgroupsIsolator({ driver: new CgroupV1Driver(withoutPids, ROOT), pidsLimit: 10, logger: testLogger() });
    const { c, sandbox } = await setup([isolator]);
    const cfg = config(sandbox, "true");
    await rejectsWith(c.launch(cfg), Code.FAILED_PRECONDITION, /Cannot apply a pids limit: the cgroup v1 'pids' hierarchy is not mounted/);
    assert.deepEqual(c.containers(), []);
    assert.equal(await driver.exists(cfg.id), false, "the cgroup made before the failure is removed");
  });
});

describe("namespaces isolator", () => {
  before(() => requireRoot("The namespaces isolator"));

  it("shows a task only its own processes", async () => {
    const { c, sandbox } = await setup([new NamespacesIsolator()]);
    const { id } = await c.launch(config(sandbox, "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l"));
    assert.equal((await c.wait(id)).exitCode, 0);
    const [self, count] = (await sandboxFile(sandbox, "stdout")).trim().split("\n").map(Number);
    assert.equal(self, 2, "the shell is pid 2 (the recorder is the namespace's init)");
    assert.ok(count! <= 5, `the task sees ${count} processes`);
  });

  it("keeps a task from signalling another task's processes", async () => {
    const { c, sandbox } = await setup([new NamespacesIsolator()]);
    const victim = await c.launch(config(sandbox, "sleep 60"));
    const other = await setup([new NamespacesIsolator()]);
    const { id } = await other.c.launch(config(other.sandbox, `kill -KILL ${victim.pid} && echo killed || echo refused`));
    await other.c.wait(id);
    assert.equal((await sandboxFile(other.sandbox, "stdout")).trim(), "refused");
    assert.ok(await isAlive(victim.pid, victim.startTime), "the other task's process still runs");
    await c.destroy(victim.id, 0);
  });

  it("destroys a namespaced task with SIGTERM and reports how it ended", async () => {
    const { c, sandbox } = await setup([cgroups(), new NamespacesIsolator()]);
    const { id } = await c.launch(config(sandbox, ["sleep", "60"], { resources: { memMb: 64, cpus: 0.1 } }));
    const t = await c.destroy(id, 5_000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.signal, "SIGTERM");
  });

  it("keeps the kill grace for what a shell started when the shell (the namespace's init's child) ends first", async () => {
    const { c, sandbox } = await setup([cgroups(), new NamespacesIsolator()]);
    const child = "(trap 'sleep 0.3; echo child-done > child.txt; exit 0' TERM; echo up > up.txt; while :; do sleep 0.05; done) &";
    const { id } = await c.launch(config(sandbox, `${child} trap 'exit 0' TERM; while :; do sleep 0.05; done`));
    await waitFor(() => access(join(sandbox, "up.txt")).then(() => true, () => false), "the child's trap to be installed");
    const t = await c.destroy(id, 20_000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.exitCode, 0, "the shell ended on its SIGTERM");
    assert.equal(await sandboxFile(sandbox, "child.txt"), "child-done\n", "its child finished within the grace instead of dying with the namespace");
  });

  it("enters a running container: a command run with its prefix is in the task's cgroup and PID namespace", async () => {
    const { c, sandbox } = await setup([cgroups(), new NamespacesIsolator()]);
    const { id } = await c.launch(config(sandbox, "readlink /proc/self/ns/pid > ns.txt; cat /proc/self/cgroup > cg.txt; exec sleep 60"));
    await waitFor(() => access(join(sandbox, "cg.txt")).then(() => true, () => false), "the task to write its namespace and cgroup");
    const prefix = await c.enter(id);
    const { stdout } = await run(prefix[0]!, [...prefix.slice(1), "/bin/sh", "-c", "readlink /proc/self/ns/pid; cat /proc/self/cgroup"]);
    assert.equal(stdout, (await sandboxFile(sandbox, "ns.txt")) + (await sandboxFile(sandbox, "cg.txt")));
    assert.notEqual((await sandboxFile(sandbox, "ns.txt")).trim(), await readlink("/proc/self/ns/pid"), "not the agent's namespace");
    await c.destroy(id, 0);
  });

  it("runs a command that exits with a code inside the namespaces", async () => {
    const { c, sandbox } = await setup([cgroups(), new NamespacesIsolator()]);
    const { id } = await c.launch(config(sandbox, "exit 9"));
    const t = await c.wait(id);
    assert.equal(t.exitCode, 9);
    await access(sandbox);
  });
});
