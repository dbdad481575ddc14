/**
 * Chaos with real processes in network namespaces (chaos-run.ts): three masters, three
 * agents, a framework keeping a ledger of every status update, a bounded CPU load, and the
 * fault sequence of issue 10. Both versions run on demand (`npm run test:chaos` for the short
 * one), not in `npm test`, until the reregistration race in docs/fault-tolerance.md is fixed:
 *
 *   CHAOS_LONG=1 [DCOS_SEEDS=3] [DCOS_SEED=n] [CHAOS_LOAD=8] node --test --test-timeout=3600000 dist/test/system/chaos.on-demand.js
 *
 * (more long tasks, every fault twice in a random order per seed; each run prints its seed
 * and its per-fault recovery times as one JSON line).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAULTS, chaosRun, type ChaosOptions, type Fault } from "./chaos-run.js";
import { Random } from "../../src/runtime/random.js";
import { seedCount, testSeed } from "../support/seed.js";

const LONG = process.env.CHAOS_LONG === "1";
const firstSeed = testSeed(LONG ? Date.now() % 100_000 : 1);
const seeds = LONG ? Array.from({ length: seedCount(3) }, (_, i) => firstSeed + i) : [firstSeed];
const load = Number(process.env.CHAOS_LOAD ?? (LONG ? 8 : 2));

function options(seed: number): ChaosOptions {
  const r = new Random(seed * 31 + 7);
  const faults: Fault[] = LONG ? shuffle([...FAULTS, ...FAULTS], r) : [...FAULTS];
  return {
    clusterId: Number(process.env.CHAOS_CLUSTER ?? 20),
    seed,
    faults,
    longTasks: LONG ? 30 : 9,
    shortPerSecond: LONG ? 2 : 1,
    loadWorkers: load,
    // The cut is longer than the agent's own watchdog (5 silent pings: it looks for the master
    // again) and shorter than the masters' (maxPings): the leader never notices it.
    pingIntervalMs: 2_000,
    maxPings: LONG ? 15 : 12,
    cutMs: LONG ? 20_000 : 15_000,
    standbysDownMs: LONG ? 15_000 : 6_000,
    recoverWithinMs: 90_000,
    log: (line) => console.log(`# ${line}`),
  };
}

function shuffle<T>(xs: T[], r: Random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

describe(`Chaos with real processes (${LONG ? "long" : "short"} version, CPU load ${load} workers)`, () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every long task keeps running as one process, every short task ends once, the framework and the master agree, writes are refused without quorum`, async () => {
      const result = await chaosRun(options(seed));
      console.log(JSON.stringify({ chaos: seed, load: result.loadWorkers, recoveryMs: Object.fromEntries(result.faults.map((x, i) => [`${i + 1}:${x.fault}`, x.recoveryMs])), longTasks: result.longTasks, shortTasks: result.shortTasks, unknownToMaster: result.unknownToMaster, neverLaunched: result.neverLaunched, violations: result.violations.length }));
      assert.ok(result.longTasks > 0 && result.shortTasks > 0, "the run launched tasks");
      assert.deepEqual(result.violations, [], `seed ${seed} (replay: DCOS_SEED=${seed}${LONG ? " CHAOS_LONG=1" : ""}) broke invariants`);
    });
  }
});
