import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSchedule, ScheduleError } from "../../src/frameworks/jobs/schedule.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const iso = (t: number | undefined) => (t === undefined ? "end" : new Date(t).toISOString());
function take(s: ReturnType<typeof parseSchedule>, after: number, n: number): string[] {
  const out: string[] = [];
  let t: number | undefined = after;
  for (let i = 0; i < n && t !== undefined; i++) out.push(iso((t = s.nextAfter(t))));
  return out;
}

describe("job schedules", () => {
  it("R/<start>/PT2H repeats forever from its start, in UTC", () => {
    const s = parseSchedule({ name: "j", schedule: "R/2026-03-01T01:00:00Z/PT2H" }, T0);
    assert.deepEqual(take(s, T0, 3), ["2026-03-01T01:00:00.000Z", "2026-03-01T03:00:00.000Z", "2026-03-01T05:00:00.000Z"]);
    assert.equal(iso(s.nextAfter(Date.parse("2026-03-01T03:00:00Z"))), "2026-03-01T05:00:00.000Z", "strictly after");
  });

  it("Rn runs n times; R0 never", () => {
    assert.deepEqual(take(parseSchedule({ name: "j", schedule: "R2/2026-03-01T00:00:00Z/PT1M" }, T0), T0 - 1, 3), ["2026-03-01T00:00:00.000Z", "2026-03-01T00:01:00.000Z", "end"]);
    assert.equal(parseSchedule({ name: "j", schedule: "R0/2026-03-01T00:00:00Z/PT1M" }, T0).nextAfter(0), undefined);
  });

  it("an empty start means the time the job was defined", () => {
    const s = parseSchedule({ name: "j", schedule: "R//PT10M" }, T0 + 5_000);
    assert.equal(iso(s.nextAfter(T0)), "2026-03-01T00:00:05.000Z");
  });

  it("P1M from 31 January steps from the start each time (28 Feb, 31 Mar), never drifting", () => {
    const s = parseSchedule({ name: "j", schedule: "R/2026-01-31T00:00:00Z/P1M" }, T0);
    assert.deepEqual(take(s, Date.parse("2026-01-31T00:00:00Z"), 2), ["2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z"]);
  });

  it("scheduleTimeZone reads the start's wall time in that zone and keeps it across DST (P1D at 09:00 Berlin)", () => {
    const s = parseSchedule({ name: "j", schedule: "R/2026-03-27T09:00:00Z/P1D", scheduleTimeZone: "Europe/Berlin" }, T0);
    assert.deepEqual(take(s, Date.parse("2026-03-27T00:00:00Z"), 4), [
      "2026-03-27T08:00:00.000Z",
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
  });

  it("Java's PST is America/Los_Angeles (Chronos's documented example)", () => {
    const s = parseSchedule({ name: "j", schedule: "R/2014-10-10T18:32:00Z/PT60M", scheduleTimeZone: "PST" }, T0);
    assert.equal(s.zone, "America/Los_Angeles");
    assert.equal(iso(s.nextAfter(Date.parse("2014-10-10T00:00:00Z"))), "2014-10-11T01:32:00.000Z");
  });

  it("cron in `schedule` (cron: prefix) and in a `cron` field, in a zone, across the US DST change", () => {
    const a = parseSchedule({ name: "j", schedule: "cron:*/5 * * * *" }, T0);
    assert.deepEqual(take(a, T0 + 1, 2), ["2026-03-01T00:05:00.000Z", "2026-03-01T00:10:00.000Z"]);
    const b = parseSchedule({ name: "j", cron: "0 9 * * *", scheduleTimeZone: "America/New_York" }, T0);
    // 09:00 EST is 14:00Z; from 8 March (EDT) it is 13:00Z.
    assert.deepEqual(take(b, Date.parse("2026-03-07T00:00:00Z"), 2), ["2026-03-07T14:00:00.000Z", "2026-03-08T13:00:00.000Z"]);
    const seconds = parseSchedule({ name: "j", cron: "*/10 * * * * *" }, T0);
    assert.equal(iso(seconds.nextAfter(T0 + 1234)), "2026-03-01T00:00:10.000Z");
  });

  it("cron H is hashed from the job name, so every leader computes the same instants", () => {
    const x = parseSchedule({ name: "nightly", cron: "H 3 * * *" }, T0).nextAfter(T0);
    assert.equal(parseSchedule({ name: "nightly", cron: "H 3 * * *" }, T0).nextAfter(T0), x);
  });

  for (const [fields, msg] of [
    [{ schedule: "R/2026-03-01T00:00:00Z" }, /expected R\[n\]\/<start>\/<period>/],
    [{ schedule: "X/2026-03-01T00:00:00Z/PT1H" }, /repetitions 'X'/],
    [{ schedule: "R/yesterday/PT1H" }, /not an ISO 8601 date-time/],
    [{ schedule: "R/2026-03-01T00:00:00Z/1H" }, /ISO 8601 duration/],
    [{ schedule: "R/2026-03-01T00:00:00Z/PT0S" }, /longer than zero/],
    [{ schedule: "R/2026-03-01T00:00:00Z/PT1H", scheduleTimeZone: "Mars/Olympus" }, /Unknown scheduleTimeZone 'Mars\/Olympus'/],
    [{ schedule: "cron:61 * * * *" }, /Invalid cron expression '61 \* \* \* \*'/],
    [{ cron: "* *" }, /expected 5 fields/],
  ] as const) {
    it(`refuses ${JSON.stringify(fields)} with a precise message`, () => {
      assert.throws(() => parseSchedule({ name: "j", ...fields }, T0), (e: unknown) => e instanceof ScheduleError && msg.test((e as Error).message));
    });
  }
});
