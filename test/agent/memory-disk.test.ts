/**
 * The agent on the manual clock with an in-memory disk (test/support/crash-fs.ts as
 * AgentOptions.fs): nothing touches the real file system, so one `clock.settle()` finishes
 * every step and each run is the same. Registration timing, the launch path's writes,
 * status update retry timing, and recovery from what the disk kept after a crash.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { dirname } from "node:path";
import { create } from "@bufbuild/protobuf";
import { ExecutorServiceSubscribeRequestSchema, ExecutorServiceUpdateRequestSchema } from "../../src/gen/dcos/v1/executor_pb.js";
import { AgentRegisteredSchema, AgentReregisteredSchema, RunTaskSchema, ShutdownFrameworkSchema, StatusUpdateAcknowledgementSchema, type ReregisterAgent, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import type { AgentOptions } from "../../src/actors/agent/agent-options.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { statusUpdatesDir } from "../../src/actors/agent/paths.js";
import { journalPath, parseJournal, type ParsedJournal } from "../../src/actors/agent/update-journal.js";
import { CrashFs } from "../support/crash-fs.js";
import { SnapshotFs } from "../support/snapshot-fs.js";
import { testSeed } from "../support/seed.js";
import { waitFor } from "../support/wait.js";
import { commandTask, executorStatus, FakeExecutorLink, framework, MEMORY_WORK_DIR, sendUpdate, startHarness, type Harness } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function onMemory(fs: CrashFs, extra: Partial<AgentOptions> = {}): Partial<AgentOptions> {
  return { fs, bootId: async () => "boot-1", ...extra };
}

/** The agent's status update journal as its disk has it (empty if there is none yet). */
async function journalOf(disk: CrashFs): Promise<ParsedJournal> {
  const path = journalPath(statusUpdatesDir(MEMORY_WORK_DIR));
  return parseJournal(disk.files().includes(path) ? await disk.readFile(path) : new Uint8Array(0));
}

/** Answers the (re)registration and checks the agent is RUNNING after one settle. */
async function answer(x: Harness, reregister = false): Promise<void> {
  const schema = reregister ? AgentReregisteredSchema : AgentRegisteredSchema;
  x.master.tell(x.agent.self, create(schema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
  await x.clock.settle();
  assert.equal(x.agent.agentState, AgentPhase.RUNNING);
}

/** A registered agent on the memory disk running t1, its executor subscribed. */
async function runningAgent(fs: CrashFs): Promise<{ x: Harness; link: FakeExecutorLink }> {
  const x = (h = await startHarness(onMemory(fs)));
  await x.clock.settle();
  assert.equal(x.master.of("RegisterAgent").length, 1, "recovered from the empty disk and registered in one settle");
  await answer(x);
  x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
  await x.clock.settle();
  assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING, "the container launched in the same settle");
  const link = new FakeExecutorLink();
  await x.agent.subscribe(create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: "fw-1" }, executorId: { value: "t1" } }), link);
  await x.clock.settle();
  assert.deepEqual(link.kinds(), ["subscribed", "launch"]);
  return { x, link };
}

