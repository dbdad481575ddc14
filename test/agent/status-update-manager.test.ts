import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { AckOutcome, StatusUpdateManager, UpdateOutcome } from "../../src/actors/agent/status-update-manager.js";
import { Random } from "../../src/runtime/random.js";
import { statusUpdate } from "../../src/actors/agent/status-update.js";
import { streamFilePath } from "../../src/actors/agent/update-stream-file.js";
import { journalPath, parseJournal } from "../../src/actors/agent/update-journal.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { testSeed } from "../support/seed.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) for (const p of [d, journalPath(d)]) await rm(p, { recursive: true, force: true });
});

type Layout = "journal" | "files";

async function newManager(log: Layout, dir?: string): Promise<{
  clock: ManualClock;
  sum: StatusUpdateManager;
  forwarded: StatusUpdate[];
  forwardedAt: number[];
  metrics: Metrics;
  dir: string;
}> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), "dcos-sum-")));
  if (!dir) dirs.push(d);
  const clock = new ManualClock();
  const metrics = new Metrics();
  const system = new ActorSystem({ clock, metrics, logger: testLogger() });
  const forwarded: StatusUpdate[] = [];
  const forwardedAt: number[] = [];
  const forward = (u: StatusUpdate): void => {
    forwarded.push(u);
    forwardedAt.push(clock.now());
  };
  const sum = system.spawn(new StatusUpdateManager({ dir: d, metrics, forward, random: new Random(SUM_SEED), log }));
  await clock.settle();
  return { clock, sum, forwarded, forwardedAt, metrics, dir: d };
}

const uuids = new Random(testSeed(1));
/** The retry jitter's seed (DCOS_SEED replays a failure). */
const SUM_SEED = testSeed(18);
const update = (task: string, state: TaskState, now = 0): StatusUpdate =>
  statusUpdate({ frameworkId: "fw-1", taskId: task, state, agentId: "agent-1", executorId: "ex-1", now, uuid: uuids.uuidBytes() });

const states = (us: StatusUpdate[]): string[] => us.map((u) => `${u.status!.taskId!.value}:${TaskState[u.status!.state]}`);

/** The kinds of the task's records on disk, as the layout has them. */
async function recordsOnDisk(log: Layout, dir: string, task: string): Promise<string[]> {
  if (log === "files") return (await readFile(streamFilePath(dir, "fw-1", task), "utf8")).split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { t: string }).t);
  return parseJournal(await readFile(journalPath(dir))).entries.filter((e) => e.taskId === task).map((e) => e.record.kind);
}

/** What a crash in the middle of writing an acknowledgement of the task leaves at the end of its file. */
function tearTail(log: Layout, dir: string, task: string): Promise<void> {
  return log === "files" ? appendFile(streamFilePath(dir, "fw-1", task), '{"t":"ack","uu') : appendFile(journalPath(dir), `0123abcd {"t":"ack","fw":"fw-1","task":"${task}","uu`);
}

