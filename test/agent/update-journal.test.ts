/**
 * The agent's status update journal (update-journal.ts) under the status update manager, on
 * the in-memory disk that models a crash (test/support/crash-fs.ts): one fdatasync per batch
 * of records whatever their tasks, no file per task, damaged and torn records, the record
 * size limit, compaction (and a crash at each of its steps), and an agent upgraded from the
 * per-task files.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dirname } from "node:path";
import type { StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { AckOutcome, StatusUpdateManager, UpdateOutcome } from "../../src/actors/agent/status-update-manager.js";
import { statusUpdate } from "../../src/actors/agent/status-update.js";
import { journalPath, parseJournal } from "../../src/actors/agent/update-journal.js";
import { MAX_RECORD_BYTES } from "../../src/actors/agent/update-store.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { CrashFs } from "../support/crash-fs.js";
import { SnapshotFs } from "../support/snapshot-fs.js";
import { testSeed } from "../support/seed.js";

const DIR = "/agent/meta/status-updates";
const JOURNAL = journalPath(DIR);
type Layout = "journal" | "files";

const uuids = new Random(testSeed(15));
const update = (task: string, state: TaskState, message = ""): StatusUpdate =>
  statusUpdate({ frameworkId: "fw-1", taskId: task, state, agentId: "agent-1", executorId: task, now: 0, uuid: uuids.uuidBytes(), message });

function manager(fs: CrashFs, log: Layout = "journal", compactMinBytes?: number): { sum: StatusUpdateManager; forwarded: StatusUpdate[]; metrics: Metrics } {
  const clock = new ManualClock();
  const metrics = new Metrics();
  const system = new ActorSystem({ clock, metrics, logger: testLogger() });
  const forwarded: StatusUpdate[] = [];
  const sum = system.spawn(
    new StatusUpdateManager({ dir: DIR, metrics, forward: (u) => forwarded.push(u), random: new Random(testSeed(16)), fs, log, ...(compactMinBytes === undefined ? {} : { compactMinBytes }) }),
  );
  return { sum, forwarded, metrics };
}

/** What a manager recovering from the disk finds, one line per stream, sorted. */
async function recovered(fs: CrashFs, log: Layout = "journal"): Promise<{ streams: string[]; errors: number }> {
  const { sum, metrics } = manager(fs, log);
  const streams = (await sum.recover()).map(
    (s) => `${s.taskId} pending=${s.pending} terminated=${s.terminated}${s.terminated ? "" : ` latest=${TaskState[s.latest?.status?.state ?? TaskState.UNSPECIFIED]}`}`,
  );
  return { streams: streams.sort(), errors: metrics.value("slave/status_updates/recovery_errors") ?? 0 };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** A terminal update of the task, acknowledged: the stream is settled. */
async function finish(sum: StatusUpdateManager, task: string): Promise<void> {
  const running = update(task, TaskState.RUNNING);
  const finished = update(task, TaskState.FINISHED);
  await sum.update(running);
  await sum.update(finished);
  await sum.acknowledge("fw-1", task, running.uuid);
  await sum.acknowledge("fw-1", task, finished.uuid);
}

describe("The status update journal", () => {
  it("writes the records of every task that arrive while a write is in flight with ONE fdatasync, and makes no file or directory entry per task", async () => {
    const counts = async (log: Layout): Promise<{ syncs: number; creates: number; syncdirs: number }> => {
      const fs = new CrashFs();
      const { sum, forwarded } = manager(fs, log);
      await sum.recover();
      fs.holdSyncs();
      const writes = [sum.update(update("t0", TaskState.STARTING))];
      await turns(); // the first record's write is in flight, its flush held
      for (let i = 1; i < 20; i++) writes.push(sum.update(update(`t${i}`, TaskState.STARTING)));
      await turns();
      assert.equal(forwarded.length, 0, `${log}: nothing forwarded before its record is durable`);
      fs.release();
      assert.deepEqual(await Promise.all(writes), writes.map(() => UpdateOutcome.ACCEPTED));
      assert.equal(forwarded.length, 20);
      return {
        syncs: fs.ops.filter((op) => op.startsWith("sync ")).length,
        creates: fs.ops.filter((op) => op.startsWith("create ")).length,
        syncdirs: fs.ops.filter((op) => op.startsWith("syncdir ")).length,
      };
    };
    const journal = await counts("journal");
    const files = await counts("files");
    assert.deepEqual(journal, { syncs: 2, creates: 1, syncdirs: 1 }, `the journal: the first record alone, then the 19 that came meanwhile together (a file per task: ${JSON.stringify(files)})`);
    assert.ok(files.syncs >= 20 && files.creates === 20, `a file per task: a file and an fdatasync each (${JSON.stringify(files)})`);
  });

  it("skips a damaged record and keeps the ones after it; skips a torn last record and cuts it off before the next append", async () => {
    const fs = new CrashFs();
    const { sum } = manager(fs);
    await sum.recover();
    for (const t of ["t1", "t2", "t3"]) await sum.update(update(t, TaskState.RUNNING));
    const bytes = Buffer.from(fs.bytes(JOURNAL));
    const second = bytes.indexOf("\n") + 1;
    const at = bytes.indexOf("agent-1", second); // inside t2's record
    assert.ok(at > second && at < bytes.indexOf("\n", second));
    bytes[at + 6] = "2".charCodeAt(0); // still JSON, a record that reads (agent-2): only the CRC tells
    const damaged = Buffer.concat([bytes, Buffer.from('0123abcd {"t":"ack","fw":"fw-1","task":"t3","uu')]);
    fs.setBytes(JOURNAL, damaged);

    const first = await recovered(fs.clone());
    assert.deepEqual(first.streams, ["t1 pending=1 terminated=false latest=RUNNING", "t3 pending=1 terminated=false latest=RUNNING"], "t2's damaged record skipped, t3's after it kept");
    assert.equal(first.errors, 2, "the damaged record and the torn tail counted");

    const again = manager(fs);
    await again.sum.recover();
    await again.sum.update(update("t4", TaskState.RUNNING));
    const after = await recovered(fs.crash());
    assert.deepEqual(after.streams, [...first.streams, "t4 pending=1 terminated=false latest=RUNNING"], "the record appended after the torn tail reads back");
    assert.equal(after.errors, 1, "the torn tail was cut off: only the damaged record is left to skip");
  });

  it("refuses a record larger than the limit with a clear error, and keeps nothing of it", async () => {
    for (const log of ["journal", "files"] as const) {
      const fs = new CrashFs();
      const { sum, forwarded } = manager(fs, log);
      await sum.recover();
      const big = update("t1", TaskState.RUNNING, "x".repeat(MAX_RECORD_BYTES));
      await assert.rejects(sum.update(big), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /task t1 is \d+ bytes; a record may have at most 8388608 bytes/.test((e as Error).message));
      assert.equal(forwarded.length, 0);
      assert.equal(await sum.knows("fw-1", "t1"), false, `${log}: the stream did not take it`);
      big.status!.message = "fits";
      assert.equal(await sum.update(big), UpdateOutcome.ACCEPTED, `${log}: the same update, smaller, is taken (its uuid was not marked received)`);
      assert.ok(fs.ops.every((op) => !op.startsWith("write ")), "nothing large written");
    }
  });

  it("compacts: the settled streams' records go (a done record stands for each until its executor is forgotten), the live ones stay, and the journal stays bounded", async () => {
    const run = async (compactMinBytes: number): Promise<{ fs: CrashFs; sum: StatusUpdateManager; peak: number }> => {
    const fs = new CrashFs();
    const { sum } = manager(fs, "journal", compactMinBytes);
    await sum.recover();
    const live1 = update("live1", TaskState.RUNNING);
    const live2 = update("live2", TaskState.STARTING);
    await sum.update(live1);
    await sum.update(live2);
    await sum.acknowledge("fw-1", "live2", live2.uuid);
    await sum.update(update("live2", TaskState.RUNNING));
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      await finish(sum, `done${i}`);
      peak = Math.max(peak, fs.bytes(JOURNAL).length);
      if (i >= 50) assert.equal(await sum.forgetExecutor("fw-1", `done${i - 50}`), 1, "a settled stream goes with its executor");
    }
    return { fs, sum, peak };
    };
    const unbounded = await run(Number.MAX_SAFE_INTEGER);
    const { fs, sum, peak } = await run(8 * 1024);
    const compactions = fs.ops.filter((op) => op === `rename ${JOURNAL}.compacted ${JOURNAL}`).length;
    assert.ok(compactions >= 3, `compacted ${compactions} times`);
    assert.ok(peak * 5 < unbounded.peak, `the journal stayed bounded: ${peak} bytes at most, ${unbounded.peak} never compacted`);
    assert.equal((await sum.pendingOf("fw-1", "done199")).length, 0);
    assert.equal(await sum.knows("fw-1", "done199"), true, "a settled stream is known");
    assert.equal(await sum.knows("fw-1", "done0"), false, "a forgotten one is not");

    const back = await recovered(fs.crash());
    assert.deepEqual(back.streams.filter((s) => s.startsWith("live")), ["live1 pending=1 terminated=false latest=RUNNING", "live2 pending=1 terminated=false latest=RUNNING"]);
    const done = back.streams.filter((s) => s.startsWith("done"));
    for (let i = 150; i < 200; i++) assert.ok(done.includes(`done${i} pending=0 terminated=true`), `done${i}, settled, not forgotten, is read back settled`);
    assert.ok(done.length < 80 && !done.some((s) => s.startsWith("done0 ")), `the forgotten streams are gone from the journal but for those since its last compaction: ${done.length} read back`);
    assert.equal(back.errors, 0);
    const settled = manager(fs.crash());
    await settled.sum.recover();
    assert.equal(await settled.sum.update(update("done199", TaskState.RUNNING)).catch((e: unknown) => (DcosError.is(e, Code.FAILED_PRECONDITION) ? "refused" : e)), "refused", "a settled stream read back takes no more updates");
  });

  it("a crash at any step of a compaction leaves the old journal or the new one, which read back the same streams", async () => {
    const fs = new SnapshotFs();
    const { sum } = manager(fs, "journal", 4 * 1024);
    await sum.recover();
    await sum.update(update("live1", TaskState.RUNNING));
    for (let i = 0; i < 5; i++) await finish(sum, `done${i}`);
    const before = await recovered(fs.crash());
    fs.recording = true;
    const compactions = (): number => fs.ops.filter((op) => op === `rename ${JOURNAL}.compacted ${JOURNAL}`).length;
    const already = compactions();
    for (let i = 5; i < 40 && compactions() === already; i++) await finish(sum, `done${i}`);
    fs.recording = false;
    const start = fs.snapshots.findIndex((s) => s.after === `write ${JOURNAL}.compacted`);
    const end = fs.snapshots.findIndex((s, i) => i > start && s.after === `syncdir ${dirname(JOURNAL)}`);
    assert.ok(start >= 0 && end > start, `a compaction ran: ${fs.snapshots.map((s) => s.after).join(", ")}`);
    const expected = await recovered(fs.snapshots[start - 1]!.disk.clone());
    assert.ok(expected.streams.length > before.streams.length);
    const journals = new Set<number>();
    for (const { after, disk } of fs.snapshots.slice(start - 1, end + 1)) {
      journals.add(disk.bytes(JOURNAL).length);
      assert.deepEqual(await recovered(disk), expected, `a crash after ${after}`);
    }
    assert.equal(journals.size, 2, "both the old journal and the new one were read back");
  });

  it("an agent upgraded from a file per task reads its files, moves their records into the journal and removes them; a crash at any step of that reads back the same streams", async () => {
    const fs = new SnapshotFs();
    const old = manager(fs, "files");
    await old.sum.recover();
    const r1 = update("t1", TaskState.RUNNING);
    await old.sum.update(r1);
    await old.sum.update(update("t1", TaskState.FINISHED));
    await old.sum.acknowledge("fw-1", "t1", r1.uuid);
    await finish(old.sum, "t2");
    await old.sum.update(update("t3", TaskState.STARTING));
    await fs.writeFile(`${DIR}/fw-1/t3.updates`, Buffer.concat([fs.bytes(`${DIR}/fw-1/t3.updates`), Buffer.from('{"t":"ack","uu')]));
    await fs.syncFile(`${DIR}/fw-1/t3.updates`);
    const asFiles = await recovered(fs.clone(), "files");
    assert.equal(asFiles.streams.length, 3);

    fs.recording = true;
    const upgraded = await recovered(fs);
    fs.recording = false;
    assert.deepEqual(upgraded, asFiles, "the journal agent reads the same streams from the files");
    assert.deepEqual(fs.files(), [JOURNAL], "the per-task files are gone, their records in the journal");
    assert.ok(fs.snapshots.length >= 3, fs.snapshots.map((s) => s.after).join(", "));
    for (const { after, disk } of fs.snapshots) {
      const back = await recovered(disk);
      assert.deepEqual(back.streams, asFiles.streams, `a crash after ${after}`);
    }
    const again = await recovered(fs.crash());
    assert.deepEqual(again, { streams: asFiles.streams, errors: 0 }, "read back from the journal alone (the torn record was not copied)");
    assert.equal(parseJournal(fs.bytes(JOURNAL)).skipped, 0);
  });
});