describe("Agent on the manual clock with an in-memory disk", () => {
  it("registers at once after recovery, then retries on the jittered doubling backoff of its seed (the same seed replays the same times)", async () => {
    const attemptTimes = async (seed: number): Promise<number[]> => {
      const x = (h = await startHarness(onMemory(new CrashFs()), seed));
      const start = x.clock.now();
      await x.clock.settle();
      await x.clock.advance(300_000);
      const at = x.master.received.filter((r) => r.type === "RegisterAgent").map((r) => r.at - start);
      await x.stop();
      h = undefined;
      return at;
    };
    const seed = testSeed(11);
    const first = await attemptTimes(seed);
    assert.equal(first[0], 0, "the first attempt goes as soon as recovery is done");
    for (let i = 1; i < first.length; i++) {
      const ceiling = Math.min(60_000, 1_000 * 2 ** (i - 1));
      const gap = first[i]! - first[i - 1]!;
      assert.ok(gap >= ceiling / 2 && gap <= ceiling, `attempt ${i + 1} came ${gap} ms after the previous one: within [${ceiling / 2}, ${ceiling}] (seed ${seed})`);
    }
    assert.ok(first.length >= 9, `attempts in 5 min: ${first.length} (seed ${seed})`);
    assert.deepEqual(await attemptTimes(seed), first, `seed ${seed} replays the same attempt times`);
    assert.notDeepEqual(await attemptTimes(seed + 1), first, "another seed draws other jitter");
  });

  it("writes the agent id, the sandbox, the executor checkpoint and the update stream to its disk; an unacknowledged update is resent below the doubling 10 s ceilings, and no more once acknowledged", async () => {
    const fs = new CrashFs();
    const { x } = await runningAgent(fs);
    const meta = `${MEMORY_WORK_DIR}/meta`;
    assert.ok(fs.files().includes(`${meta}/agent.json`), "agent id checkpointed");
    assert.ok(fs.files().includes(`${meta}/boot-id`), "boot id checkpointed");
    assert.ok(fs.files().includes(`${meta}/frameworks/fw-1/executors/t1.json`), "executor checkpointed");
    const sandbox = x.agent.executorOf("fw-1", "t1")!.sandbox;
    assert.ok(sandbox.startsWith(`${MEMORY_WORK_DIR}/`) && fs.dirs.has(sandbox), `the sandbox ${sandbox} was made on the agent's disk`);
    assert.equal(fs.files().filter((f) => f.includes(".tmp.")).length, 0, "no temp file left by the atomic writes");

    const running = executorStatus("t1", TaskState.RUNNING);
    await sendUpdate(x, "t1", running);
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:RUNNING"]);
    const sentAt = () => x.master.received.filter((r) => r.type === "StatusUpdate").map((r) => r.at);
    await x.clock.advance(4_999);
    assert.equal(x.master.updates().length, 1, "not resent within half the first 10 s ceiling");
    await x.clock.advance(70_000 - 4_999);
    const at = sentAt();
    assert.ok(at.length >= 4, `resent at least 3 times in 70 s (${at.length - 1})`);
    for (let i = 1; i < 4; i++) {
      const ceiling = 10_000 * 2 ** (i - 1);
      const gap = at[i]! - at[i - 1]!;
      assert.ok(gap >= ceiling / 2 && gap <= ceiling, `resend ${i} after ${gap} ms: within [${ceiling / 2}, ${ceiling}] (the 10 s doubling ceilings, jittered)`);
    }
    const resends = at.length;

    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, uuid: running.uuid }));
    await x.clock.settle();
    await x.clock.advance(600_000);
    assert.equal(x.master.updates().length, resends, "acknowledged: no more resends");
    const journal = await journalOf(fs);
    assert.deepEqual(
      [journal.entries.map((e) => [e.taskId, e.record.kind]), journal.skipped],
      [[["t1", "update"], ["t1", "ack"]], 0],
      "the agent's journal holds the update and its acknowledgement",
    );
    assert.deepEqual(fs.files().filter((f) => f.includes("/meta/status-updates")), [`${MEMORY_WORK_DIR}/meta/status-updates.journal`], "no file per task");
  });

  it("after a crash, recovers from what its disk kept: the agent id, the executor with its task, and the unacknowledged update, which it resends on reregistering", async () => {
    const fs = new CrashFs();
    const { x } = await runningAgent(fs);
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.RUNNING));
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:RUNNING"]);

    await x.restartAgent(onMemory(fs.crash()));
    await x.clock.settle();
    assert.equal(x.master.of("RegisterAgent").length, 1, "not registered again as a new agent");
    const re = x.master.of<ReregisterAgent>("ReregisterAgent");
    assert.equal(re.length, 1, "reregisters with the recovered id");
    assert.equal(re[0]!.agentInfo?.id?.value, "agent-1");
    assert.deepEqual(re[0]!.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t1", "RUNNING"]]);
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING, "its container still runs: it waits for the executor");
    assert.deepEqual(x.containerizer.destroyed, []);

    await answer(x, true);
    assert.deepEqual(x.master.updates(), ["t1:RUNNING", "t1:RUNNING"], "the unacknowledged update is resent at once");
    const resent = x.master.of<StatusUpdate>("StatusUpdate");
    assert.deepEqual(resent[1]!.uuid, resent[0]!.uuid, "the same update (uuid)");
    const link = new FakeExecutorLink();
    await x.agent.subscribe(create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: "fw-1" }, executorId: { value: "t1" } }), link);
    await x.clock.settle();
    assert.deepEqual(link.kinds(), ["subscribed"], "nothing is launched again");
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.RUNNING);
  });

  it("a task the agent runs: RUNNING is written beside the container's checkpoint but sent only once the checkpoint is durable; a crash in between drops the unsent RUNNING and reports the task LOST, also after a second crash", async () => {
    const fs = new CrashFs();
    const x = (h = await startHarness(onMemory(fs, { commandExecutor: "agent" })));
    await x.clock.settle();
    await answer(x);
    const ackAll = (): void => {
      for (const u of x.master.of<StatusUpdate>("StatusUpdate")) {
        x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: u.status!.taskId, uuid: u.status!.uuid }));
      }
    };
    const streamStates = async (disk: CrashFs): Promise<string[]> =>
      (await journalOf(disk)).entries.map(({ record: r }) => (r.kind === "update" ? TaskState[r.update.status!.state] : r.kind));
    // The executor checkpoint's fdatasync waits (the window between the RUNNING record and the checkpoint on disk).
    // (The clock cannot settle while a write is held: the agent's disk work is one of its work sources.)
    fs.holdSyncsOf((path) => path.includes("/meta/frameworks/"));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await waitFor(() => x.master.updates().includes("t1:STARTING"), "TASK_STARTING");
    ackAll();
    let durable: string[] = [];
    await waitFor(async () => (durable = await streamStates(fs.crash())).length === 3, "the RUNNING record and the acknowledgement durable");
    assert.deepEqual(durable, ["STARTING", "RUNNING", "ack"], "RUNNING recorded as the launch returned (before TASK_STARTING's acknowledgement came)");
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r)); // whatever follows them runs
    assert.deepEqual(x.master.updates(), ["t1:STARTING"], "RUNNING is not sent while the container's checkpoint is not durable, though its own record is");

    // kill -9 now: the disk has the RUNNING record and no executor checkpoint.
    const first = fs.crash();
    await x.restartAgent(onMemory(first, { commandExecutor: "agent" }));
    fs.release(); // the dead agent's disk: its held write ends there, unseen
    await x.clock.settle();
    await answer(x, true);
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:STARTING", "t1:LOST"], "the unsent RUNNING is dropped: STARTING then LOST, never RUNNING then LOST");
    const lost = x.master.of<StatusUpdate>("StatusUpdate").at(-1)!;
    assert.equal(lost.status?.reason, TaskStatus_Reason.AGENT_RESTARTED);
    assert.deepEqual(await streamStates(first.crash()), ["STARTING", "RUNNING", "ack", "drop", "LOST"], "the drop is durable before the LOST");

    // A second kill -9 before LOST is acknowledged: LOST is sent again, the dropped RUNNING never.
    await x.restartAgent(onMemory(first.crash(), { commandExecutor: "agent" }));
    await x.clock.settle();
    await answer(x, true);
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:STARTING", "t1:LOST", "t1:LOST"]);
  });

  it("a task the agent runs: its executor's first checkpoint is written in place with one flush; a crash before that flush leaves a torn file, which recovery ignores (the task LOST, never RUNNING)", async () => {
    const fs = new CrashFs();
    const x = (h = await startHarness(onMemory(fs, { commandExecutor: "agent" })));
    await x.clock.settle();
    await answer(x);
    const checkpoint = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors/t1.json`;
    fs.holdSyncsOf((path) => path === checkpoint);
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await waitFor(() => x.master.updates().includes("t1:STARTING"), "TASK_STARTING");
    const starting = x.master.of<StatusUpdate>("StatusUpdate")[0]!;
    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: starting.status!.taskId, uuid: starting.status!.uuid }));
    await waitFor(() => fs.ops.includes(`syncdir ${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors`), "the checkpoint's directory flushed (its data's flush is held)");
    const mine = fs.ops.filter((op) => op.includes("/meta/frameworks/"));
    assert.deepEqual(mine, [`write ${checkpoint}`, `syncdir ${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors`], "written in place, no temp file and no rename; its two flushes asked for at once");
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.ok(!x.master.updates().includes("t1:RUNNING"), "RUNNING waits for the checkpoint's data too");

    // kill -9 with half of the checkpoint's bytes on the disk: a torn file, which the reader cannot read.
    const first = fs.crash((path, unsynced) => (path === checkpoint ? Math.floor(unsynced / 2) : 0));
    assert.ok(first.files().includes(checkpoint) && (await first.readFile(checkpoint)).length > 0, "the torn checkpoint is there");
    // Beside it, a complete checkpoint (it ends with its newline) that is damaged: kept for the operator, not removed.
    const damaged = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors/other.json`;
    await first.writeFile(damaged, new TextEncoder().encode("{damaged}\n"));
    const launchedBefore = x.containerizer.launched.length;
    await x.restartAgent(onMemory(first, { commandExecutor: "agent" }));
    fs.release();
    await x.clock.settle();
    await answer(x, true);
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:STARTING", "t1:LOST"], "the task whose checkpoint a crash tore is LOST, never RUNNING");
    assert.equal(x.agent.executorOf("fw-1", "t1"), undefined, "no executor recovered from the torn checkpoint");
    assert.ok(!first.files().includes(checkpoint), "the torn checkpoint is removed (a file cut short before its last newline)");
    assert.ok(first.files().includes(damaged), "a damaged complete checkpoint is left where it is (only ignored)");
    assert.equal(x.containerizer.launched.length, launchedBefore, "nothing launched again");
  });

  it("a task the agent runs whose container's checkpoint became durable before any of its updates: after a kill -9 it is recovered and reported RUNNING (from the executor source)", async () => {
    const fs = new CrashFs();
    const x = (h = await startHarness(onMemory(fs, { commandExecutor: "agent" })));
    await x.clock.settle();
    await answer(x);
    fs.holdSyncsOf((path) => path.includes("/meta/status-updates")); // the task's stream never reaches the disk
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    const checkpoint = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors/t1.json`;
    await waitFor(() => fs.crash().files().includes(checkpoint), "the executor checkpoint durable");
    assert.deepEqual(x.master.updates(), [], "nothing sent: no update is durable");

    await x.restartAgent(onMemory(fs.crash(), { commandExecutor: "agent" }));
    fs.release();
    await x.clock.settle();
    await answer(x, true);
    await x.clock.settle();
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.RUNNING, "its container was recovered");
    assert.deepEqual(x.master.updates(), ["t1:RUNNING"], "reported RUNNING, not left unreported until it ends");
    assert.equal(x.master.of<StatusUpdate>("StatusUpdate")[0]!.status?.source, TaskStatus_Source.EXECUTOR);
    assert.deepEqual(x.containerizer.destroyed, []);
  });

  it("a removed framework's update streams are forgotten only once its executors' checkpoint removals are durable: a crash at any step, with the journal compacted meanwhile, never reports its finished task anything but FINISHED", async () => {
    const fs = new SnapshotFs();
    const x = (h = await startHarness(onMemory(fs, { statusUpdateCompactMinBytes: 1 })));
    await x.clock.settle();
    await answer(x);
    const other = { ...framework, id: { value: "fw-2" } };
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: other, task: commandTask("t2"), role: "*" }));
    await x.clock.settle();
    for (const [fw, ex] of [["fw-1", "t1"], ["fw-2", "t2"]] as const) {
      await x.agent.subscribe(create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: fw }, executorId: { value: ex } }), new FakeExecutorLink());
    }
    await x.clock.settle();
    // t1 finished; its framework tears down before acknowledging (dcos-node run): the executor stays for the acknowledgement.
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.FINISHED));
    x.containerizer.exit(x.containerizer.launched.find((c) => c.id === x.agent.executorOf("fw-1", "t1")?.containerId)!.id, 0);
    await x.clock.settle();
    assert.deepEqual(x.master.updates(), ["t1:FINISHED"]);
    const checkpoint = `${MEMORY_WORK_DIR}/meta/frameworks/fw-1/executors/t1.json`;
    assert.ok(fs.crash().files().includes(checkpoint));

    fs.recording = true;
    fs.holdDirSyncs((dir) => dir === dirname(checkpoint)); // the checkpoint's removal is not durable yet
    x.master.tell(x.agent.self, create(ShutdownFrameworkSchema, { frameworkId: { value: "fw-1" } }));
    await waitFor(() => x.agent.executorOf("fw-1", "t1") === undefined, "the framework removed");
    // fw-2's task goes on writing to the journal, which compacts (from 1 byte, when more than half of it is dead).
    // Each update is forwarded once the acknowledgement before it is durable. (No settle while a directory fsync is held.)
    const ackT2 = (uuid: Uint8Array): void => x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-2" }, taskId: { value: "t2" }, uuid }));
    let last: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 5; i++) {
      if (i > 0) ackT2(last);
      const status = executorStatus("t2", TaskState.RUNNING, `t2 ${i}`);
      await x.agent.update(create(ExecutorServiceUpdateRequestSchema, { frameworkId: { value: "fw-2" }, executorId: { value: "t2" }, status }));
      await waitFor(() => x.master.of<StatusUpdate>("StatusUpdate").some((u) => u.status?.message === `t2 ${i}`), `t2's update ${i} forwarded`);
      last = status.uuid;
    }
    fs.releaseDirs();
    await x.clock.settle();
    ackT2(last); // one more write: the journal compacts again
    await x.clock.settle();
    fs.recording = false;
    assert.equal(x.agent.executorOf("fw-1", "t1"), undefined, "the framework is removed");
    assert.ok(!fs.crash().files().includes(checkpoint), "its checkpoint's removal is durable");
    assert.ok(!(await journalOf(fs.crash())).entries.some((e) => e.taskId === "t1"), "and a compaction dropped its stream");

    const snapshots = fs.snapshots;
    // The checkpoint's removal (deleted, or emptied and renamed away as a spare: spare-files.ts) and the journal's compaction were crashed after.
    const removal = (after: string): boolean => after === `remove ${checkpoint}` || after === `rename ${checkpoint}`;
    assert.ok(snapshots.some((s) => removal(s.after)) && snapshots.some((s) => s.after.startsWith("rename ") && !removal(s.after)), snapshots.map((s) => s.after).join(", "));
    for (const { after, disk } of snapshots) {
      const sent = x.master.updates().length;
      await x.restartAgent(onMemory(disk, { statusUpdateCompactMinBytes: 1 }));
      await x.clock.settle();
      await answer(x, true);
      await x.clock.settle();
      const t1 = x.master.updates().slice(sent).filter((u) => u.startsWith("t1:"));
      const listed = disk.files().includes(checkpoint);
      // Still checkpointed: its stream is there too, and its FINISHED is resent. Its checkpoint gone: its stream may be left (FINISHED resent) or gone.
      assert.ok(listed ? t1.join() === "t1:FINISHED" : t1.every((u) => u === "t1:FINISHED"), `a crash after ${after}: t1 ${listed ? "checkpointed" : "not checkpointed"}, reported ${t1.join() || "nothing"}`);
    }
  });
});
