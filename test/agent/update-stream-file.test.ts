import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { statusUpdate } from "../../src/actors/agent/status-update.js";
import { readStreamFiles, streamFilePath, StreamFileWriter } from "../../src/actors/agent/update-stream-file.js";
import { NodeFileSystem } from "../../src/runtime/file-system.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";
import { waitFor } from "../support/wait.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const fs = new NodeFileSystem();
const uuids = new Random(testSeed(3));
const update = (task: string, state: TaskState) =>
  statusUpdate({ frameworkId: "fw-1", taskId: task, state, agentId: "agent-1", executorId: "ex-1", now: 0, uuid: uuids.uuidBytes() });

describe("StreamFileWriter", () => {
  it("writes each file's records in order, group-committed, each append resolving once its record is on disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dcos-streams-"));
    dirs.push(dir);
    const w = new StreamFileWriter(fs);
    const tasks = ["a", "b", "c"];
    const appends: Promise<void>[] = [];
    for (const t of tasks) {
      const path = streamFilePath(dir, "fw-1", t);
      // All queued before the first write ends: the first goes alone, the rest together.
      appends.push(w.append(path, { kind: "update", update: update(t, TaskState.STARTING) }, true));
      appends.push(w.append(path, { kind: "update", update: update(t, TaskState.RUNNING) }, false));
      appends.push(w.append(path, { kind: "ack", uuid: new Uint8Array([1, 2, 3]) }, false));
    }
    await appends[0];
    const first = await readFile(streamFilePath(dir, "fw-1", "a"), "utf8");
    assert.ok(first.split("\n").filter((l) => l !== "").length >= 1, "the first record is there once its append resolved");
    await Promise.all(appends);
    assert.equal(w.open, 3, "files stay open while their streams are busy");
    const files = await readStreamFiles(fs, dir);
    assert.deepEqual(
      files.map((f) => f.records.map((r) => (r.kind === "update" ? TaskState[r.update.status!.state] : "ack"))),
      tasks.map(() => ["STARTING", "RUNNING", "ack"]),
    );
    for (const t of tasks) w.release(streamFilePath(dir, "fw-1", t));
    await w.append(streamFilePath(dir, "fw-1", "a"), { kind: "update", update: update("a", TaskState.FINISHED) }, false);
    await waitFor(() => w.open === 1, "released files to be closed (a released file written again is open again)");
    w.releaseAll();
    await waitFor(() => w.open === 0, "every file to be closed");
    const a = (await readStreamFiles(fs, dir)).find((f) => f.path.endsWith("a.updates"))!;
    assert.equal(a.records.length, 4, "a write after release appends to the same file");
  });

  it("rejects the appends of a file it cannot create, and writes the next ones once it can", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dcos-streams-"));
    dirs.push(dir);
    const w = new StreamFileWriter(fs);
    const blocked = join(dir, "not-a-dir");
    await writeFile(blocked, "x");
    const path = join(blocked, "t.updates");
    await assert.rejects(w.append(path, { kind: "update", update: update("t", TaskState.RUNNING) }, true), /ENOTDIR|EEXIST/);
    const ok = streamFilePath(dir, "fw-1", "t");
    await w.append(ok, { kind: "update", update: update("t", TaskState.RUNNING) }, true);
    assert.match(await readFile(ok, "utf8"), /"t":"update"/);
  });
});
