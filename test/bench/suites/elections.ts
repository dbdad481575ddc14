/**
 * `npm run bench -- elections [-- --load=4 --seconds=20 --kills=3 --rounds=1]`: what a Raft
 * timing (tick / election timeout) costs and buys, for 50/500, 100/1000 (the default, etcd's),
 * 200/2000 and 300/3000 ms. Three master processes on loopback, beside a bounded CPU load
 * generator (`load` spinning processes), per timing:
 *
 * - failover: kill -9 of the leader, time until another master leads a newer term (its own
 *   log line), median over `kills` (the killed master is restarted between kills);
 * - spurious elections with no fault: terms led while the masters idle for `seconds`;
 * - stalls: the leader is stopped (SIGSTOP) for 0.25, 0.5, 1, 1.5, 2, 3, 4.5 and 6 s and
 *   resumed, a stand-in for a leader descheduled on a busy machine (the CPU load alone did
 *   not starve the masters enough to depose a leader at load ~25); an election during the
 *   stall is one no fault called for. Figure: stalls that caused an election, and the
 *   longest stall survived without one.
 *
 * Timings are interleaved round by round (the machine is noisy); the default 100/1000 is the
 * baseline of the ratios; `uptime` load goes into every figure.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Suite } from "../run.js";
import { CpuLoad } from "../../support/cpu-load.js";
import { MasterProcesses } from "../../support/master-processes.js";
import { waitFor } from "../../support/wait.js";

const TIMINGS = [
  { name: "tick50_election500", tickMs: 50, electionMs: 500 },
  { name: "tick100_election1000", tickMs: 100, electionMs: 1_000 },
  { name: "tick200_election2000", tickMs: 200, electionMs: 2_000 },
  { name: "tick300_election3000", tickMs: 300, electionMs: 3_000 },
] as const;
type Timing = (typeof TIMINGS)[number];
const BASELINE = "tick100_election1000";
const STALLS_MS = [250, 500, 1_000, 1_500, 2_000, 3_000, 4_500, 6_000] as const;

const LEADS = /leads at \S+ \(term (\d+)\)/;

function arg(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : fallback;
}

/** Terms led, across the masters' logs (the killed ones' too: kept by the caller). */
function termsLed(m: MasterProcesses, seen: Set<number>): Set<number> {
  for (const p of m.processes) {
    for (const l of p?.lines ?? []) {
      const t = LEADS.exec(l);
      if (t) seen.add(Number(t[1]));
    }
  }
  return seen;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface TimingResult {
  failoverMs: number[];
  spurious: number;
  idleMs: number;
  /** Per stall length, stalls that caused an election. */
  stallElections: Map<number, number>;
  loads: number[];
}

async function measure(t: Timing, o: { load: number; seconds: number; kills: number }, into: TimingResult): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "dcos-bench-elections-"));
  const m = await MasterProcesses.start(3, dir, [`--raft-tick=${t.tickMs}ms`, `--raft-election-timeout=${t.electionMs}ms`, "--log-level=info"]);
  const cpu = CpuLoad.start(o.load, (o.seconds + 600) * 1000);
  const terms = new Set<number>();
  const maxTerm = () => Math.max(-1, ...termsLed(m, terms));
  const settle = (term: number) => waitFor(() => maxTerm() > term, `a leader after term ${term} (${t.name})`, 120_000, 20);
  try {
    await settle(-1);
    await sleep(2 * t.electionMs);

    // No fault: the masters idle beside the load.
    let before = maxTerm();
    const t0 = Date.now();
    await sleep(o.seconds * 1000);
    into.idleMs += Date.now() - t0;
    into.spurious += termsLed(m, terms).size - [...terms].filter((x) => x <= before).length;
    into.loads.push(loadavg()[0]!);

    // Stalls of the leader.
    for (const d of STALLS_MS) {
      before = maxTerm();
      const leader = m.processes[m.leader()]!;
      process.kill(leader.pid, "SIGSTOP");
      await sleep(d);
      process.kill(leader.pid, "SIGCONT");
      await sleep(Math.max(2_000, t.electionMs));
      const elected = maxTerm() > before;
      if (elected) into.stallElections.set(d, (into.stallElections.get(d) ?? 0) + 1);
      process.stderr.write(`${t.name}: leader stalled ${d} ms: ${elected ? "election" : "no election"} (load ${loadavg()[0]!.toFixed(1)})\n`);
      await sleep(t.electionMs);
    }

    // Failover after kill -9 of the leader.
    for (let k = 0; k < o.kills; k++) {
      before = maxTerm();
      const i = m.leader();
      const t1 = Date.now();
      await m.kill9(i);
      await settle(before);
      const ms = Date.now() - t1;
      into.failoverMs.push(ms);
      into.loads.push(loadavg()[0]!);
      process.stderr.write(`${t.name}: failover after kill -9 of master ${i + 1}: ${ms} ms (load ${loadavg()[0]!.toFixed(1)})\n`);
      await m.restart(i);
      await sleep(2 * t.electionMs + 1_000);
    }
  } finally {
    await cpu.stop();
    await m.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const run: Suite = async (report, args) => {
  const o = { load: arg(args, "load", 4), seconds: arg(args, "seconds", 20), kills: arg(args, "kills", 3) };
  const rounds = arg(args, "rounds", 1);
  const results = new Map<string, TimingResult>(TIMINGS.map((t) => [t.name, { failoverMs: [], spurious: 0, idleMs: 0, stallElections: new Map(), loads: [] }]));
  for (let round = 0; round < rounds; round++) for (const t of TIMINGS) await measure(t, o, results.get(t.name)!);

  const base = results.get(BASELINE)!;
  for (const t of TIMINGS) {
    const r = results.get(t.name)!;
    const context = { loadWorkers: o.load, rounds, kills: r.failoverMs.length, failoverMs: r.failoverMs, uptimeLoad: r.loads.map((l) => Math.round(l * 10) / 10) };
    const failover = median(r.failoverMs);
    report.figure(`failover_ms_${t.name}`, failover, "ms", "lower", context);
    if (t.name !== BASELINE) report.figure(`failover_${t.name}_vs_${BASELINE}`, failover / median(base.failoverMs), "ratio", "lower", context);
    report.figure(`spurious_elections_per_min_${t.name}`, (r.spurious * 60_000) / r.idleMs, "elections/min", "lower", { ...context, idleSeconds: Math.round(r.idleMs / 1000) });
    const stalls = Object.fromEntries(STALLS_MS.map((d) => [`${d}ms`, `${r.stallElections.get(d) ?? 0}/${rounds}`]));
    const caused = STALLS_MS.reduce((n, d) => n + (r.stallElections.get(d) ?? 0), 0);
    report.figure(`stall_elections_${t.name}`, caused, `elections of ${STALLS_MS.length * rounds} stalls`, "lower", { ...context, stalls });
    const survived = STALLS_MS.filter((d) => (r.stallElections.get(d) ?? 0) === 0 && STALLS_MS.every((x) => x > d || (r.stallElections.get(x) ?? 0) === 0));
    report.figure(`longest_stall_without_election_ms_${t.name}`, survived.at(-1) ?? 0, "ms", "higher", { ...context, stalls });
  }
};
