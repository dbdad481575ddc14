import type { Simulation, SimOptions } from "./simulation.js";
import { replaySeed, seedCount } from "../../support/seed.js";

/** The seeds to run: DCOS_SEED=n replays one, DCOS_SEEDS=n runs n (default: the CI count). */
export function seeds(ciCount: number): number[] {
  const replay = replaySeed();
  if (replay !== undefined) return [replay];
  const n = seedCount(ciCount);
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Runs one seed; a failure names the seed and how to replay it. */
export function runSeed(options: SimOptions, makeSim: () => Simulation, run: (sim: Simulation) => void): Simulation {
  const sim = makeSim();
  try {
    run(sim);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`seed ${options.seed} (${options.members} members) failed; replay with DCOS_SEED=${options.seed}: ${msg}\n${sim.describe()}`, {
      cause: e,
    });
  }
  return sim;
}
