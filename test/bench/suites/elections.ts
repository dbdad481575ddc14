/**
 * `npm run bench -- elections [-- --load=8 --seconds=45 --rounds=2]`: leader elections with
 * no fault, on a machine made busy by a bounded CPU load generator. Three master processes
 * on loopback run idle for `seconds` per round with each Raft timing (tick / election
 * timeout): the old fixed 50 ms / 500 ms (the baseline), etcd's 100 ms / 1 s (the default),
 * and 200 ms / 2 s. Every term after the first one a master leads is an election nothing
 * but the load called for. Timings are interleaved round by round (the machine is noisy);
 * figures: spurious elections per minute per timing (sum over the rounds), and the ratio
 * to the baseline. `uptime` load goes into every figure.
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
] as const;

const LEADS = /leads at \S+ \(term (\d+)\)/;

function arg(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : fallback;
}

/** Terms led, across the masters' logs. */
function termsLed(m: MasterProcesses): Set<number> {
  const terms = new Set<number>();
  for (const p of m.processes) for (const l of p?.lines ?? []) {
    const t = LEADS.exec(l);
    if (t) terms.add(Number(t[1]));
  }
  return terms;
}

export const run: Suite = async (report, args) => {
  const load = arg(args, "load", 8);
  const seconds = arg(args, "seconds", 45);
  const rounds = arg(args, "rounds", 2);
  const spurious = new Map<string, number>(TIMINGS.map((t) => [t.name, 0]));
  const observedMs = new Map<string, number>(TIMINGS.map((t) => [t.name, 0]));
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const t of TIMINGS) {
      const dir = await mkdtemp(join(tmpdir(), "dcos-bench-elections-"));
      const m = await MasterProcesses.start(3, dir, [`--raft-tick=${t.tickMs}ms`, `--raft-election-timeout=${t.electionMs}ms`, "--log-level=info"]);
      const cpu = CpuLoad.start(load, (seconds + 120) * 1000);
      try {
        await waitFor(() => termsLed(m).size > 0, "a first leader", 120_000, 100);
        const first = termsLed(m).size;
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, seconds * 1000));
        observedMs.set(t.name, observedMs.get(t.name)! + (Date.now() - t0));
        spurious.set(t.name, spurious.get(t.name)! + (termsLed(m).size - first));
        loads.push(loadavg()[0]!);
        process.stderr.write(`round ${round + 1} ${t.name}: ${termsLed(m).size - first} elections in ${seconds} s (load ${loadavg()[0]!.toFixed(1)})\n`);
      } finally {
        await cpu.stop();
        await m.stop();
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const perMinute = (name: string) => (spurious.get(name)! * 60_000) / observedMs.get(name)!;
  const context = { loadWorkers: load, seconds, rounds, uptimeLoad: loads.map((l) => Math.round(l * 10) / 10) };
  const base = TIMINGS[0].name;
  report.figure(`spurious_elections_per_min_${base}`, perMinute(base), "elections/min", "lower", context);
  for (const t of TIMINGS.slice(1)) {
    report.figure(`spurious_elections_per_min_${t.name}`, perMinute(t.name), "elections/min", "lower", context);
    report.figure(`spurious_elections_${t.name}_vs_${base}`, perMinute(base) === 0 ? 0 : perMinute(t.name) / perMinute(base), "ratio", "lower", context);
  }
};
