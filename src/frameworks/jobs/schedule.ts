import { CronExpressionParser } from "cron-parser";
import { DateTime, Duration, IANAZone } from "luxon";

/**
 * When a job is due: Chronos's ISO 8601 repeating interval `R[n]/<start>/<period>` or a
 * cron expression, each in a time zone. Pure: the instants depend on the text, the zone
 * and (for an empty ISO start) the time the job was defined, never on the wall clock.
 */
export interface Schedule {
  readonly kind: "iso8601" | "cron";
  /** The expression as the job gave it (without a `cron:` prefix). */
  readonly expression: string;
  /** IANA zone the schedule's wall-clock times are in. */
  readonly zone: string;
  /** The first due instant strictly after `after` (ms since the epoch), or undefined when the schedule has ended. */
  nextAfter(after: number): number | undefined;
}

/** Time zone abbreviations Java accepted that IANA names differently (Chronos's docs use PST). */
const ZONE_ALIASES: Record<string, string> = {
  PST: "America/Los_Angeles",
  PDT: "America/Los_Angeles",
  MST: "America/Denver",
  CST: "America/Chicago",
  EST: "America/New_York",
  UTC: "UTC",
  GMT: "UTC",
  Z: "UTC",
};

export class ScheduleError extends Error {}

/** The IANA zone for a `scheduleTimeZone`, or a ScheduleError naming it. */
export function parseZone(zone: string): string {
  const name = ZONE_ALIASES[zone] ?? zone;
  if (!IANAZone.isValidZone(name)) throw new ScheduleError(`Unknown scheduleTimeZone '${zone}': use a tz database name such as 'Europe/Berlin'`);
  return name;
}

/** An ISO 8601 duration with a positive length, or a ScheduleError. */
export function parseDuration(text: string, what: string): Duration {
  const d = Duration.fromISO(text);
  if (!d.isValid) throw new ScheduleError(`Invalid ${what} '${text}': expected an ISO 8601 duration such as PT1H or P1D`);
  if (d.toMillis() <= 0) throw new ScheduleError(`Invalid ${what} '${text}': the duration must be longer than zero`);
  return d;
}

/** Milliseconds of an ISO 8601 duration that may be zero (epsilon PT0S). */
export function durationMs(text: string, what: string): number {
  const d = Duration.fromISO(text);
  if (!d.isValid || d.toMillis() < 0) throw new ScheduleError(`Invalid ${what} '${text}': expected an ISO 8601 duration such as PT60S`);
  return d.toMillis();
}

const MAX_REPEATS = 1_000_000_000;
/** Units whose length never varies, and those that do not vary in a zone without DST (luxon's Duration counts a day as 24 h). */
const TIME_UNITS: ReadonlySet<string> = new Set(["hours", "minutes", "seconds", "milliseconds"]);
const FIXED_LENGTH_UNITS: ReadonlySet<string> = new Set([...TIME_UNITS, "days", "weeks"]);

class IsoSchedule implements Schedule {
  readonly kind = "iso8601" as const;
  private readonly approxMs: number;
  /** Periods of hours, minutes and seconds only are exact lengths: instants are plain arithmetic. */
  private readonly exactMs: number | undefined;
  private readonly startMs: number;

  constructor(
    readonly expression: string,
    readonly zone: string,
    private readonly start: DateTime,
    private readonly period: Duration,
    /** Instants k = 0 .. repeats-1 exist (undefined: forever). */
    private readonly repeats: number | undefined,
  ) {
    this.approxMs = Math.max(1, period.toMillis());
    const units = Object.entries(period.toObject()).filter(([, v]) => v !== 0).map(([u]) => u);
    // Days and weeks are exact too where the offset never changes (UTC and fixed offsets): no DST to step over.
    const exact = start.zone.isUniversal ? FIXED_LENGTH_UNITS : TIME_UNITS;
    this.exactMs = units.every((u) => exact.has(u)) ? period.toMillis() : undefined;
    this.startMs = start.toMillis();
  }

  /** The last instants computed by calendar arithmetic, by k (nextAfter asks for neighbours of the previous one). */
  private readonly memo = new Map<number, number>();

  private instant(k: number): number {
    if (this.exactMs !== undefined) return this.startMs + k * this.exactMs;
    const known = this.memo.get(k);
    if (known !== undefined) return known;
    // From the start each time (not step by step), so a month period never drifts after a short month.
    const ms = this.start.plus(Duration.fromObject(scale(this.period, k))).toMillis();
    if (this.memo.size >= 8) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(k, ms);
    return ms;
  }

