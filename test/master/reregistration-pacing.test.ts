/**
 * A new leader's announcements to its agents in waves (reregistration-pacing.ts), on the
 * manual clock with a scripted event-loop lag: the window of agents announced and not back,
 * waves held while the loop runs late, agents past their patience giving up their place,
 * the rate cap, agents back before their turn, and every order of events a seeded random
 * schedule makes (the seed is printed on failure; DCOS_SEED replays one).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PACING_DEFAULTS, ReregistrationPacer, type PacingOptions, type PacingSummary } from "../../src/actors/master/reregistration-pacing.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";
import { replaySeed, seedCount } from "../support/seed.js";

const agents = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `a${i}`, pid: new Pid(`agent${i}`, `127.0.0.1:${10_000 + i}`) }));

function harness(n: number, o: Partial<PacingOptions>) {
  const clock = new ManualClock(0);
  const announced: string[] = [];
  let lag = 0;
  const finished: PacingSummary[] = [];
  const list = agents(n);
  const byPid = new Map(list.map((a) => [a.pid.toString(), a.id]));
  const pacer = new ReregistrationPacer(
    list,
    {
      now: () => clock.now(),
      delay: (ms, fn) => clock.setTimer(ms, fn),
      announce: (pid) => announced.push(byPid.get(pid.toString())!),
      lagMs: () => lag,
      finished: (s) => finished.push({ ...s }),
    },
    { ...PACING_DEFAULTS, window: 0, ratePerS: 0, ...o },
  );
  return {
    clock,
    pacer,
    announced,
    finished,
    setLag: (ms: number) => (lag = ms),
  };
}

describe("A new leader's announcements in waves (manual clock)", () => {
  it("keeps at most the window announced and not back; each agent back makes room for the next", async () => {
    const h = harness(20, { window: 4 });
    h.pacer.start();
    assert.deepEqual(h.announced, ["a0", "a1", "a2", "a3"]);
    for (let i = 0; i < 20; i++) {
      h.pacer.back(`a${i}`);
      assert.ok(h.pacer.waiting <= 4, `${h.pacer.waiting} waiting after a${i} came back`);
    }
    assert.deepEqual(h.announced, agents(20).map((a) => a.id), "every agent announced once, in order");
    assert.equal(h.finished.length, 1);
    assert.deepEqual(h.finished[0], { announced: 20, skipped: 0, ms: 0, held: 0, expired: 0, peakOutstanding: 4, answerMs: 0, patienceMs: PACING_DEFAULTS.patienceMs });
    await h.clock.advance(10_000);
    assert.equal(h.clock.pendingTimers(), 0, "no timer left once finished");
  });

  it("announces in steps of a window's eighth, not one agent per answer", () => {
    const h = harness(100, { window: 16 });
    h.pacer.start();
    assert.equal(h.announced.length, 16);
    h.pacer.back("a0");
    assert.equal(h.announced.length, 16, "one place free: less than a step (2)");
    h.pacer.back("a1");
    assert.equal(h.announced.length, 18, "two places free: the next step goes out");
  });

  it("holds the waves while the event loop runs late, and sends them once it catches up", async () => {
    const h = harness(10, { window: 4 });
    h.setLag(PACING_DEFAULTS.maxLagMs + 1);
    h.pacer.start();
    assert.equal(h.announced.length, 0, "nothing announced while the loop is late");
    await h.clock.advance(PACING_DEFAULTS.tickMs);
    assert.equal(h.announced.length, 0);
    h.setLag(0);
    await h.clock.advance(PACING_DEFAULTS.tickMs);
    assert.deepEqual(h.announced, ["a0", "a1", "a2", "a3"]);
    h.setLag(PACING_DEFAULTS.maxLagMs + 1);
    for (const id of ["a0", "a1", "a2", "a3"]) h.pacer.back(id);
    assert.equal(h.announced.length, 4, "a late loop holds the next wave too");
    h.setLag(0);
    await h.clock.advance(PACING_DEFAULTS.tickMs);
    assert.equal(h.announced.length, 8);
    assert.ok(h.pacer.summary.held >= 3, `held ${h.pacer.summary.held} times`);
  });

  it("an agent not back within its patience gives up its place; the next wave goes out", async () => {
    const h = harness(10, { window: 4 });
    h.pacer.start();
    await h.clock.advance(PACING_DEFAULTS.patienceMs - 1);
    assert.equal(h.announced.length, 4, "still within their patience");
    await h.clock.advance(PACING_DEFAULTS.tickMs);
    assert.equal(h.announced.length, 8);
    assert.equal(h.pacer.summary.expired, 4);
    await h.clock.advance(3 * PACING_DEFAULTS.patienceMs);
    assert.equal(h.announced.length, 10);
    assert.equal(h.finished.length, 1, "finished once the last ones' patience ran out");
    assert.equal(h.finished[0]!.expired, 10);
  });

  it("lengthens the patience while the answers take long (a loaded leader): live agents keep their places", async () => {
    // Every agent answers 3 s after its announcement, more than the 2 s patience.
    const run = async () => {
      const h = harness(100, { window: 10 });
      const announcedAt = new Map<string, number>();
      h.pacer.start();
      for (let t = 0; t < 60_000 && h.finished.length === 0; t += 100) {
        for (const id of h.announced) if (!announcedAt.has(id)) announcedAt.set(id, h.clock.now());
        for (const [id, at] of announcedAt) {
          if (at >= 0 && h.clock.now() - at >= 3_000) {
            announcedAt.set(id, -1);
            h.pacer.back(id);
          }
        }
        assert.ok(h.pacer.waiting <= 10, `${h.pacer.waiting} waiting`);
        await h.clock.advance(100);
      }
      return h.finished[0]!;
    };
    const s = await run();
    assert.equal(s.announced, 100);
    // Only the first wave, announced before any answer, outlives the 2 s; then the patience is 3 x 3 s.
    assert.ok(s.expired <= 10, `${s.expired} past their patience`);
    // Answers 3.0-3.1 s after the announcement (the harness looks every 100 ms).
    assert.ok(s.answerMs >= 3_000 && s.answerMs <= 3_100, `average answer ${s.answerMs} ms`);
    assert.ok(Math.abs(s.patienceMs - 3 * s.answerMs) <= 2, `patience ${s.patienceMs} ms: 3 x the average answer (both rounded)`);
  });

  it("with a rate cap and no window: at most that many announcements a second", async () => {
    const h = harness(35, { ratePerS: 10 });
    h.pacer.start();
    assert.equal(h.announced.length, 1, "what the rate allows by the next look");
    await h.clock.advance(1_000);
    assert.equal(h.announced.length, 11);
    await h.clock.advance(2_400);
    assert.equal(h.announced.length, 35);
    assert.equal(h.finished.length, 1);
    assert.equal(h.finished[0]!.ms, 3_400);
  });

  it("an agent back before its turn (it found the leader itself) is not announced", () => {
    const h = harness(6, { window: 2 });
    h.pacer.start();
    h.pacer.back("a4");
    h.pacer.back("a0");
    h.pacer.back("a1");
    h.pacer.back("a2");
    h.pacer.back("a3");
    assert.deepEqual(h.announced, ["a0", "a1", "a2", "a3", "a5"]);
    h.pacer.back("a5");
    assert.equal(h.finished[0]!.skipped, 1);
    assert.equal(h.finished[0]!.announced, 5);
  });

  it("without a window or a rate every agent is announced at once", () => {
    const h = harness(50, {});
    h.pacer.start();
    assert.equal(h.announced.length, 50);
    assert.equal(h.finished.length, 1);
    assert.equal(h.finished[0]!.ms, 0);
  });

  it("refuses a window, rate, tick or patience that makes no sense", () => {
    assert.throws(() => harness(1, { window: -1 }), RangeError);
    assert.throws(() => harness(1, { tickMs: 0 }), RangeError);
    assert.throws(() => harness(1, { patienceMs: 0 }), RangeError);
  });

  it("any order of answers, late loops and silent agents: the window holds, each agent is announced at most once, it finishes once (seeded)", async () => {
    const one = replaySeed();
    const seeds = one !== undefined ? [one] : Array.from({ length: seedCount(30) }, (_, i) => 7_000 + i);
    for (const seed of seeds) {
      const r = new Random(seed);
      const n = 1 + r.int(200);
      const window = r.int(3) === 0 ? 0 : 1 + r.int(40);
      const h = harness(n, { window, ratePerS: r.int(3) === 0 ? 20 + r.int(500) : 0 });
      const silent = new Set(agents(n).filter(() => r.int(10) === 0).map((a) => a.id));
      const said = (what: string) => `${what} (seed ${seed}: ${n} agents, window ${window}; DCOS_SEED=${seed} replays it)`;
      h.pacer.start();
      for (let step = 0; step < 2_000 && h.finished.length === 0; step++) {
        h.setLag(r.int(5) === 0 ? PACING_DEFAULTS.maxLagMs * 2 : 0);
        // Some announced agents answer (in any order); now and then one comes back unannounced.
        const answered = h.announced.filter((id) => !silent.has(id) && r.int(3) === 0);
        for (const id of answered) h.pacer.back(id);
        if (r.int(20) === 0) h.pacer.back(`a${r.int(n)}`);
        if (window > 0) assert.ok(h.pacer.waiting <= window, said(`${h.pacer.waiting} waiting`));
        await h.clock.advance(r.int(3) * 50);
      }
      assert.equal(h.finished.length, 1, said("finished once"));
      assert.equal(new Set(h.announced).size, h.announced.length, said("no agent announced twice"));
      const s = h.finished[0]!;
      assert.equal(s.announced + s.skipped, n, said("every agent announced or found back"));
      if (window > 0) assert.ok(s.peakOutstanding <= window, said(`peak ${s.peakOutstanding}`));
    }
  });
});
