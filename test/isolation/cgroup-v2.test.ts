/**
 * The cgroup v2 code path, on a cgroup2 hierarchy this test mounts itself (this host uses
 * v1 for its controllers, so the v2 mount offers only the core files: cgroup.procs,
 * cgroup.kill, cgroup.freeze, cpu.stat; limits need controllers it may not offer).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { v2Controllers } from "../../src/isolation/cgroup-mounts.js";
import { CgroupV2Driver } from "../../src/isolation/cgroup-v2.js";
import { CgroupsIsolator } from "../../src/isolation/cgroups.js";
import { config, isGone, rejectsWith, requireRoot, setup, waitForOutput, waitForPid } from "./support.js";

const ROOT = `dcos-test-${process.pid}`;
let mount: string;
let driver: CgroupV2Driver;

before(async () => {
  requireRoot("Mounting a cgroup2 hierarchy");
  mount = await mkdtemp(join(tmpdir(), "dcos-cgroup2-")); // not a support.ts temp dir: it must outlive that cleanup
  try {
    execFileSync("mount", ["-t", "cgroup2", "none", mount], { stdio: "pipe" });
  } catch (e) {
    assert.fail(`This kernel refused 'mount -t cgroup2 none ${mount}' (${String((e as { stderr?: Buffer }).stderr ?? e).trim()}); the cgroup v2 tests need a kernel with cgroup2 support and root`);
  }
  driver = new CgroupV2Driver(mount, ROOT);
});

after(async () => {
  if (!mount) return;
  await rmdir(join(mount, ROOT)).catch(() => undefined);
  execFileSync("umount", [mount]);
  await rmdir(mount);
});

describe("cgroups v2 (on a cgroup2 mount made by the test)", () => {
  it("runs a container in its v2 cgroup and kills escaped processes on destroy", async () => {
    const { c, sandbox } = await setup([new CgroupsIsolator({ driver, logger: testLogger() })]);
    const { id } = await c.launch(config(sandbox, "setsid sh -c 'echo $$ > setsid.pid; exec sleep 60' & echo up; sleep 60"));
    const escaped = await waitForPid(sandbox, "setsid.pid");
    await waitForOutput(sandbox, "up");
    const pids = await driver.pids(id);
    assert.ok(pids.includes(escaped), "the escapee is still in the container's cgroup.procs");
    const u = await c.usage(id);
    assert.ok(u.processes >= 3, `recorder, sleep and the escapee; got ${u.processes}`);
    assert.equal(u.threads >= u.processes, true);
    const t = await c.destroy(id, 100);
    assert.equal(t.reason, "destroyed");
    assert.ok(await isGone(escaped), "the setsid escapee is killed through the v2 cgroup");
    assert.equal(await driver.exists(id), false, "the v2 cgroup is removed");
  });

  it("reports an ordinary exit and CPU time from cpu.stat", async () => {
    const { c, sandbox } = await setup([new CgroupsIsolator({ driver, logger: testLogger() })]);
    const { id } = await c.launch(config(sandbox, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; sleep 60"));
    await waitForOutput(sandbox, "done");
    const u = await c.usage(id);
    assert.ok(u.cpuUserSeconds + u.cpuSystemSeconds > 0, "cpu.stat counted the loop");
    await c.destroy(id, 0);
    const { id: id2 } = await c.launch(config(sandbox, "exit 5"));
    const t = await c.wait(id2);
    assert.equal(t.exitCode, 5);
    assert.equal(t.reason, undefined);
  });

  it("applies the memory limit when the v2 hierarchy offers the memory controller, and says so when it does not", async () => {
    const { c, sandbox } = await setup([new CgroupsIsolator({ driver, logger: testLogger() })]);
    const cfg = config(sandbox, "sleep 60", { resources: { memMb: 64 } });
    if ((await v2Controllers(mount)).includes("memory")) {
      await c.launch(cfg);
      assert.equal((await c.usage(cfg.id)).memLimitBytes, 64 * 2 ** 20);
      await c.destroy(cfg.id, 0);
    } else {
      await rejectsWith(c.launch(cfg), Code.FAILED_PRECONDITION, /the 'memory' controller is not available in the cgroup v2 hierarchy/);
      assert.equal(await driver.exists(cfg.id), false);
    }
  });
});
