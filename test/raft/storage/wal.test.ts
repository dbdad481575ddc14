import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../../src/runtime/error.js";
import { WriteAheadLog } from "../../../src/raft/storage/wal.js";
import { FRAME_HEADER_BYTES } from "../../../src/raft/storage/wal-frame.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeFileSystem } from "../../../src/runtime/file-system.js";
import { CrashFs } from "../../support/crash-fs.js";
import { entryIndices, entryRecord, hardStateRecord } from "./records.js";

const DIR = "/data/wal";
const FIRST_SEGMENT = `${DIR}/0000000000000000-0000000000000001.wal`;

/** A log with entries 1..n, each appended (and synced) on its own; returns the fs and frame offsets. */
async function logWith(n: number): Promise<{ fs: CrashFs; offsets: number[] }> {
  const fs = new CrashFs();
  const { wal } = await WriteAheadLog.open({ fs, dir: DIR });
  const offsets: number[] = [];
  for (let i = 1; i <= n; i++) {
    offsets.push(fs.bytes(FIRST_SEGMENT).length);
    await wal.append([entryRecord(i)]);
  }
  await wal.close();
  return { fs, offsets };
}

async function reopen(fs: CrashFs, segmentBytes?: number) {
  return WriteAheadLog.open({ fs, dir: DIR, segmentBytes });
}

function withBytes(fs: CrashFs, path: string, bytes: Uint8Array): CrashFs {
  const copy = fs.clone();
  copy.setBytes(path, bytes);
  return copy;
}

async function assertRefused(fs: CrashFs, file: string, offset: number, why: string): Promise<void> {
  await assert.rejects(reopen(fs), (e: unknown) => {
    assert.ok(DcosError.is(e, Code.DATA_LOSS), `${why}: expected DATA_LOSS, got ${String(e)}`);
    assert.equal(e.details.file, file, why);
    assert.equal(e.details.offset, String(offset), why);
    assert.match(e.message, new RegExp(`${file}.*offset ${offset}`));
    return true;
  });
}