  nextAfter(after: number): number | undefined {
    const s = this.startMs;
    if (this.exactMs !== undefined) {
      const k = after < s ? 0 : Math.floor((after - s) / this.exactMs) + 1;
      return this.repeats !== undefined && k >= this.repeats ? undefined : s + k * this.exactMs;
    }
    let k = after < s ? 0 : Math.max(0, Math.floor((after - s) / this.approxMs) - 1);
    while (this.instant(k) <= after) k++;
    while (k > 0 && this.instant(k - 1) > after) k--;
    if (this.repeats !== undefined && k >= this.repeats) return undefined;
    return this.instant(k);
  }
}

function scale(d: Duration, k: number): Record<string, number> {
  const o = d.toObject();
  const out: Record<string, number> = {};
  for (const [unit, v] of Object.entries(o)) if (typeof v === "number" && v !== 0) out[unit] = v * k;
  return out;
}

class CronSchedule implements Schedule {
  readonly kind = "cron" as const;
  constructor(
    readonly expression: string,
    readonly zone: string,
    private readonly seed: string,
  ) {}

  nextAfter(after: number): number | undefined {
    const it = CronExpressionParser.parse(this.expression, { currentDate: new Date(after), tz: this.zone, hashSeed: this.seed });
    if (!it.hasNext()) return undefined;
    const next = it.next().getTime();
    return next > after ? next : this.nextAfter(after + 1000 - (after % 1000));
  }
}

/**
 * Parses `R[n]/<start>/<period>`. An empty start is `definedAt` (Chronos: "start
 * immediately"); `scheduleTimeZone`, when given, takes precedence over the start's own
 * offset: the start's wall-clock time is read in that zone and periods are added there,
 * so `P1D` keeps 09:00 local across a DST change.
 */
export function parseIsoSchedule(text: string, zoneName: string | undefined, definedAt: number): Schedule {
  const parts = text.split("/");
  if (parts.length !== 3) throw new ScheduleError(`Invalid schedule '${text}': expected R[n]/<start>/<period>, e.g. R/2026-01-01T00:00:00Z/PT1H`);
  const [r, startText, periodText] = parts as [string, string, string];
  const m = /^R(\d*)$/.exec(r);
  if (!m) throw new ScheduleError(`Invalid schedule '${text}': the repetitions '${r}' must be R or Rn (n a whole number)`);
  const repeats = m[1] === "" ? undefined : Number(m[1]);
  if (repeats !== undefined && repeats > MAX_REPEATS) throw new ScheduleError(`Invalid schedule '${text}': at most ${MAX_REPEATS} repetitions`);
  const period = parseDuration(periodText, `schedule period in '${text}'`);
  let zone: string;
  let start: DateTime;
  if (startText === "") {
    zone = zoneName ? parseZone(zoneName) : "UTC";
    start = DateTime.fromMillis(definedAt, { zone });
  } else {
    const given = DateTime.fromISO(startText, { setZone: true });
    if (!given.isValid) throw new ScheduleError(`Invalid schedule '${text}': the start '${startText}' is not an ISO 8601 date-time (${given.invalidExplanation ?? given.invalidReason})`);
    if (zoneName) {
      zone = parseZone(zoneName);
      start = given.setZone(zone, { keepLocalTime: true });
    } else {
      zone = given.zoneName ?? "UTC";
      start = given;
    }
  }
  return new IsoSchedule(text, zone, start, period, repeats);
}

/** Parses a cron expression (5 fields, or 6 with seconds) in a zone; `H` is hashed from `seed` (the job name) so every leader agrees. */
export function parseCronSchedule(expression: string, zoneName: string | undefined, seed: string): Schedule {
  const zone = zoneName ? parseZone(zoneName) : "UTC";
  const expr = expression.trim();
  const fields = expr.split(/\s+/);
  if (!expr.startsWith("@") && (fields.length < 5 || fields.length > 6)) {
    throw new ScheduleError(`Invalid cron expression '${expression}': expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first`);
  }
  try {
    CronExpressionParser.parse(expr, { tz: zone, hashSeed: seed, currentDate: new Date(0) });
  } catch (err) {
    throw new ScheduleError(`Invalid cron expression '${expression}': ${(err as Error).message}`);
  }
  return new CronSchedule(expr, zone, seed);
}

/** `cron:<expr>` in `schedule`, a `cron` field, or an ISO 8601 repeating interval. */
export function parseSchedule(fields: { schedule?: string; cron?: string; scheduleTimeZone?: string; name: string }, definedAt: number): Schedule {
  if (fields.cron !== undefined) return parseCronSchedule(fields.cron, fields.scheduleTimeZone, fields.name);
  const s = fields.schedule ?? "";
  if (s.startsWith("cron:")) return parseCronSchedule(s.slice(5), fields.scheduleTimeZone, fields.name);
  return parseIsoSchedule(s, fields.scheduleTimeZone, definedAt);
}