/** A stream's state as a manager has it: its pending updates' uuids, in order (every other field of the stream is in recovered()). */
async function pendingUuids(sum: StatusUpdateManager, task: string): Promise<string[]> {
  return (await sum.pendingOf("fw-1", task)).map((u) => Buffer.from(u.status!.uuid).toString("hex"));
}

describe("The status update journal's live streams", () => {
  it("keep through a compaction only their pending updates and a bounded base: 10,000 health flaps of one live task leave the journal under 80 KiB, and recovery restores the same pending updates and duplicate checks", async () => {
    const compactMinBytes = 64 * 1024;
    const fs = new SnapshotFs();
    const { sum, forwarded } = manager(fs, "journal", compactMinBytes);
    await sum.recover();
    const running = update("flappy", TaskState.RUNNING);
    await sum.update(running);
    await sum.acknowledge("fw-1", "flappy", running.uuid);
    let peak = 0;
    const acked: StatusUpdate[] = [];
    for (let i = 0; i < 10_000; i++) {
      const flap = update("flappy", TaskState.RUNNING, `health check ${i}`);
      flap.status!.healthy = i % 2 === 0;
      await sum.update(flap);
      await sum.acknowledge("fw-1", "flappy", flap.uuid);
      acked.push(flap);
      peak = Math.max(peak, fs.bytes(JOURNAL).length);
    }
    const compactions = (): number => fs.ops.filter((op) => op === `rename ${JOURNAL}.compacted ${JOURNAL}`).length;
    assert.ok(peak < compactMinBytes + 16 * 1024, `the journal stayed under ${compactMinBytes + 16 * 1024} bytes: ${peak} at most (each flap writes an update and an acknowledgement)`);
    assert.ok(compactions() >= 10, `compacted ${compactions()} times`);

    // Three updates left pending; a settled stream's records make the journal compact again with them in it.
    const pending = [0, 1, 2].map((i) => update("flappy", TaskState.RUNNING, `pending ${i}`));
    for (const u of pending) await sum.update(u);
    const live = await recovered(fs.crash());
    fs.recording = true;
    const before = compactions();
    for (let i = 0; compactions() === before; i++) await finish(sum, `done${i}`);
    fs.recording = false;
    const expected = pending.map((u) => Buffer.from(u.status!.uuid).toString("hex"));
    assert.deepEqual(await pendingUuids(sum, "flappy"), expected);
    assert.equal(forwarded.filter((u) => u.status?.taskId?.value === "flappy").at(-1)?.status?.message, "pending 0", "the oldest pending update is the one in flight");

    // A crash at each step of that compaction, and after it: the same pending updates, in order, and the same checks.
    const start = fs.snapshots.findIndex((s) => s.after === `write ${JOURNAL}.compacted`);
    assert.ok(start > 0);
    for (const { after, disk } of [...fs.snapshots.slice(start - 1), { after: "the compaction", disk: fs.crash() }]) {
      const back = manager(disk.clone());
      const streams = await back.sum.recover();
      const flappy = streams.find((s) => s.taskId === "flappy");
      assert.deepEqual([flappy?.pending, flappy?.terminated, flappy?.latest?.status?.message], [3, false, "pending 2"], `a crash after ${after}`);
      assert.deepEqual(await pendingUuids(back.sum, "flappy"), expected, `a crash after ${after}: the pending updates, in order`);
      assert.deepEqual((await recovered(disk.clone())).streams.filter((s) => s.startsWith("flappy")), live.streams.filter((s) => s.startsWith("flappy")));
      const flappyForwarded = (): StatusUpdate[] => back.forwarded.filter((u) => u.status?.taskId?.value === "flappy");
      assert.deepEqual(flappyForwarded().map((u) => u.status?.message), ["pending 0"], `a crash after ${after}: the oldest pending update is resent first, alone`);
      assert.equal(await back.sum.update(acked.at(-1)!), UpdateOutcome.DUPLICATE, `a crash after ${after}: a re-sent update acknowledged before is a duplicate`);
      assert.equal(await back.sum.update(pending[1]!), UpdateOutcome.DUPLICATE, `a crash after ${after}: a re-sent pending update too`);
      assert.equal(await back.sum.acknowledge("fw-1", "flappy", acked.at(-1)!.uuid), AckOutcome.DUPLICATE, `a crash after ${after}: a re-sent acknowledgement is a duplicate`);
      assert.equal(await back.sum.acknowledge("fw-1", "flappy", pending[1]!.uuid), AckOutcome.UNEXPECTED, `a crash after ${after}: an acknowledgement of an update not in flight is refused`);
      assert.equal(await back.sum.acknowledge("fw-1", "flappy", uuids.uuidBytes()), AckOutcome.UNEXPECTED, `a crash after ${after}: one of an unknown uuid too`);
      assert.equal(await back.sum.acknowledge("fw-1", "flappy", pending[0]!.uuid), AckOutcome.ACKNOWLEDGED, `a crash after ${after}`);
      assert.equal(flappyForwarded().at(-1)?.status?.message, "pending 1", `a crash after ${after}: the next pending update goes once the acknowledgement is durable`);
    }
    // The same checks on the running manager.
    assert.equal(await sum.update(acked.at(-1)!), UpdateOutcome.DUPLICATE);
    assert.equal(await sum.acknowledge("fw-1", "flappy", acked.at(-1)!.uuid), AckOutcome.DUPLICATE);
    assert.equal(await sum.acknowledge("fw-1", "flappy", pending[1]!.uuid), AckOutcome.UNEXPECTED);
  });

  it("a terminal update acknowledged while later ones are pending reads back terminated after a compaction; a dropped update reads back dropped", async () => {
    const fs = new CrashFs();
    const { sum } = manager(fs, "journal", 2 * 1024);
    await sum.recover();
    const starting = update("t1", TaskState.STARTING);
    const running = update("t1", TaskState.RUNNING);
    const failed = update("t1", TaskState.FAILED);
    const late = update("t1", TaskState.RUNNING, "late");
    await sum.pause();
    for (const u of [starting, running, failed, late]) await sum.update(u);
    assert.equal(await sum.dropUnsent("fw-1", "t1", TaskState.RUNNING), 2);
    await sum.resume();
    await sum.acknowledge("fw-1", "t1", starting.uuid);
    await sum.acknowledge("fw-1", "t1", failed.uuid);
    const compactions = (): number => fs.ops.filter((op) => op === `rename ${JOURNAL}.compacted ${JOURNAL}`).length;
    for (let i = 0; compactions() < 2; i++) await finish(sum, `done${i}`);
    const back = manager(fs.crash());
    const t1 = (await back.sum.recover()).find((s) => s.taskId === "t1");
    assert.deepEqual([t1?.pending, t1?.terminated], [0, true]);
    assert.equal(await back.sum.update(running), UpdateOutcome.DUPLICATE, "the dropped update is still known");
    await assert.rejects(back.sum.update(update("t1", TaskState.RUNNING)), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION), "a terminated stream takes nothing new");
  });
});