for (const log of ["journal", "files"] as const)
describe(`StatusUpdateManager (${log})`, () => {
  it("checkpoints an update before forwarding it, and retries it with backoff until acknowledged and not after", async () => {
    const { clock, sum, forwarded, forwardedAt, metrics, dir } = await newManager(log);
    const running = update("t1", TaskState.RUNNING);
    const start = clock.now();
    assert.equal(await sum.update(running), UpdateOutcome.ACCEPTED);
    assert.equal(forwarded.length, 1);
    assert.deepEqual(await recordsOnDisk(log, dir, "t1"), ["update"], "the update is on disk once update() resolves");

    // The ceiling doubles from 10 s; each wait is drawn in [ceiling/2, ceiling].
    await clock.advance(4_999);
    assert.equal(forwarded.length, 1, `no retry before half of 10 s (seed ${SUM_SEED})`);
    await clock.advance(10_000 + 20_000 + 40_000 - 4_999);
    assert.equal(forwarded.length, 4, `three retries within 10 + 20 + 40 s (seed ${SUM_SEED})`);
    assert.equal(forwardedAt[0], start);
    const gaps = forwardedAt.slice(1).map((t, i) => t - forwardedAt[i]!);
    for (const [i, ceiling] of [10_000, 20_000, 40_000].entries()) {
      assert.ok(gaps[i]! >= ceiling / 2 && gaps[i]! <= ceiling, `retry ${i + 1} after ${gaps[i]} ms, not in [${ceiling / 2}, ${ceiling}] (seed ${SUM_SEED})`);
    }

    assert.equal(await sum.acknowledge("fw-1", "t1", running.uuid), AckOutcome.ACKNOWLEDGED);
    await clock.advance(3_600_000);
    assert.equal(forwarded.length, 4, "nothing is resent after the acknowledgement");
    assert.equal(metrics.value("slave/status_updates/retried"), 3);
    assert.equal(metrics.value("slave/status_updates/pending"), 0);
  });

  it("caps the retry ceiling at 10 minutes", async () => {
    const { clock, sum, forwardedAt } = await newManager(log);
    await sum.update(update("t1", TaskState.RUNNING));
    // Ceilings 10, 20, 40, 80, 160, 320 s, then 600 s for good.
    await clock.advance(630_000 + 3 * 600_000);
    const gaps = forwardedAt.slice(1).map((t, i) => t - forwardedAt[i]!);
    assert.ok(gaps.length >= 9, `at least 9 retries (seed ${SUM_SEED}): ${gaps}`);
    for (const gap of gaps.slice(6)) assert.ok(gap >= 300_000 && gap <= 600_000, `a capped wait of ${gap} ms is in [300 s, 600 s] (seed ${SUM_SEED})`);
  });

  it("spreads the retries of many tasks cut off at once over the window, the same from the same seed", async () => {
    const retryTimes = async (): Promise<number[]> => {
      const { clock, sum, forwardedAt } = await newManager(log);
      const start = clock.now();
      for (let i = 0; i < 200; i++) await sum.update(update(`t${i}`, TaskState.RUNNING));
      const sent = forwardedAt.length;
      await clock.advance(10_000);
      return forwardedAt.slice(sent).map((t) => t - start);
    };
    const first = await retryTimes();
    assert.equal(first.length, 200, `every task retried within the first ceiling (seed ${SUM_SEED})`);
    assert.ok(Math.min(...first) >= 5_000 && Math.max(...first) <= 10_000, `retries within [5 s, 10 s] (seed ${SUM_SEED})`);
    assert.ok(new Set(first).size > 150, `the retries fall at many instants, not in lockstep: ${new Set(first).size} distinct of 200 (seed ${SUM_SEED})`);
    const buckets = [0, 0, 0, 0, 0];
    for (const t of first) buckets[Math.min(4, Math.floor((t - 5_000) / 1_000))]!++;
    for (const b of buckets) assert.ok(b >= 20, `each second of the window has at least 20 of 200 retries: ${buckets} (seed ${SUM_SEED})`);
    assert.deepEqual(await retryTimes(), first, `the same seed replays the same retry times (seed ${SUM_SEED})`);
  });

  it("forwards a task's next update only once the previous one is acknowledged", async () => {
    const { clock, sum, forwarded } = await newManager(log);
    const running = update("t1", TaskState.RUNNING);
    const finished = update("t1", TaskState.FINISHED);
    const other = update("t2", TaskState.RUNNING);
    await sum.update(running);
    await sum.update(finished);
    await sum.update(other);
    assert.deepEqual(states(forwarded), ["t1:RUNNING", "t2:RUNNING"], "each task has one update in flight");
    await sum.acknowledge("fw-1", "t1", running.uuid);
    await clock.settle();
    assert.deepEqual(states(forwarded), ["t1:RUNNING", "t2:RUNNING", "t1:FINISHED"]);
    assert.deepEqual(states(await sum.pendingOf("fw-1", "t1")), ["t1:FINISHED"]);
  });

  it("ignores a duplicate update (same uuid)", async () => {
    const { sum, forwarded, metrics } = await newManager(log);
    const running = update("t1", TaskState.RUNNING);
    await sum.update(running);
    assert.equal(await sum.update(running), UpdateOutcome.DUPLICATE);
    assert.equal(forwarded.length, 1);
    assert.equal((await sum.pendingOf("fw-1", "t1")).length, 1);
    assert.equal(metrics.value("slave/status_updates/duplicate_updates"), 1);
  });

  it("ignores a duplicate acknowledgement", async () => {
    const { clock, sum, forwarded, metrics } = await newManager(log);
    const running = update("t1", TaskState.RUNNING);
    const finished = update("t1", TaskState.FINISHED);
    await sum.update(running);
    await sum.update(finished);
    assert.equal(await sum.acknowledge("fw-1", "t1", running.uuid), AckOutcome.ACKNOWLEDGED);
    assert.equal(await sum.acknowledge("fw-1", "t1", running.uuid), AckOutcome.DUPLICATE);
    assert.deepEqual(states(await sum.pendingOf("fw-1", "t1")), ["t1:FINISHED"], "the duplicate does not acknowledge the next update");
    await clock.settle();
    assert.deepEqual(states(forwarded), ["t1:RUNNING", "t1:FINISHED"]);
    assert.equal(metrics.value("slave/status_updates/duplicate_acknowledgements"), 1);
  });

  it("ignores an unexpected acknowledgement (unknown uuid, not the pending update, unknown task)", async () => {
    const { clock, sum, forwarded, metrics } = await newManager(log);
    const running = update("t1", TaskState.RUNNING);
    const finished = update("t1", TaskState.FINISHED);
    await sum.update(running);
    await sum.update(finished);
    assert.equal(await sum.acknowledge("fw-1", "t1", update("t1", TaskState.RUNNING).uuid), AckOutcome.UNEXPECTED);
    assert.equal(await sum.acknowledge("fw-1", "t1", finished.uuid), AckOutcome.UNEXPECTED, "only the oldest pending update can be acknowledged");
    assert.equal(await sum.acknowledge("fw-1", "nope", running.uuid), AckOutcome.UNEXPECTED);
    assert.equal((await sum.pendingOf("fw-1", "t1")).length, 2);
    await clock.advance(10_000);
    assert.deepEqual(states(forwarded), ["t1:RUNNING", "t1:RUNNING"], "the pending update is still retried");
    assert.equal(metrics.value("slave/status_updates/unexpected_acknowledgements"), 3);
  });

  it("refuses an update after the task's terminal update was acknowledged", async () => {
    const { sum } = await newManager(log);
    const finished = update("t1", TaskState.FINISHED);
    await sum.update(finished);
    await sum.acknowledge("fw-1", "t1", finished.uuid);
    await assert.rejects(sum.update(update("t1", TaskState.RUNNING)), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION));
    assert.equal(await sum.update(finished), UpdateOutcome.DUPLICATE, "a resent terminal update is a duplicate, not an error");
  });

  it("holds updates while paused and forwards them at once on resume", async () => {
    const { clock, sum, forwarded } = await newManager(log);
    await sum.pause();
    await sum.update(update("t1", TaskState.RUNNING));
    await clock.advance(60_000);
    assert.equal(forwarded.length, 0);
    await sum.resume();
    assert.equal(forwarded.length, 1);
    await clock.advance(10_000);
    assert.equal(forwarded.length, 2, "retries run again after resume");
  });

  it("recovers streams from the disk: pending updates are forwarded again, acknowledged ones are not", async () => {
    const first = await newManager(log);
    const r1 = update("t1", TaskState.RUNNING);
    const f1 = update("t1", TaskState.FINISHED);
    const r2 = update("t2", TaskState.RUNNING);
    const k3 = update("t3", TaskState.KILLED);
    for (const u of [r1, f1, r2, k3]) await first.sum.update(u);
    await first.sum.acknowledge("fw-1", "t1", r1.uuid);
    await first.sum.acknowledge("fw-1", "t3", k3.uuid);
    // A crash in the middle of a write leaves a torn line at the end of t2's file.
    await tearTail(log, first.dir, "t2");

    const second = await newManager(log, first.dir);
    const recovered = await second.sum.recover();
    const byTask = new Map(recovered.map((r) => [r.taskId, r]));
    assert.equal(byTask.get("t1")?.pending, 1);
    assert.equal(byTask.get("t1")?.latest?.status?.state, TaskState.FINISHED);
    assert.equal(byTask.get("t2")?.pending, 1);
    assert.equal(byTask.get("t3")?.terminated, true);
    assert.deepEqual(states(second.forwarded).sort(), ["t1:FINISHED", "t2:RUNNING"]);
    assert.equal(second.metrics.value("slave/status_updates/recovery_errors"), 1);

    assert.equal(await second.sum.acknowledge("fw-1", "t1", r1.uuid), AckOutcome.DUPLICATE, "acks survive recovery");
    assert.equal(await second.sum.update(r2), UpdateOutcome.DUPLICATE, "received uuids survive recovery");
    assert.equal(await second.sum.acknowledge("fw-1", "t1", f1.uuid), AckOutcome.ACKNOWLEDGED);
    await second.clock.advance(10_000);
    assert.deepEqual(states(second.forwarded).sort(), ["t1:FINISHED", "t2:RUNNING", "t2:RUNNING"]);
  });
});
