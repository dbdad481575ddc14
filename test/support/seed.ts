/**
 * The one seed variable of every randomized test and simulation (docs/testing.md):
 *
 *   DCOS_SEED=n    runs seed n (a test that runs many seeds runs only n: a replay)
 *   DCOS_SEEDS=n   how many seeds a many-seed test runs (each has its own default)
 *
 * A failing randomized test prints its seed and the command that replays it.
 */

function fromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${text} is not a seed: give a non-negative integer`);
  return n;
}

/** The seed of a single-seed test: DCOS_SEED, else the test's own default. */
export function testSeed(fallback: number): number {
  return fromEnv("DCOS_SEED") ?? fallback;
}

/** The seed to replay alone (DCOS_SEED), if one is given. */
export function replaySeed(): number | undefined {
  return fromEnv("DCOS_SEED");
}

/** How many seeds a many-seed test runs: DCOS_SEEDS, else the test's default. */
export function seedCount(fallback: number): number {
  return fromEnv("DCOS_SEEDS") ?? fallback;
}