describe("The status update journal's place", () => {
  it("is outside the per-task layout's directory: an agent upgraded from per-task files of a framework whose id is `journal` reads them", async () => {
    const fs = new SnapshotFs();
    const old = manager(fs, "files");
    await old.sum.recover();
    const u = update("t1", TaskState.RUNNING);
    u.frameworkId = { $typeName: "dcos.v1.FrameworkID", value: "journal" };
    await old.sum.update(u);
    await old.sum.update(update("t2", TaskState.STARTING));
    assert.ok(fs.files().includes(`${DIR}/journal/t1.updates`));
    fs.recording = true;
    const back = manager(fs);
    const streams = await back.sum.recover();
    fs.recording = false;
    assert.deepEqual(streams.map((s) => `${s.frameworkId}/${s.taskId} pending=${s.pending}`).sort(), ["fw-1/t2 pending=1", "journal/t1 pending=1"]);
    assert.deepEqual(fs.files(), [JOURNAL], "moved into the journal, the per-task files removed");
    assert.equal(journalPath(`${DIR}/`), JOURNAL, "beside the directory however it is written");
    for (const { after, disk } of fs.snapshots) {
      const again = manager(disk);
      assert.deepEqual((await again.sum.recover()).map((s) => `${s.frameworkId}/${s.taskId} pending=${s.pending}`).sort(), ["fw-1/t2 pending=1", "journal/t1 pending=1"], `a crash after ${after}`);
    }
  });

  it("session 9's journal in that directory is moved to its place; a crash at any step of the move reads back the same streams", async () => {
    const fs = new SnapshotFs();
    const { sum } = manager(fs);
    await sum.recover();
    await finish(sum, "t1");
    await sum.update(update("t2", TaskState.RUNNING));
    const expected = await recovered(fs.crash());
    const legacy = `${DIR}/journal`;
    await fs.rename(JOURNAL, legacy);
    await fs.syncDir(DIR);
    await fs.syncDir(dirname(JOURNAL));
    await fs.writeFile(`${DIR}/journal.compacted`, new Uint8Array(3)); // a compaction session 9 cut short
    await fs.syncDir(DIR);
    fs.recording = true;
    assert.deepEqual(await recovered(fs), expected);
    fs.recording = false;
    assert.deepEqual(fs.files(), [JOURNAL]);
    assert.ok(fs.snapshots.length >= 3, fs.snapshots.map((s) => s.after).join(", "));
    for (const { after, disk } of fs.snapshots) assert.deepEqual(await recovered(disk), expected, `a crash after ${after}`);
    // Both names kept by a crash between the rename's directory flushes: the old one is removed unread.
    const both = fs.crash();
    await both.writeFile(legacy, both.bytes(JOURNAL));
    await both.syncDir(DIR);
    assert.deepEqual(await recovered(both), expected);
    assert.deepEqual(both.files(), [JOURNAL]);
  });
});