describe("WriteAheadLog", () => {
  it("returns every record appended, in order, after a reopen", async () => {
    const { fs } = await logWith(5);
    const { records } = await reopen(fs);
    assert.deepEqual(entryIndices(records), [1, 2, 3, 4, 5]);
  });

  it("recovers from a torn write at every byte offset of the last record by truncating it", async () => {
    const { fs, offsets } = await logWith(5);
    const full = fs.bytes(FIRST_SEGMENT);
    const lastStart = offsets[4]!;
    for (let cut = lastStart; cut < full.length; cut++) {
      const torn = withBytes(fs, FIRST_SEGMENT, full.slice(0, cut));
      const { wal, records } = await reopen(torn);
      assert.deepEqual(entryIndices(records), [1, 2, 3, 4], `cut at ${cut}`);
      assert.equal(torn.bytes(FIRST_SEGMENT).length, lastStart, `file truncated to the last whole record (cut at ${cut})`);
      await wal.append([entryRecord(5)]);
      await wal.close();
      assert.deepEqual(entryIndices((await reopen(torn)).records), [1, 2, 3, 4, 5], `appends after recovery (cut at ${cut})`);
    }
  });

  it("treats a last record whose bytes were never written (zeros) from any offset as torn", async () => {
    const { fs, offsets } = await logWith(3);
    const full = fs.bytes(FIRST_SEGMENT);
    for (let from = offsets[2]!; from < full.length; from++) {
      const damaged = full.slice();
      damaged.fill(0, from);
      const { records } = await reopen(withBytes(fs, FIRST_SEGMENT, damaged));
      const expected = from === full.length ? [1, 2, 3] : [1, 2];
      assert.deepEqual(entryIndices(records), expected, `zeros from ${from}`);
    }
  });

  it("refuses to start, naming file and offset, when any bit of a record in the middle is flipped", async () => {
    const { fs, offsets } = await logWith(4);
    const full = fs.bytes(FIRST_SEGMENT);
    const start = offsets[1]!;
    for (let at = start; at < offsets[2]!; at++) {
      for (const bit of [0, 7]) {
        const damaged = full.slice();
        damaged[at]! ^= 1 << bit;
        await assertRefused(withBytes(fs, FIRST_SEGMENT, damaged), FIRST_SEGMENT, start, `bit ${bit} of byte ${at}`);
      }
    }
  });

  it("acknowledges an append only after fdatasync, and loses an unsynced append in a crash", async () => {
    const fs = new CrashFs();
    const { wal } = await WriteAheadLog.open({ fs, dir: DIR });
    await wal.append([entryRecord(1)]);
    fs.holdSyncs();
    let acked = false;
    void wal.append([entryRecord(2)]).then(() => (acked = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(acked, false, "not acknowledged while the sync is pending");
    assert.ok(fs.bytes(FIRST_SEGMENT).length > 0, "written to the file");
    const after = fs.crash();
    assert.deepEqual(entryIndices((await reopen(after)).records), [1]);
    fs.release();
  });

  it("recovers a crash between write and fsync that leaves any torn prefix of the unsynced batch", async () => {
    const base = new CrashFs();
    const { wal } = await WriteAheadLog.open({ fs: base, dir: DIR });
    await wal.append([entryRecord(1), entryRecord(2)]);
    const synced = base.bytes(FIRST_SEGMENT).length;
    base.holdSyncs();
    void wal.append([entryRecord(3), entryRecord(4), entryRecord(5)]);
    await new Promise((r) => setImmediate(r));
    const unsynced = base.bytes(FIRST_SEGMENT).length - synced;
    const frame = unsynced / 3;
    for (let keep = 0; keep <= unsynced; keep++) {
      const after = base.crash(() => keep);
      const { records } = await reopen(after);
      const whole = Math.floor(keep / frame);
      assert.deepEqual(entryIndices(records), [1, 2, 3, 4, 5].slice(0, 2 + whole), `kept ${keep} unsynced bytes`);
    }
    base.release();
  });

  it("group-commits: appends queued while a sync runs share the next single fdatasync", async () => {
    const fs = new CrashFs();
    const { wal } = await WriteAheadLog.open({ fs, dir: DIR });
    const before = fs.syncs;
    fs.holdSyncs();
    const first = wal.append([entryRecord(1)]);
    await new Promise((r) => setImmediate(r));
    const queued = Array.from({ length: 50 }, (_, i) => wal.append([entryRecord(i + 2)]));
    fs.release();
    await Promise.all([first, ...queued]);
    assert.equal(fs.syncs - before, 2, "one sync for the first append, one for the 50 queued behind it");
    assert.deepEqual(entryIndices((await reopen(fs)).records), Array.from({ length: 51 }, (_, i) => i + 1));
  });

  it("on the real file system writes each batch through O_DSYNC (appendDurable), across segments, and reads it all back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wal-dsync-"));
    try {
      const fs = new NodeFileSystem();
      const { wal } = await WriteAheadLog.open({ fs, dir, segmentBytes: 300 });
      await wal.append([hardStateRecord(2, "raft@a:1", 0)]);
      for (let i = 1; i <= 20; i++) await wal.append([entryRecord(i, 2)]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => wal.append([entryRecord(i + 21, 2)])));
      assert.ok(wal.segmentNames().length >= 2, `rotated at least once (${wal.segmentNames().length})`);
      await wal.close();
      const { wal: again, records } = await WriteAheadLog.open({ fs, dir, segmentBytes: 300 });
      assert.deepEqual(entryIndices(records), Array.from({ length: 40 }, (_, i) => i + 1));
      await again.close();

      // The file itself: plain appends and durable ones interleave at the right offsets.
      const path = join(dir, "file");
      const f = await fs.openAppend(path);
      assert.ok(f.appendDurable, "the real file system writes durably in one call");
      await f.append([new Uint8Array([1, 2])]);
      await f.appendDurable!([new Uint8Array([3]), new Uint8Array([4, 5])]);
      await f.append([new Uint8Array([6])]);
      await f.appendDurable!([new Uint8Array([7])]);
      assert.equal(f.size, 7);
      await f.close();
      assert.deepEqual([...readFileSync(path)], [1, 2, 3, 4, 5, 6, 7]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rotates segments at the size limit, each starting with the latest hard state, and deletes segments below a snapshot", async () => {
    const fs = new CrashFs();
    const segmentBytes = 200;
    const { wal } = await WriteAheadLog.open({ fs, dir: DIR, segmentBytes });
    await wal.append([hardStateRecord(3, "raft@a:1", 0)]);
    for (let i = 1; i <= 40; i++) await wal.append([entryRecord(i, 3)]);
    const names = wal.segmentNames();
    assert.ok(names.length >= 5, `expected several segments, got ${names.length}`);
    for (const seg of names.slice(1)) {
      const { records } = await WriteAheadLog.open({ fs: await onlySegment(fs, seg.file), dir: DIR });
      assert.equal(records[0]?.record.case, "hardState", `${seg.file} starts with the hard state`);
    }
    const { records } = await reopen(fs, segmentBytes);
    assert.deepEqual(entryIndices(records), Array.from({ length: 40 }, (_, i) => i + 1));

    const deleted = await wal.releaseTo(20);
    assert.ok(deleted > 0);
    const kept = wal.segmentNames();
    assert.ok(kept[0]!.firstIndex <= 21, "the segment holding entry 21 is kept");
    const after = await reopen(fs, segmentBytes);
    const indices = entryIndices(after.records);
    assert.equal(indices[indices.length - 1], 40);
    assert.ok(indices[0]! <= 21 && indices[0]! > 1, `replay starts at or below 21 (got ${indices[0]})`);
    assert.equal(after.records[0]!.record.case, "hardState");
    await wal.close();
  });

  it("refuses a torn tail in a segment that is not the last, and a missing segment", async () => {
    const fs = new CrashFs();
    const { wal } = await WriteAheadLog.open({ fs, dir: DIR, segmentBytes: 100 });
    for (let i = 1; i <= 10; i++) await wal.append([entryRecord(i)]);
    await wal.close();
    const [first, second] = wal.segmentNames();
    const path = `${DIR}/${first!.file}`;
    const bytes = fs.bytes(path);
    await assertRefused(withBytes(fs, path, bytes.slice(0, bytes.length - 3)), path, lastFrameStart(bytes), "torn middle segment");
    const missing = fs.clone();
    await missing.unlink(`${DIR}/${second!.file}`);
    await assert.rejects(reopen(missing), (e: unknown) => DcosError.is(e, Code.DATA_LOSS) && /segment missing/.test(e.message));
  });
});

/** The fs with only one segment of the log left (to read it on its own). */
async function onlySegment(fs: CrashFs, file: string): Promise<CrashFs> {
  const copy = fs.clone();
  for (const n of await copy.list(DIR)) if (n !== file) await copy.unlink(`${DIR}/${n}`);
  return copy;
}

/** Offset of the last frame of a file made of whole frames. */
function lastFrameStart(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let at = 0;
  let last = 0;
  while (at < bytes.length) {
    last = at;
    at += FRAME_HEADER_BYTES + view.getUint32(at, true);
  }
  return last;
}
