/**
 * AgentFileSystem (the agent's default disk: synchronous metadata and writes, asynchronous
 * flushes) and LaunchTrace (the per-stage timestamps the containers bench reads), on a
 * real temporary directory.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AgentFileSystem } from "../../src/actors/agent/agent-file-system.js";
import { openForAppend, writeAtomically } from "../../src/actors/agent/durable.js";
import { LaunchTrace } from "../../src/actors/agent/launch-trace.js";

const text = new TextEncoder();

describe("AgentFileSystem", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dcos-agent-fs-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const fs = new AgentFileSystem();

  it("appends records to a file, reopens it at its size, and flushes it", async () => {
    const path = join(dir, "streams", "a", "updates");
    const f = await openForAppend(fs, path);
    await f.append([text.encode("one\n"), text.encode("two\n")]);
    await f.sync();
    await f.close();
    const g = await fs.openAppend(path, 0o600);
    assert.equal(g.size, 8);
    await g.append([text.encode("three\n")]);
    await g.sync();
    await g.close();
    assert.equal(await readFile(path, "utf8"), "one\ntwo\nthree\n");
    assert.equal((await stat(join(dir, "streams", "a"))).mode & 0o777, 0o700);
  });

  it("replaces a file atomically, small (synchronously) and large (through the thread pool)", async () => {
    const path = join(dir, "meta", "executor.json");
    await writeAtomically(fs, path, "first\n");
    await writeAtomically(fs, path, "second\n");
    assert.equal(await readFile(path, "utf8"), "second\n");
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const big = "x".repeat(300 * 1024);
    await writeAtomically(fs, path, big);
    assert.equal((await readFile(path, "utf8")).length, big.length);
    assert.deepEqual((await fs.list(join(dir, "meta"))).sort(), ["executor.json"]);
  });

  it("rejects (does not throw synchronously) for a missing file or directory", async () => {
    await assert.rejects(fs.syncFile(join(dir, "missing")), /ENOENT/);
    await assert.rejects(fs.rename(join(dir, "missing"), join(dir, "other")), /ENOENT/);
    await assert.rejects(fs.unlink(join(dir, "missing")), /ENOENT/);
    await assert.rejects(fs.mkdirp(join(dir, "meta", "executor.json", "sub")), /ENOTDIR/);
  });
});

describe("LaunchTrace", () => {
  it("keeps each stage's first time, maps containers to tasks, and forgets the oldest task past its capacity", () => {
    const trace = new LaunchTrace(2);
    trace.mark("t1", "RunTask received");
    const first = trace.stages("t1")!.get("RunTask received")!;
    trace.mark("t1", "RunTask received");
    assert.equal(trace.stages("t1")!.get("RunTask received"), first);
    trace.alias("c1", "t1");
    trace.container("c1", "pid known");
    trace.container("c-unknown", "pid known");
    assert.deepEqual([...trace.stages("t1")!.keys()], ["RunTask received", "pid known"]);
    trace.mark("t2", "RunTask received");
    trace.mark("t3", "RunTask received");
    assert.equal(trace.stages("t1"), undefined);
    assert.ok(trace.stages("t2") && trace.stages("t3"));
  });
});
