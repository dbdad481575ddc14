/**
 * Durations as operators of Mesos-style clusters write them: "500ms", "5secs", "10s",
 * "2mins", "1hrs", "1days" (a plain number is seconds). One parser for flags and for
 * values inside other flags (a rate limit's "1/10mins").
 */
import { Code, DcosError } from "./error.js";

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  weeks: 604_800_000,
};

export const DURATION_UNITS = Object.keys(UNIT_MS);

/** Milliseconds in the duration; INVALID_ARGUMENT naming the text and the accepted units. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const bad = (why: string) =>
    new DcosError(Code.INVALID_ARGUMENT, `'${text}' is not a duration: ${why} (write e.g. 500ms, 5secs, 2mins, 1hrs; units: ${DURATION_UNITS.join(", ")})`);
  if (!m) throw bad("expected a number and a unit");
  const unit = m[2]!.toLowerCase() || "s";
  const scale = UNIT_MS[unit];
  if (scale === undefined) throw bad(`unknown unit '${m[2]}'`);
  return Number(m[1]) * scale;
}
