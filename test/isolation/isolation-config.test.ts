import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { detectCgroupVersion, parseMountinfo } from "../../src/isolation/cgroup-mounts.js";
import { sharesToWeight } from "../../src/isolation/cgroup-v2.js";
import { limitsFor, MIN_MEMORY_BYTES } from "../../src/isolation/cgroups.js";
import { parseIsolationFlag } from "../../src/isolation/isolation-flag.js";

const HYBRID = [
  "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
  "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
  "34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct",
  "35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory",
  "33 30 0:29 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd",
].join("\n");
const PURE_V2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";

describe("cgroup mounts", () => {
  it("maps each v1 controller to its hierarchy, co-mounted ones to the same, and ignores named hierarchies", () => {
    const m = parseMountinfo(HYBRID);
    assert.equal(m.v1.get("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    assert.equal(m.v1.get("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
    assert.equal(m.v1.get("memory"), "/sys/fs/cgroup/memory");
    assert.equal(m.v1.has("name=systemd"), false);
    assert.equal(m.v2, "/sys/fs/cgroup/unified");
    assert.equal(detectCgroupVersion(m), 1, "a hybrid host with memory on v1 uses v1");
  });

  it("detects a pure v2 host, and none when nothing is mounted", () => {
    const m = parseMountinfo(PURE_V2);
    assert.equal(m.v2, "/sys/fs/cgroup");
    assert.equal(detectCgroupVersion(m), 2);
    assert.equal(detectCgroupVersion(parseMountinfo("")), undefined);
  });

  it("unescapes mount points with spaces", () => {
    assert.equal(parseMountinfo("40 1 0:5 / /mnt/my\\040cgroups rw - cgroup2 none rw").v2, "/mnt/my cgroups");
  });
});

describe("cgroup limits from resources", () => {
  it("gives 1024 shares per CPU, and a CFS quota only when asked", () => {
    assert.deepEqual(limitsFor({ cpus: 1.5 }, {}), { cpuShares: 1536 });
    assert.deepEqual(limitsFor({ cpus: 0.25 }, { cpuQuota: true }), { cpuShares: 256, cpuPeriodUs: 100_000, cpuQuotaUs: 25_000 });
    assert.deepEqual(limitsFor({ cpus: 0 }, { cpuQuota: true }), { cpuShares: 2, cpuPeriodUs: 100_000, cpuQuotaUs: 1_000 }, "floors");
  });

  it("turns mem into bytes with a 32 MiB floor, and adds the pids limit", () => {
    assert.deepEqual(limitsFor({ memMb: 128 }, { pidsLimit: 100 }), { memoryBytes: 128 * 2 ** 20, pidsMax: 100 });
    assert.equal(limitsFor({ memMb: 1 }, {}).memoryBytes, MIN_MEMORY_BYTES);
    assert.deepEqual(limitsFor(undefined, {}), {});
  });

  it("converts v1 shares to v2 weights as runc does", () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(262_144), 10_000);
    assert.equal(sharesToWeight(1_000_000), 10_000, "clamped");
  });
});

describe("--isolation", () => {
  it("reads posix as no isolator and orders the others cgroups then namespaces", () => {
    assert.deepEqual(parseIsolationFlag("posix"), []);
    assert.deepEqual(parseIsolationFlag("namespaces,cgroups"), ["cgroups", "namespaces"]);
    assert.deepEqual(parseIsolationFlag(" cgroups , cgroups "), ["cgroups"]);
  });

  it("refuses an unknown isolator or an empty value with INVALID_ARGUMENT", () => {
    assert.throws(() => parseIsolationFlag("cgroups,selinux"), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /unknown isolator 'selinux'/.test((e as Error).message));
    assert.throws(() => parseIsolationFlag(","), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /it is empty/.test((e as Error).message));
  });
});
