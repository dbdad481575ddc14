/**
 * The agent's runtime root (src/isolation/runtime-root.ts): on tmpfs, linked from
 * `<work dir>/containers`, when the machine has a tmpfs the agent may use; found again after
 * a restart; a new target after a reboot emptied the tmpfs; an existing directory on the disk
 * kept; an unsafe tmpfs parent refused; leftovers of deleted work dirs removed. On the real
 * /dev/shm (tmpfs) and /tmp (the disk here), in directories of the test's own.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chooseRuntimeRoot, isTmpfs, OWNER_FILE, WORK_DIR_ENTRY } from "../../src/isolation/runtime-root.js";

const SHM = "/dev/shm";
const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function tempDir(parent: string): string {
  const d = mkdtempSync(join(parent, "dcos-runtime-root-test-"));
  made.push(d);
  return d;
}

describe("The agent's runtime root", () => {
  it("needs a tmpfs at /dev/shm (Linux)", () => {
    assert.ok(isTmpfs(SHM), "/dev/shm is not a tmpfs on this machine: these tests need one (it is on every Linux with glibc's shm_open)");
  });

  it("links <work dir>/containers to a directory of its own on tmpfs, owned and found again by the same work dir", () => {
    const shm = tempDir(SHM);
    const work = join(tempDir(tmpdir()), "agent");
    const base = join(shm, "dcos-node");
    const first = chooseRuntimeRoot(work, { tmpfsBases: [base] });
    assert.equal(first.path, join(work, WORK_DIR_ENTRY));
    assert.ok(first.tmpfs);
    assert.ok(first.target.startsWith(base + "/agent-"), first.target);
    assert.ok(lstatSync(first.path).isSymbolicLink());
    assert.equal(readlinkSync(first.path), first.target);
    assert.equal(lstatSync(base).mode & 0o777, 0o700);
    assert.equal(lstatSync(first.target).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(first.target, OWNER_FILE), "utf8").trim(), first.path);
    const again = chooseRuntimeRoot(work, { tmpfsBases: [base] });
    assert.deepEqual([again.path, again.target, again.tmpfs], [first.path, first.target, true], "a restarted agent finds the same directory");
  });

  it("after a reboot emptied the tmpfs, the link gets a new directory", () => {
    const shm = tempDir(SHM);
    const work = tempDir(tmpdir());
    const base = join(shm, "dcos-node");
    const first = chooseRuntimeRoot(work, { tmpfsBases: [base] });
    rmSync(base, { recursive: true });
    const next = chooseRuntimeRoot(work, { tmpfsBases: [base] });
    assert.equal(next.path, first.path);
    assert.ok(next.tmpfs && existsSync(next.target) && readlinkSync(next.path) === next.target);
  });

  it("keeps a runtime directory the work dir already has on its disk (an agent from before the tmpfs default), and takes --runtime-dir as given", () => {
    const shm = tempDir(SHM);
    const work = tempDir(tmpdir());
    mkdirSync(join(work, WORK_DIR_ENTRY));
    const kept = chooseRuntimeRoot(work, { tmpfsBases: [join(shm, "dcos-node")] });
    assert.deepEqual([kept.path, kept.target, kept.tmpfs], [join(work, WORK_DIR_ENTRY), join(work, WORK_DIR_ENTRY), false]);
    const explicit = join(tempDir(tmpdir()), "rt");
    const given = chooseRuntimeRoot(work, { runtimeDir: explicit, tmpfsBases: [join(shm, "dcos-node")] });
    assert.deepEqual([given.path, given.tmpfs], [explicit, false]);
    assert.ok(lstatSync(explicit).isDirectory());
  });

  it("uses the work dir's disk when no tmpfs is usable: none there, or a parent others may write to (the world-writable /dev/shm)", () => {
    const onDisk = chooseRuntimeRoot(tempDir(tmpdir()), { tmpfsBases: [join(tempDir(tmpdir()), "dcos-node")] });
    assert.equal(onDisk.tmpfs, false);
    assert.ok(lstatSync(onDisk.path).isDirectory() && !lstatSync(onDisk.path).isSymbolicLink());
    const shm = tempDir(SHM);
    const open = join(shm, "dcos-node");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const warnings: string[] = [];
    const refused = chooseRuntimeRoot(tempDir(tmpdir()), { tmpfsBases: [open], warn: (m) => warnings.push(m) });
    assert.equal(refused.tmpfs, false);
    assert.match(warnings.join("\n"), /not a directory of this user closed to others/);
  });

  it("removes the tmpfs directories of deleted work dirs (older than a minute), never one still linked or just made", () => {
    const shm = tempDir(SHM);
    const base = join(shm, "dcos-node");
    const live = chooseRuntimeRoot(tempDir(tmpdir()), { tmpfsBases: [base] });
    const goneWork = tempDir(tmpdir());
    const gone = chooseRuntimeRoot(goneWork, { tmpfsBases: [base] });
    const youngWork = tempDir(tmpdir());
    const young = chooseRuntimeRoot(youngWork, { tmpfsBases: [base] });
    rmSync(goneWork, { recursive: true });
    rmSync(youngWork, { recursive: true });
    const old = new Date(Date.now() - 120_000);
    for (const t of [live.target, gone.target]) utimesSync(t, old, old);
    chooseRuntimeRoot(tempDir(tmpdir()), { tmpfsBases: [base] });
    assert.ok(existsSync(live.target), "still linked from its work dir");
    assert.ok(!existsSync(gone.target), "its work dir was deleted");
    assert.ok(existsSync(young.target), "made less than a minute ago");
  });
});
