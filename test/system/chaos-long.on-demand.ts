/**
 * Chaos with real processes, long version, on demand (`npm run test:chaos-long`; the short
 * version, chaos.test.ts, is part of `npm test`): 30 long tasks, 2 short tasks a second, 8
 * CPU load workers, every fault of issue 10 twice in a seeded random order, a 20 s cut,
 * both standbys down for 15 s; several seeds, each printing its seed and its per-fault
 * recovery times as one JSON line.
 *
 *   DCOS_SEEDS=3 (runs, from a seed taken from the clock)  DCOS_SEED=n (replays seed n alone)  CHAOS_LOAD=8
 *   node --test --test-timeout=3600000 dist/test/system/chaos-long.on-demand.js
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replaySeed, seedCount } from "../support/seed.js";
import { chaosOptions, chaosRun, chaosSummary } from "./chaos-run.js";

const replay = replaySeed();
const firstSeed = Date.now() % 100_000;
const seeds = replay !== undefined ? [replay] : Array.from({ length: seedCount(3) }, (_, i) => firstSeed + i);
const load = Number(process.env.CHAOS_LOAD ?? 8);

describe(`Chaos with real processes (long version, CPU load ${load} workers)`, () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every long task keeps running as one process, every short task ends once, the framework and the master agree, writes are refused without quorum`, async () => {
      const result = await chaosRun(chaosOptions(seed, true, load, (line) => console.log(`# ${line}`)));
      console.log(chaosSummary(result));
      assert.ok(result.longTasks > 0 && result.shortTasks > 0, "the run launched tasks");
      assert.deepEqual(result.violations, [], `seed ${seed} (replay: DCOS_SEED=${seed} npm run test:chaos-long) broke invariants`);
    });
  }
});
