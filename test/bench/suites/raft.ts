/**
 * `npm run bench -- raft`: three Raft members in separate processes on loopback (gRPC
 * transport, WAL with real fdatasync, default timeouts), measured in one run:
 * - the disk's own rate of 100-byte write + fdatasync, the floor a one-entry-per-sync log would get;
 * - committed entries/s of 100-byte entries with group commit (closed loop, `--window`
 *   proposals in flight at the leader, default 4096; the median of `--trials` runs of
 *   `--seconds`, defaults 3 and 3; target >= 20,000), and the CPU all members spend per entry;
 * - commit latency p50/p99 at a moderate paced load (`--rate` proposals/s, default 1000; target p50 <= 2 ms),
 *   measured first, after a 1 s paced warm-up;
 * - time from kill -9 of the leader to a new leader accepting a write (median and max of
 *   `--kills` kills, default `--trials`; the killed member is restarted in between; target <= 1.5 s).
 * Proposals are made in the leader's process (the clients sit with the leader), so the
 * figures are of the replication, not of a client protocol. The fdatasync floor is taken
 * in the same run, on the file system the members write to; on a shared host, look at the
 * load average and run it several times.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcessCluster, type MemberProcess } from "../../support/raft-processes.js";
import { waitFor } from "../../support/wait.js";
import { median, percentile, type Reporter } from "../report.js";

const ENTRY_BYTES = 100;

export async function run(report: Reporter, args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const trials = opt("trials", 3);
  const window = opt("window", 4096);
  const seconds = opt("seconds", 3);
  const rate = opt("rate", 1000);
  const kills = opt("kills", trials);

  const root = mkdtempSync(join(tmpdir(), "raft-bench-"));
  const floor = fdatasyncRate(root, 1000);
  const cluster = await ProcessCluster.start(3, "count", root);
  try {
    // Latency at a moderate load first, on a warmed-up cluster that has not yet absorbed the
    // throughput trials' hundreds of thousands of entries (their garbage and log would be
    // measured instead: paced after them doubles p50 and p99 here).
    await onLeader(cluster, (l) => l.call({ cmd: "paced", durationMs: 1000, perSecond: rate, size: ENTRY_BYTES }));
    const latencies = await onLeader(cluster, (l) => l.call<number[]>({ cmd: "paced", durationMs: seconds * 1000, perSecond: rate, size: ENTRY_BYTES }));
    report.figure("commit_latency_p50_ms", percentile(latencies, 50), "ms", "lower", { per_second: rate, samples: latencies.length });
    report.figure("commit_latency_p99_ms", percentile(latencies, 99), "ms", "lower", { per_second: rate, samples: latencies.length });

    await onLeader(cluster, (leader) => leader.call({ cmd: "load", durationMs: 1500, window, size: ENTRY_BYTES }));

    const rates: number[] = [];
    const cpuPerEntry: number[] = [];
    let leader: MemberProcess | undefined;
    for (let t = 0; t < trials; t++) {
      await onLeader(cluster, async (l) => {
        const cpuBefore = await cpuMicros(cluster);
        const r = await l.call<{ perSecond: number; done: number }>({ cmd: "load", durationMs: seconds * 1000, window, size: ENTRY_BYTES });
        rates.push(r.perSecond);
        cpuPerEntry.push(((await cpuMicros(cluster)) - cpuBefore) / r.done);
        leader = l;
      });
    }
    log(`throughput trials: ${rates.map((r) => Math.round(r)).join(", ")} entries/s`);
    for (const m of cluster.alive()) log(`${m === leader ? "leader" : "follower"} ${m.address}: ${walFigures(await m.call<Record<string, number>>({ cmd: "metrics" }))}`);
    report.compare("committed_entries_per_s", median(rates), "fdatasync_per_s", floor, "op/s", "higher");
    // The CPU all three members spend per committed entry is steadier than the rate on a
    // shared machine; two cores' worth of it is what an otherwise idle 2-core host could commit.
    report.figure("cpu_us_per_entry", median(cpuPerEntry), "us", "lower", { members: 3, window });
    report.figure("cpu_bound_entries_per_s_2_cores", 2e6 / median(cpuPerEntry), "op/s", "higher");


    const failovers: number[] = [];
    for (let t = 0; t < kills; t++) failovers.push(await failover(cluster));
    if (kills > 0) {
      log(`failover trials: ${failovers.map((f) => Math.round(f)).join(", ")} ms`);
      report.figure("failover_ms", median(failovers), "ms", "lower", { trials: kills, max: Math.round(Math.max(...failovers)) });
    }
  } finally {
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Runs a measurement on the current leader; if leadership moves meanwhile (an election in
 * the first seconds of a cluster on a busy host), says so and runs it again on the new one.
 */
async function onLeader<T>(cluster: ProcessCluster, measure: (leader: MemberProcess) => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    const leader = await cluster.leader(15_000);
    try {
      return await measure(leader);
    } catch (e) {
      if (i >= attempts) throw e;
      log(`measurement on ${leader.address} interrupted (${(e as Error).message}); again on the current leader`);
    }
  }
}

/** Kills the leader, then measures until one of the others applies a write; restarts the killed member. */
async function failover(cluster: ProcessCluster): Promise<number> {
  const leader = await cluster.leader(15_000);
  await Promise.all(cluster.alive().map((m) => m.call({ cmd: "tryWrite" }).catch(() => undefined)));
  const others = cluster.alive().filter((m) => m !== leader);
  const started = performance.now();
  await leader.kill9();
  await waitFor(() => firstWrite(others), "a new leader to accept a write", 15_000, 5);
  const ms = performance.now() - started;
  await leader.start();
  await waitFor(async () => (await leader.status()).applied >= (await (await cluster.leader()).status()).commit, "the restarted member to catch up", 30_000);
  return ms;
}

/** CPU time (user + system) used so far by all live members, in microseconds. */
async function cpuMicros(cluster: ProcessCluster): Promise<number> {
  const each = await Promise.all(cluster.alive().map((m) => m.call<number>({ cmd: "cpu" })));
  return each.reduce((a, b) => a + b, 0);
}

/** True once any member accepts and applies a write. */
async function firstWrite(members: MemberProcess[]): Promise<boolean> {
  const results = await Promise.all(members.map((m) => m.call({ cmd: "tryWrite" }).then(() => true, () => false)));
  return results.some((r) => r);
}

/** 100-byte write + fdatasync per operation, for ms milliseconds, on the file system of dir. */
function fdatasyncRate(dir: string, ms: number): number {
  const path = join(dir, "fdatasync-probe");
  const fd = openSync(path, "w");
  const buf = Buffer.alloc(ENTRY_BYTES, 1);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    writeSync(fd, buf);
    fdatasyncSync(fd);
    n++;
  }
  const rate = n / ((performance.now() - start) / 1000);
  closeSync(fd);
  rmSync(path);
  return rate;
}

/** The WAL's own view: fsyncs, records per fsync, time of one write + fsync. */
function walFigures(metrics: Record<string, number>): string {
  const keys = ["raft/wal_fsyncs", "raft/wal_batch_records/p50", "raft/wal_batch_records/p99", "raft/wal_fsync_ms/p50", "raft/wal_fsync_ms/p99"];
  return keys.map((k) => `${k.replace("raft/wal_", "")}=${Math.round((metrics[k] ?? NaN) * 100) / 100}`).join(" ");
}

function log(line: string): void {
  process.stderr.write(`raft bench: ${line}\n`);
}
