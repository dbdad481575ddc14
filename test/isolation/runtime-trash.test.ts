/**
 * RuntimeTrash (src/isolation/runtime-trash.ts): an ended container's runtime directory is
 * taken away at once by a rename and removed in the background; a missing one is fine; a
 * trash left by an agent that died is emptied by the next (sweep); on tmpfs a directory is
 * removed at once, in place. The containerizer with
 * it: posix.test.ts ("takes an ended container's runtime directory away…").
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { isTmpfs } from "../../src/isolation/runtime-root.js";
import { RuntimeTrash, TRASH_DIR } from "../../src/isolation/runtime-trash.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function root(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "dcos-trash-"));
  dirs.push(d);
  return d;
}

function runtimeDir(r: string, id: string): string {
  const d = join(r, id);
  mkdirSync(d);
  writeFileSync(join(d, "state.json"), "{}");
  writeFileSync(join(d, "exit_status"), "0");
  return d;
}

describe("runtime trash", () => {
  it("takes a directory away at once and removes it in the background", async () => {
    const r = await root();
    const warnings: unknown[] = [];
    const trash = new RuntimeTrash(r, (e) => warnings.push(e), false);
    const a = runtimeDir(r, "c1");
    const b = runtimeDir(r, "c2");
    trash.discard(a);
    trash.discard(b);
    assert.equal(existsSync(a), false, "gone from its place when discard returns");
    assert.equal(existsSync(b), false);
    await trash.drained();
    assert.deepEqual(readdirSync(join(r, TRASH_DIR)), [], "and removed");
    assert.deepEqual(readdirSync(r), [TRASH_DIR], "nothing else left in the root");
    assert.deepEqual(warnings, []);
  });

  it("takes a path that is not there without a word", async () => {
    const r = await root();
    const warnings: unknown[] = [];
    const trash = new RuntimeTrash(r, (e) => warnings.push(e), false);
    trash.discard(join(r, "never-made"));
    const c = runtimeDir(r, "c3");
    trash.discard(c);
    await trash.drained();
    assert.equal(existsSync(c), false);
    assert.deepEqual(warnings, []);
  });

  it("makes the trash again when it was removed under it", async () => {
    const r = await root();
    const trash = new RuntimeTrash(r, undefined, false);
    trash.discard(runtimeDir(r, "c4"));
    await trash.drained();
    await rm(join(r, TRASH_DIR), { recursive: true });
    const c = runtimeDir(r, "c5");
    trash.discard(c); // the rename fails (no trash): made again on the next discard
    trash.discard(c);
    trash.discard(runtimeDir(r, "c6"));
    await trash.drained();
    assert.equal(existsSync(join(r, "c6")), false);
    assert.deepEqual(readdirSync(join(r, TRASH_DIR)), []);
  });

  it("empties what an earlier agent left in the trash (sweep)", async () => {
    const r = await root();
    mkdirSync(join(r, TRASH_DIR));
    runtimeDir(join(r, TRASH_DIR), "left.1");
    runtimeDir(join(r, TRASH_DIR), "left.2");
    const trash = new RuntimeTrash(r, undefined, false);
    trash.sweep();
    await trash.drained();
    assert.deepEqual(readdirSync(join(r, TRASH_DIR)), []);
    new RuntimeTrash(join(r, "no-such-root")).sweep(); // no trash at all: nothing to do
  });

  it("on tmpfs (the default there) removes a directory at once, in place: no trash, nothing left to drain", async (t) => {
    if (!existsSync("/dev/shm") || !isTmpfs("/dev/shm")) return t.skip("no tmpfs at /dev/shm");
    const r = mkdtempSync(join("/dev/shm", "dcos-trash-"));
    dirs.push(r);
    const warnings: unknown[] = [];
    const trash = new RuntimeTrash(r, (e) => warnings.push(e));
    const c = runtimeDir(r, "c7");
    trash.discard(c);
    assert.equal(existsSync(c), false, "gone when discard returns");
    assert.deepEqual(readdirSync(r), [], "no trash made");
    trash.discard(join(r, "never-made"));
    assert.deepEqual(warnings, []);
    await trash.drained();
  });

  it("on a disk that is not tmpfs (the default there) goes through the trash", async (t) => {
    const r = await root();
    if (isTmpfs(r)) return t.skip("the temporary directory is on tmpfs");
    const trash = new RuntimeTrash(r);
    trash.discard(runtimeDir(r, "c8"));
    assert.deepEqual(readdirSync(r), [TRASH_DIR], "taken into the trash");
    await trash.drained();
    assert.deepEqual(readdirSync(join(r, TRASH_DIR)), []);
  });
});
