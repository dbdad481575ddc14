/**
 * `npm run bench -- raft`: three Raft members in separate processes on loopback (gRPC
 * transport, WAL with real fdatasync), measured in one run:
 * - the disk's own rate of 100-byte write + fdatasync, the floor a one-entry-per-sync log would get;
 * - commit latency p50/p99 of 100-byte entries at a paced rate (`--rate` proposals/s,
 *   default 1000; target p50 <= 2 ms), each after a 1 s paced warm-up, `--rounds` rounds
 *   (default 2) of `--seconds` (default 3) interleaving three measurements on the same
 *   machine in the same window:
 *   - ours, proposals made inside the leader's process (the replication alone);
 *   - ours through a client hop: the ReplicatedLogClient in the bench process appends one
 *     100-byte record per append() to the leader's ReplicatedLogService (the frameworks'
 *     API), as frameworks use it: appends made while 2 calls run go out together in one
 *     Append call (`commit_latency_client_*`);
 *   - the same client making one Append call per record, as etcd3 makes one put per call
 *     (`commit_latency_client_per_call_*`);
 *   - the baseline, etcd (Debian's etcd-server 3.4, three members on loopback started by
 *     the bench, data under the same temp directory): a 100-byte put per call from a gRPC
 *     client (npm etcd3) in the bench process, to the leader;
 *   and their ratios ours/etcd; the CPU the servers spend per operation (our three
 *   members' or etcd's three), steadier than latency on a shared machine, and the gRPC
 *   clients' own; failed calls are counted (`failed`), not retried; once on the machine as
 *   it is ("quiet") and once with `--busy` extra CPU-spinning processes (default 2, on top
 *   of whatever else runs: figures suffixed `_busy`); the 1-minute load average is in every
 *   latency figure;
 * - committed entries/s of 100-byte entries with group commit (closed loop, `--window`
 *   proposals in flight at the leader, default 4096; the median of `--trials` runs of
 *   `--seconds`, default 3 trials; target >= 20,000), and the CPU all members spend per entry;
 * - time from kill -9 of the leader to a new leader accepting a write (median and max of
 *   `--kills` kills, default `--trials`; the killed member is restarted in between; target <= 1.5 s).
 * Latency is taken on a fresh cluster (machine "logs": the frameworks' replicated logs) at
 * the masters' Raft timing (100 ms heartbeats, elections after 1-2 s: etcd's defaults too;
 * the leader changes members saw are in each figure, `leader_changes`),
 * throughput and failover on another one (machine "count", RaftNode's own timing: 50 ms
 * ticks, elections after 0.5-1 s, as in earlier runs of this bench): paced after the throughput
 * trials' hundreds of thousands of entries, their garbage and log would be measured instead.
 * `--trace=N` first traces one commit's timeline at N proposals/s in the leader (every
 * member marks each step, RaftNodeOptions.trace; test/bench/raft-timeline.ts): each step's
 * p50 / p90 on stderr and as figures `commit_step_<n>_ms` (the step in `step`).
 * `--only=inLeader,client,clientPerCall,etcd` picks latency measurements, `--throughput=0`
 * skips throughput and failover, `--busy=0` the busy phase. For each measurement the
 * worst round's event-loop delay and GC pauses in the leader's process and in the
 * clients' (this) process are printed on stderr (where a tail comes from), and failed
 * calls are counted by status code (`failed_codes`).
 * On a shared host, look at the load average and run it several times. Profile a member
 * with RAFT_MEMBER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ReplicatedLogClient } from "../../../src/raft/log-client.js";
import { RAFT_TIMING_DEFAULTS } from "../../../src/raft/timing.js";
import { Code } from "../../../src/runtime/error.js";
import { CpuLoad } from "../../support/cpu-load.js";
import { LoopProbe, type LoopStalls } from "../../support/loop-probe.js";
import { pacedLatencies } from "../../support/paced.js";
import { BENCH_LOG, ProcessCluster, type MemberProcess } from "../../support/raft-processes.js";
import { waitFor } from "../../support/wait.js";
import { EtcdCluster, etcdClient } from "../etcd-cluster.js";
import { commitTimeline } from "../raft-timeline.js";
import type { TraceMarks } from "../../support/raft-member.js";
import { median, percentile, type Reporter } from "../report.js";

const ENTRY_BYTES = 100;

interface Options {
  trials: number;
  window: number;
  seconds: number;
  rate: number;
  kills: number;
  rounds: number;
  busy: number;
  /** Which latency measurements to run (default all three). */
  only: Set<string>;
  /** Run throughput and failover after latency (default 1; --throughput=0 skips them). */
  throughput: boolean;
  /** Proposals/s of the traced phase (one commit's timeline, before the latency phases); 0 = none (default). */
  trace: number;
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const trials = opt("trials", 3);
  const o: Options = { trials, window: opt("window", 4096), seconds: opt("seconds", 3), rate: opt("rate", 1000), kills: opt("kills", trials), rounds: opt("rounds", 2), busy: opt("busy", 2),
    only: new Set((args.find((a) => a.startsWith("--only="))?.slice("--only=".length) ?? "inLeader,client,clientPerCall,etcd").split(",")),
    throughput: opt("throughput", 1) !== 0,
    trace: opt("trace", 0),
  };

  const root = mkdtempSync(join(tmpdir(), "raft-bench-"));
  try {
    const floor = fdatasyncRate(root, 1000);
    await latency(report, o, root);
    if (o.throughput) await throughputAndFailover(report, o, root, floor);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Commit latency at a paced rate: ours in the leader, ours through a gRPC client, etcd through a gRPC client. */
async function latency(report: Reporter, o: Options, root: string): Promise<void> {
  // The masters' Raft timing (100 ms heartbeats, elections after 1-2 s), which is also etcd's default.
  const cluster = await ProcessCluster.start(3, "logs", join(root, "ours"), { ...RAFT_TIMING_DEFAULTS });
  let etcd: EtcdCluster | undefined;
  try {
    etcd = await EtcdCluster.start(3, join(root, "etcd"));
    if (o.trace > 0) await tracePhase(report, o, cluster);
    for (const busy of o.busy > 0 ? [0, o.busy] : [0]) {
      const load = busy > 0 ? CpuLoad.start(busy, 10 * 60_000) : undefined;
      try {
        await latencyPhase(report, o, cluster, etcd, busy > 0 ? "_busy" : "", busy);
      } finally {
        await load?.stop();
      }
    }
  } finally {
    await etcd?.stop();
    await cluster.stop();
  }
}

async function latencyPhase(report: Reporter, o: Options, cluster: ProcessCluster, etcd: EtcdCluster, suffix: string, busy: number): Promise<void> {
  const leader = await cluster.leader(15_000);
  // No retries within the measurement: a call that fails is counted, not sent again.
  const ours = new ReplicatedLogClient({ masters: [leader.address], principal: BENCH_LOG.principal, timeoutMs: 30_000, attemptTimeoutMs: 30_000 });
  // The same client making one Append call per record, as etcd3 makes one put per call.
  const oursPerCall = new ReplicatedLogClient({ masters: [leader.address], principal: BENCH_LOG.principal, timeoutMs: 30_000, attemptTimeoutMs: 30_000, appendsInFlight: 0 });
  const theirs = await etcdClient([await etcd.leader(15_000)]);
  const record = new Uint8Array(ENTRY_BYTES).fill(7);
  const failed = { inLeader: 0, client: 0, clientPerCall: 0, etcd: 0 };
  // Why calls failed: gRPC status code names, counted per kind.
  const codes = { inLeader: new Map<string, number>(), client: new Map<string, number>(), clientPerCall: new Map<string, number>(), etcd: new Map<string, number>() };
  const failure = (kind: keyof typeof failed) => (e: unknown) => {
    failed[kind]++;
    const code = (e as { code?: unknown }).code;
    const name = typeof code === "number" ? (Code[code] ?? String(code)) : String(code ?? (e as Error).name);
    codes[kind].set(name, (codes[kind].get(name) ?? 0) + 1);
  };
  const kinds = {
    inLeader: (ms: number) => onLeader(cluster, (l) => l.call<number[]>({ cmd: "paced", durationMs: ms, perSecond: o.rate, size: ENTRY_BYTES })),
    client: (ms: number) => pacedLatencies(ms, o.rate, () => ours.append(BENCH_LOG.name, [record]), failure("client")),
    clientPerCall: (ms: number) => pacedLatencies(ms, o.rate, () => oursPerCall.append(BENCH_LOG.name, [record]), failure("clientPerCall")),
    etcd: (ms: number) => pacedLatencies(ms, o.rate, (i) => theirs.put(`bench/${i % 1000}`).value(Buffer.from(record)).exec(), failure("etcd")),
  };
  const chosen = (["inLeader", "client", "clientPerCall", "etcd"] as const).filter((k) => o.only.has(k));
  // CPU the servers spend (our three members, or etcd's three), not the clients.
  const serverCpu = { inLeader: () => cpuMicros(cluster), client: () => cpuMicros(cluster), clientPerCall: () => cpuMicros(cluster), etcd: async () => etcd.cpuMicros() };
  const samples = { inLeader: [] as number[], client: [] as number[], clientPerCall: [] as number[], etcd: [] as number[] };
  const cpu = { inLeader: 0, client: 0, clientPerCall: 0, etcd: 0 };
  const clientCpu = { inLeader: 0, client: 0, clientPerCall: 0, etcd: 0 };
  // Event-loop delay and GC pauses in the leader's process and in this (the clients') process.
  const stalls = { inLeader: [] as LoopStalls[], client: [] as LoopStalls[], clientPerCall: [] as LoopStalls[], etcd: [] as LoopStalls[] };
  // Leader changes the members saw during each kind's rounds (a leader too busy to heartbeat loses its term).
  const changes = { inLeader: 0, client: 0, clientPerCall: 0, etcd: 0 };
  const loads: number[] = [];
  try {
    for (const kind of chosen) await kinds[kind](1000); // warm-up: connections, JIT
    for (const k of chosen) {
      failed[k] = 0;
      codes[k].clear();
    }
    for (let r = 0; r < o.rounds; r++) {
      for (const kind of chosen) {
        loads.push(loadavg()[0]!);
        const before = await serverCpu[kind]();
        const changesBefore = kind === "etcd" ? 0 : await leaderChanges(cluster);
        const own = process.cpuUsage();
        const here = LoopProbe.start();
        const there = kind === "etcd" ? undefined : await leader.call({ cmd: "probeStart" }).then(() => leader);
        samples[kind].push(...(await kinds[kind](o.seconds * 1000)));
        const used = process.cpuUsage(own);
        stalls[kind].push({ ...(there ? await there.call<LoopStalls>({ cmd: "probeStop" }) : {}), ...prefixed("client_", here.stop()), ...(there ? await fsyncTimes(cluster, there) : {}) } as LoopStalls);
        clientCpu[kind] += used.user + used.system;
        cpu[kind] += (await serverCpu[kind]()) - before;
        if (kind !== "etcd") changes[kind] += (await leaderChanges(cluster)) - changesBefore;
      }
    }
  } finally {
    ours.close();
    oursPerCall.close();
    theirs.close();
  }
  const extra = { per_second: o.rate, entry_bytes: ENTRY_BYTES, load1: Math.round(median(loads) * 10) / 10, extra_spinners: busy };
  const described = {
    inLeader: { name: "commit_latency", client: "in the leader's process" },
    client: { name: "commit_latency_client", client: "ReplicatedLogClient (gRPC), appends coalesced while 2 calls run" },
    clientPerCall: { name: "commit_latency_client_per_call", client: "ReplicatedLogClient (gRPC), one Append call per record" },
    etcd: { name: "etcd_put", client: "etcd3 (gRPC)" },
  };
  for (const q of [50, 99]) {
    for (const kind of chosen) {
      report.figure(`${described[kind].name}_p${q}_ms${suffix}`, percentile(samples[kind], q), "ms", "lower", {
        ...extra,
        samples: samples[kind].length,
        failed: failed[kind],
        ...(kind === "etcd" ? {} : { leader_changes: changes[kind] }),
        ...(codes[kind].size > 0 ? { failed_codes: Object.fromEntries(codes[kind]) } : {}),
        client: described[kind].client,
      });
    }
    if (!o.only.has("etcd")) continue;
    const base = percentile(samples.etcd, q);
    for (const kind of chosen.filter((k) => k !== "etcd")) {
      report.figure(`${described[kind].name}_p${q}_vs_etcd${suffix}`, percentile(samples[kind], q) / base, "ratio", "lower", extra);
    }
  }
  for (const kind of chosen) {
    report.figure(`${described[kind].name}_server_cpu_us_per_op${suffix}`, cpu[kind] / Math.max(1, samples[kind].length), "us", "lower", { ...extra, members: 3 });
  }
  // The gRPC clients' own CPU (in this process; for the in-leader case the proposals' cost is in the server figure).
  for (const kind of chosen.filter((k) => k !== "inLeader")) {
    report.figure(`${described[kind].name}_client_cpu_us_per_op${suffix}`, clientCpu[kind] / Math.max(1, samples[kind].length), "us", "lower", extra);
  }
  // Where a tail can come from: the worst event-loop stall and GC in the leader (ours) and in the clients' process, per kind (worst round).
  for (const kind of chosen) {
    const worst: Record<string, number> = {};
    for (const s of stalls[kind]) for (const [k, v] of Object.entries(s)) worst[k] = Math.max(worst[k] ?? 0, v);
    log(`${described[kind].name}${suffix} stalls (worst round, ms): ${Object.entries(worst).map(([k, v]) => `${k}=${Math.round(v * 10) / 10}`).join(" ")}`);
  }
}

/**
 * One commit's timeline: proposals in the leader at `--trace` per second (low: one entry
 * per message), every member marking each step (RaftNodeOptions.trace); prints each step's
 * p50 / p90 and reports the p50s as figures `commit_step_<n>_ms` (the step named in `step`).
 */
async function tracePhase(report: Reporter, o: Options, cluster: ProcessCluster): Promise<void> {
  await onLeader(cluster, (l) => l.call<number[]>({ cmd: "paced", durationMs: 1000, perSecond: o.trace, size: ENTRY_BYTES })); // warm-up
  const leader = await cluster.leader(15_000);
  const members = cluster.alive();
  await Promise.all(members.map((m) => m.call({ cmd: "traceStart" })));
  const load1 = loadavg()[0]!;
  const latencies = await leader.call<number[]>({ cmd: "paced", durationMs: o.seconds * 1000 * o.rounds, perSecond: o.trace, size: ENTRY_BYTES });
  const marks = await Promise.all(members.map((m) => m.call<TraceMarks>({ cmd: "traceStop" })));
  const steps = commitTimeline(marks[members.indexOf(leader)]!, marks.filter((_, i) => members[i] !== leader));
  const extra = { per_second: o.trace, entry_bytes: ENTRY_BYTES, load1: Math.round(load1 * 10) / 10 };
  log(`commit timeline at ${o.trace}/s (load ${extra.load1}), ms p50 / p90 (n):`);
  steps.forEach((s, i) => {
    log(`  ${s.step}: ${s.p50.toFixed(3)} / ${s.p90.toFixed(3)} (${s.n})`);
    report.figure(`commit_step_${i}_ms`, s.p50, "ms", "lower", { ...extra, step: s.step, p90: Math.round(s.p90 * 1000) / 1000, samples: s.n });
  });
  report.figure("commit_latency_traced_p50_ms", percentile(latencies, 50), "ms", "lower", { ...extra, samples: latencies.length, p99: percentile(latencies, 99) });
}

/** The WAL's write + fdatasync times (its last 1,000) on the leader and the slower follower, and the leader's snapshots, ms. */
async function fsyncTimes(cluster: ProcessCluster, leader: MemberProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of cluster.alive()) {
    const metrics = await m.call<Record<string, number>>({ cmd: "metrics" });
    const who = m === leader ? "leader_fsync_" : "follower_fsync_";
    for (const q of ["p50", "p99", "max"]) out[who + q] = Math.max(out[who + q] ?? 0, metrics[`raft/wal_fsync_ms/${q}`] ?? 0);
    // Snapshots the member took so far, and the longest time one held up its loop.
    if (m === leader) Object.assign(out, { leader_snapshots: metrics["raft/snapshot_ms/count"] ?? 0, leader_snapshot_max: metrics["raft/snapshot_ms/max"] ?? 0 });
  }
  return out;
}

function prefixed(prefix: string, o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v as number]));
}

/** Committed entries/s with group commit, CPU per entry, and failover, on a cluster of its own. */
async function throughputAndFailover(report: Reporter, o: Options, root: string, floor: number): Promise<void> {
  const { trials, window, seconds, kills } = o;
  const cluster = await ProcessCluster.start(3, "count", join(root, "count"));
  try {
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
  }
}

/**
 * Runs a measurement on the current leader; if leadership moves meanwhile (an election in
 * the first seconds of a cluster on a busy host), says so and runs it again on the new one.
 */
async function onLeader<T>(cluster: ProcessCluster, measure: (leader: MemberProcess) => Promise<T>, attempts = 5): Promise<T> {
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

/** Changes of the known leader counted so far by all live members (raft/leader_changes). */
async function leaderChanges(cluster: ProcessCluster): Promise<number> {
  const each = await Promise.all(cluster.alive().map((m) => m.call<Record<string, number>>({ cmd: "metrics" }).then((x) => x["raft/leader_changes"] ?? 0)));
  return each.reduce((a, b) => a + b, 0);
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
