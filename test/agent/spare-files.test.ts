/**
 * Ended executors' checkpoint files kept and reused by the next launches (spare-files.ts):
 * on the real disk the next checkpoint is the same inode (none made, none freed); a reused
 * file a crash left with its previous executor's content is taken for torn; and the agent
 * on the in-memory disk retires t1's checkpoint and writes t2's into it, then recovers.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AgentRegisteredSchema, AgentReregisteredSchema, RunTaskSchema, StatusUpdateAcknowledgementSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { ExecutorInfoSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { FrameworkInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { AgentFileSystem } from "../../src/actors/agent/agent-file-system.js";
import { readExecutorCheckpoints, removeExecutorCheckpoint, spareCheckpointsDir, writeExecutorCheckpoint, type ExecutorCheckpoint } from "../../src/actors/agent/checkpoint.js";
import { SpareFiles } from "../../src/actors/agent/spare-files.js";
import { CrashFs } from "../support/crash-fs.js";
import { commandTask, framework, MEMORY_WORK_DIR, startHarness, type Harness } from "./harness.js";

function checkpointOf(executorId: string): ExecutorCheckpoint {
  return {
    framework: create(FrameworkInfoSchema, framework),
    executor: create(ExecutorInfoSchema, { executorId: { value: executorId } }),
    kind: "direct",
    containerId: `c-${executorId}`,
    sandbox: `/sandboxes/${executorId}`,
    container: undefined,
    tasks: [{ task: commandTask(executorId), role: "*" }],
  };
}

describe("spare checkpoint files on the real disk", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dcos-agent-spares-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const fs = new AgentFileSystem();
  const executors = join(dir, "meta", "frameworks", "fw-1", "executors");

  it("an ended executor's checkpoint is emptied and kept; the next launch's first checkpoint is written into it (the same inode)", async () => {
    const spares = new SpareFiles(fs, spareCheckpointsDir(dir));
    await writeExecutorCheckpoint(fs, dir, checkpointOf("e1"), true, spares);
    const inode = (await stat(join(executors, "e1.json"))).ino;
    await removeExecutorCheckpoint(fs, dir, "fw-1", "e1", spares);
    assert.deepEqual(await readdir(executors), [], "gone from its name");
    assert.equal(spares.size, 1);
    const [kept] = await readdir(spares.dir);
    assert.equal((await stat(join(spares.dir, kept!))).size, 0, "kept emptied (no task's environment left in it)");
    await writeExecutorCheckpoint(fs, dir, checkpointOf("e2"), true, spares);
    assert.equal((await stat(join(executors, "e2.json"))).ino, inode, "written into the kept file");
    assert.deepEqual(await readdir(spares.dir), [], "handed out");
    const read = await readExecutorCheckpoints(fs, dir);
    assert.deepEqual(read.executors.map((e) => e.executor.executorId?.value), ["e2"]);
    assert.deepEqual(read.unreadable, []);
    await removeExecutorCheckpoint(fs, dir, "fw-1", "e2", spares);
  });

  it("keeps at most its maximum (the others are deleted); a missing file is nothing; reset removes what an earlier agent kept", async () => {
    const spares = new SpareFiles(fs, join(dir, "spares-max"), 2);
    for (const id of ["a", "b", "c"]) {
      await writeFile(join(dir, id), "x\n");
      await spares.retire(join(dir, id));
    }
    await spares.retire(join(dir, "missing"));
    assert.equal(spares.size, 2);
    assert.deepEqual((await readdir(spares.dir)).length, 2);
    assert.ok(!(await readdir(dir)).includes("c"), "the third deleted");
    const again = new SpareFiles(fs, join(dir, "spares-max"), 2);
    await again.reset();
    assert.ok(!(await readdir(dir)).includes("spares-max"), "an earlier agent's spares removed");
    assert.equal(again.take(), undefined, "none handed out");
  });

  it("a reused file that a crash left with its previous executor's content is torn (recovery removes it), not that executor", async () => {
    const other = await mkdtemp(join(tmpdir(), "dcos-agent-spares-"));
    try {
      await writeExecutorCheckpoint(fs, other, checkpointOf("e1"), true);
      const otherExecutors = join(other, "meta", "frameworks", "fw-1", "executors");
      // The rename to the new name survived, the truncation and the new content did not.
      await fs.rename(join(otherExecutors, "e1.json"), join(otherExecutors, "e3.json"));
      const read = await readExecutorCheckpoints(fs, other);
      assert.deepEqual(read.executors, []);
      assert.equal(read.unreadable.length, 1);
      assert.equal(read.unreadable[0]!.path, join(otherExecutors, "e3.json"));
      assert.equal(read.unreadable[0]!.torn, true);
      assert.match(read.unreadable[0]!.error, /holds executor "e1"/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

describe("the agent's spare checkpoint files (in-memory disk)", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  /** Acknowledging every update, until the task's update in `state` arrived. */
  async function until(x: Harness, taskId: string, state: TaskState): Promise<void> {
    const acked = new Set<StatusUpdate>();
    await x.until(() => {
      for (const u of x.master.of<StatusUpdate>("StatusUpdate")) {
        if (acked.has(u)) continue;
        acked.add(u);
        x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: u.status!.taskId, uuid: u.status!.uuid }));
      }
      return x.master.updates().includes(`${taskId}:${TaskState[state]}`);
    }, `${taskId}: TASK_${TaskState[state]}`);
  }

  it("t1's checkpoint is emptied and renamed away at its end, t2's first checkpoint is written into it; after a kill -9 t2 is recovered and the spares are removed", async () => {
    const fs = new CrashFs();
    const x = (h = await startHarness({ fs, bootId: async () => "boot-1", commandExecutor: "agent" }));
    await x.clock.settle();
    x.master.tell(x.agent.self, create(AgentRegisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
    await x.clock.settle();
    const executors = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors`;
    const spare = `${MEMORY_WORK_DIR}/meta/spare/1`;
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await until(x, "t1", TaskState.RUNNING);
    x.containerizer.exit(x.agent.executorOf("fw-1", "t1")!.containerId, 0);
    await until(x, "t1", TaskState.FINISHED);
    await x.until(() => fs.ops.includes(`rename ${executors}/t1.json ${spare}`), "t1's checkpoint retired");
    const ended = fs.ops.filter((op) => op.includes(`${executors}/t1.json`));
    assert.deepEqual(ended.slice(-2), [`truncate ${executors}/t1.json 0`, `rename ${executors}/t1.json ${spare}`], "emptied, then renamed away; not deleted");
    assert.ok(!fs.ops.includes(`unlink ${executors}/t1.json`));

    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t2"), role: "*" }));
    await until(x, "t2", TaskState.RUNNING);
    const launched = fs.ops.filter((op) => op.includes(`${executors}/t2.json`));
    assert.deepEqual(launched.slice(0, 2), [`rename ${spare} ${executors}/t2.json`, `write ${executors}/t2.json`], "the spare renamed to t2's name, then written");
    assert.ok(fs.ops.includes(`syncdir ${executors}`));

    const disk = fs.crash();
    await x.restartAgent({ fs: disk, bootId: async () => "boot-1", commandExecutor: "agent" });
    await x.clock.settle();
    x.master.tell(x.agent.self, create(AgentReregisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
    await x.clock.settle();
    assert.equal(x.agent.executorOf("fw-1", "t2")?.containerId !== undefined, true, "t2 recovered from its checkpoint");
    assert.deepEqual(
      disk.files().filter((f) => f.includes("/meta/frameworks/") || f.includes("/meta/spare/")),
      [`${executors}/t2.json`],
      "t2's checkpoint kept; no spare left",
    );
  });

  it("spareCheckpoints false (the bench's --spares=off): t1's checkpoint is deleted at its end and t2's made anew", async () => {
    const fs = new CrashFs();
    const x = (h = await startHarness({ fs, bootId: async () => "boot-1", commandExecutor: "agent", spareCheckpoints: false }));
    await x.clock.settle();
    x.master.tell(x.agent.self, create(AgentRegisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
    await x.clock.settle();
    const executors = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors`;
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await until(x, "t1", TaskState.RUNNING);
    x.containerizer.exit(x.agent.executorOf("fw-1", "t1")!.containerId, 0);
    await until(x, "t1", TaskState.FINISHED);
    await x.until(() => fs.ops.includes(`unlink ${executors}/t1.json`), "t1's checkpoint deleted");
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t2"), role: "*" }));
    await until(x, "t2", TaskState.RUNNING);
    assert.deepEqual(fs.ops.filter((op) => op.includes(`${executors}/t2.json`)).slice(0, 1), [`write ${executors}/t2.json`]);
    assert.ok(!fs.ops.some((op) => op.includes("/meta/spare/")), "no spare");
  });
});
