/**
 * Chaos with real processes in network namespaces (chaos-run.ts), short version, part of
 * `npm test`: three masters, three agents, a framework keeping a ledger of every status
 * update, 9 long tasks and a short task a second, 2 CPU load workers, and the fault
 * sequence of issue 10 once (kill -9 of the leader, an 8 s cut of an agent, kill -9 and
 * restart of an agent, of the framework, both standbys down for 6 s, the leader again).
 * Cluster id 20. The long version is chaos-long.on-demand.ts (`npm run test:chaos-long`).
 *
 *   DCOS_SEED=n (default 1)  CHAOS_LOAD=workers (default 2)  CHAOS_LOGS=dir  npm run test:chaos
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testSeed } from "../support/seed.js";
import { chaosOptions, chaosRun, chaosSummary } from "./chaos-run.js";

const seed = testSeed(1);
const load = Number(process.env.CHAOS_LOAD ?? 2);

describe(`Chaos with real processes (short version, CPU load ${load} workers)`, () => {
  // About 4 minutes on a loaded 2-core machine (starting node processes dominates): more than the suite's 5-minute default leaves.
  it(`seed ${seed}: every long task keeps running as one process, every short task ends once, the framework and the master agree, writes are refused without quorum`, { timeout: 12 * 60_000 }, async () => {
    const result = await chaosRun(chaosOptions(seed, false, load, (line) => console.log(`# ${line}`)));
    console.log(chaosSummary(result));
    assert.ok(result.longTasks > 0 && result.shortTasks > 0, "the run launched tasks");
    assert.deepEqual(result.violations, [], `seed ${seed} (replay: DCOS_SEED=${seed} npm run test:chaos) broke invariants`);
  });
});
