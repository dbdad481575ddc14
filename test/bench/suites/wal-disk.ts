/**
 * `npm run bench -- wal-disk [-- --rate=1000 --seconds=3 --writers=3]`: what the disk under
 * the Raft WAL costs, apart from the members (src/raft/README.md, "The 2-ms goal"):
 * - one 100-byte O_DSYNC write at a time (what `appendDurable` does per batch), appending to
 *   a file and overwriting a zero-filled, synced one (no journal commit for the size), with
 *   one writer and with `--writers` at once (the three members of a group on one disk);
 * - a follower's WAL at `--rate` records/s (group commit: whatever arrived while a write ran
 *   goes in the next one), `--writers` of them at once, with one write in flight and with
 *   two (pipelined, at explicit offsets): arrival → durable p50/p99.
 * Figures in ms with the load; everything runs in this process through libuv's thread pool,
 * as the members' writes do.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, fdatasyncSync, constants, writev } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { percentile, type Reporter } from "../report.js";
import type { Suite } from "../run.js";

const pwritev = promisify(writev);
const RECORD = Buffer.alloc(100, 7);
const ZEROED_BYTES = 16 << 20;

function openFile(dir: string, name: string, zeroed: boolean): number {
  const path = join(dir, name);
  const fd = openSync(path, "w");
  if (zeroed) {
    const mib = Buffer.alloc(1 << 20);
    for (let i = 0; i < ZEROED_BYTES / mib.length; i++) writeSync(fd, mib);
    fdatasyncSync(fd);
  }
  closeSync(fd);
  return openSync(path, constants.O_WRONLY | constants.O_DSYNC);
}

/** n writes of one record, one at a time; each write's time. */
async function oneAtATime(fd: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0, pos = 0; i < n; i++, pos += RECORD.length) {
    const t = performance.now();
    await pwritev(fd, [RECORD], pos);
    out.push(performance.now() - t);
  }
  return out;
}

/** A follower's WAL: records arrive at `rate`/s; at most `inflight` writes at once; each record's arrival → durable (with every earlier one). */
async function follower(fd: number, rate: number, ms: number, inflight: number): Promise<number[]> {
  const lat: number[] = [];
  let queue: number[] = [];
  let pos = 0;
  let running = 0;
  const writes: { arrivals: number[]; done: boolean }[] = [];
  const pump = () => {
    while (running < inflight && queue.length > 0) {
      const w = { arrivals: queue, done: false };
      queue = [];
      const at = pos;
      pos += w.arrivals.length * RECORD.length;
      running++;
      writes.push(w);
      void pwritev(fd, w.arrivals.map(() => RECORD), at).then(() => {
        running--;
        w.done = true;
        const now = performance.now();
        while (writes.length > 0 && writes[0]!.done) for (const a of writes.shift()!.arrivals) lat.push(now - a);
        pump();
      });
    }
  };
  const start = performance.now();
  let next = start;
  while (performance.now() - start < ms) {
    const now = performance.now();
    for (; next <= now; next += 1000 / rate) queue.push(now);
    pump();
    await new Promise((r) => setTimeout(r, 0));
  }
  while (running > 0 || queue.length > 0) {
    pump();
    await new Promise((r) => setTimeout(r, 2));
  }
  return lat;
}

export const run: Suite = async (report: Reporter, args: string[]) => {
  const arg = (name: string, d: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
  const rate = arg("rate", 1000);
  const ms = arg("seconds", 3) * 1000;
  const writers = arg("writers", 3);
  const dir = mkdtempSync(join(tmpdir(), "wal-disk-"));
  const fds: number[] = [];
  const fresh = (zeroed: boolean, tag: string) => {
    const fd = openFile(dir, `${tag}-${fds.length}`, zeroed);
    fds.push(fd);
    return fd;
  };
  try {
    for (const zeroed of [false, true]) {
      const kind = zeroed ? "overwrite" : "append";
      for (const n of [1, writers]) {
        const load1 = loadavg()[0]!;
        const runs = await Promise.all(Array.from({ length: n }, (_, i) => oneAtATime(fresh(zeroed, `${kind}${i}`), 1500)));
        const all = runs.flat();
        for (const q of [50, 99]) report.figure(`dsync_write_${kind}_p${q}_ms_${n}_writers`, percentile(all, q), "ms", "lower", { bytes: RECORD.length, writers: n, samples: all.length, load1 });
      }
      for (const inflight of [1, 2]) {
        const load1 = loadavg()[0]!;
        const runs = await Promise.all(Array.from({ length: writers }, (_, i) => follower(fresh(zeroed, `f${inflight}${i}`), rate, ms, inflight)));
        const all = runs.flat();
        for (const q of [50, 99]) report.figure(`follower_wal_${kind}_inflight${inflight}_p${q}_ms`, percentile(all, q), "ms", "lower", { rate, writers, samples: all.length, load1 });
      }
    }
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
};
