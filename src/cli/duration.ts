/**
 * Durations on the command line, in the units Mesos operators write: "500ms", "5secs",
 * "10s", "2mins", "1hrs", "1days" (and plain numbers as seconds).
 */
import { InvalidArgumentError } from "commander";
import { parseUnreachableRate } from "../actors/master/unreachable-rate-limit.js";

const UNIT_MS: Record<string, number> = {
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

/** Milliseconds in the duration; throws commander's InvalidArgumentError on bad input. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m?.[2]?.toLowerCase() || "s";
  const scale = UNIT_MS[unit];
  if (!m || scale === undefined) {
    throw new InvalidArgumentError(`'${text}' is not a duration (write e.g. 500ms, 5secs, 2mins, 1hrs; units: ${Object.keys(UNIT_MS).join(", ")})`);
  }
  return Number(m[1]) * scale;
}

/** A port number 0–65535 (0 picks a free one). */
export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 65535) throw new InvalidArgumentError(`'${text}' is not a port number (0–65535)`);
  return n;
}

/** `--agent-unreachable-rate-limit`: checked at parse time ("1/10mins"), passed on as written. */
export function parseUnreachableRateFlag(text: string): string {
  try {
    parseUnreachableRate(text);
    return text;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
