/**
 * Seeded randomized fault simulation (see fault-run.ts): after every run, no task launched
 * twice, every task that ended reached its scheduler in a terminal state (and every
 * running one as RUNNING), at most one master acted per term, and what the registry
 * acknowledged (admitted agents, subscribed frameworks) is still there. Every seed runs in
 * both ways of running command tasks: by the agent itself (the default; there also every
 * end a framework heard is how the command really ended) and by executor processes.
 *
 *   DCOS_SEEDS=n  runs seeds 1..n (default 100)    DCOS_SEED=n  replays seed n alone
 *   FT_ACTIONS=n random actions per run (default 12)
 * and one seed run twice must give the same trace (actions, times, container ids, the
 * status updates each framework heard with their uuids).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import { faultRun } from "./fault-run.js";
import { replaySeed, seedCount } from "../support/seed.js";

const replay = replaySeed();
const count = seedCount(100);
const actions = Number(process.env.FT_ACTIONS ?? 12);
const seeds = replay !== undefined ? [replay] : Array.from({ length: count }, (_, i) => i + 1);

const MODES: CommandExecutorMode[] = ["agent", "process"];

describe("randomized fault simulation (SimNetwork, ManualClock, real masters and agents)", () => {
  for (const mode of MODES) {
    it(`${seeds.length} seeded run(s) keep the invariants, command tasks run by ${mode === "agent" ? "the agent (default)" : "executor processes"}`, async () => {
      let tasks = 0;
      const failures: string[] = [];
      for (const seed of seeds) {
        const result = await faultRun(seed, { actions, commandExecutor: mode });
        tasks += result.tasks;
        if (result.violations.length === 0) continue;
        const replayCommand = `DCOS_SEED=${seed} node --test --test-reporter=spec dist/test/simulation/fault-sim.test.js`;
        const detail = replay !== undefined ? `\ntrace:\n  ${result.trace.join("\n  ")}` : "";
        failures.push(`seed ${seed} (${mode}) broke invariants:\n  ${result.violations.join("\n  ")}${detail}\nreplay (with its trace): ${replayCommand}`);
      }
      assert.deepEqual(failures, [], `${failures.length} of ${seeds.length} seeds failed:\n${failures.join("\n")}`);
      assert.ok(tasks > 0, "the runs launched tasks");
    });
  }

  it("replays a seed identically: the same seed gives the same trace, ids and status uuids included", async () => {
    // Seed 3 runs three replicated masters (seed % 3 === 0), so Raft's randomness is in it too.
    const seed = replay ?? 3;
    for (const mode of MODES) {
      const first = await faultRun(seed, { actions, commandExecutor: mode });
      const second = await faultRun(seed, { actions, commandExecutor: mode });
      assert.ok(first.trace.some((l) => / heard: \S/.test(l)), `the trace records status updates (seed ${seed}, ${mode})`);
      assert.deepEqual(second.trace, first.trace, `seed ${seed} (${mode}) did not replay: DCOS_SEED=${seed} node --test dist/test/simulation/fault-sim.test.js`);
    }
  });
});
