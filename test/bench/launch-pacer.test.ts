/**
 * The scale harness's launch pacing (launch-pacer.ts), on a manual clock: 200 frameworks at
 * 0.5 launches/s each, as at 50,000 agents × 200 frameworks, each taking a token whenever one
 * is there (its pump runs every 10 ms).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LaunchPacer } from "./launch-pacer.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const FRAMEWORKS = 200;
const RATE = 0.5;
const PUMP_MS = 10;

/** Each framework's launch times (ms from the start) over `ms`. */
function launches(phases: readonly number[], ms: number): number[][] {
  let now = 0;
  const pacers = phases.map((phase) => {
    const p = new LaunchPacer(() => now);
    p.start(RATE, phase);
    return p;
  });
  const at = phases.map((): number[] => []);
  for (now = 0; now < ms; now += PUMP_MS) pacers.forEach((p, i) => p.take() && at[i]!.push(now));
  return at;
}

/** Every framework launched first within one period, then once a period (to the pump's step). */
function assertOnePerPeriod(at: readonly number[][], context: string): void {
  const period = 1000 / RATE;
  for (const [i, times] of at.entries()) {
    assert.ok(times.length >= 1 && times[0]! <= period + PUMP_MS, `${context}: framework ${i} first launched at ${times[0]}`);
    for (let k = 1; k < times.length; k++) assert.ok(Math.abs(times[k]! - times[k - 1]! - period) <= PUMP_MS, `${context}: framework ${i} launched at ${times.join(", ")}`);
  }
}

/** The most launches in one 100-ms bin. */
function busiestBin(at: readonly number[]): number {
  const bins = new Map<number, number>();
  for (const t of at) bins.set(Math.floor(t / 100), (bins.get(Math.floor(t / 100)) ?? 0) + 1);
  return Math.max(...bins.values());
}

test("frameworks started together launch spread over the period, each at its rate", () => {
  const seed = testSeed(50);
  const phases = Array.from({ length: FRAMEWORKS }, (_, i) => new Random(seed + i).next());
  const at = launches(phases, 6_000);
  // Each framework launches once per 2 s: 100 launches a second in all.
  assertOnePerPeriod(at, `seed ${seed} (DCOS_SEED=${seed} replays)`);
  // 200 launches a period of 20 bins of 100 ms: 10 a bin on average, not 200 in one.
  const busiest = busiestBin(at.flat());
  assert.ok(busiest <= 30, `seed ${seed}: ${busiest} launches in one 100-ms bin (DCOS_SEED=${seed} replays)`);
});

test("without phases the same frameworks launch in step (the bursts the phases remove)", () => {
  const at = launches(new Array<number>(FRAMEWORKS).fill(0), 6_000);
  assertOnePerPeriod(at, "phase 0");
  assert.equal(busiestBin(at.flat()), FRAMEWORKS);
});

test("a bucket keeps at most one second's worth, at least one token, and restarts at its phase", () => {
  let now = 0;
  const p = new LaunchPacer(() => now);
  p.start(5, 0.5);
  now = 10_000;
  let taken = 0;
  while (p.take()) taken++;
  assert.equal(taken, 5);
  p.start(0, 0.5);
  now = 20_000;
  assert.equal(p.ready(), false);
  p.start(0.5, 0.75);
  now += 499;
  assert.equal(p.ready(), false);
  now += 1;
  assert.equal(p.take(), true);
  assert.throws(() => p.start(1, 1), /phase must be in \[0, 1\)/);
});
