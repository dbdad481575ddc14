/**
 * Argument parsers for commander: they turn the runtime's precise errors into commander's
 * InvalidArgumentError, so a bad flag prints "error: option '--x' argument '…' is invalid. …".
 */
import { InvalidArgumentError } from "commander";
import { parseUnreachableRate } from "../actors/master/unreachable-rate-limit.js";
import { parseDuration as parseDurationMs } from "../runtime/duration.js";
import { parseServiceProxy as parseServiceProxyList } from "../ui/service-proxy-flag.js";

/** Runs a parser that throws a precise DcosError, as a commander argument parser. */
function asFlagParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** Milliseconds in a duration flag ("500ms", "5secs", "2mins"). */
export const parseDuration = asFlagParser(parseDurationMs);

/** `--agent-unreachable-rate-limit`: checked at parse time ("1/10mins"), passed on as written. */
export const parseUnreachableRateFlag = asFlagParser((text) => (parseUnreachableRate(text), text));

/** A port number 0–65535 (0 picks a free one). */
/** A count flag: a whole number >= 0. */
export function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`'${text}' is not a whole number >= 0`);
  return Number(text);
}

/** A nice value a process may lower itself to: 0-19. */
export function parseNice(text: string): number {
  const n = parseCount(text);
  if (n > 19) throw new InvalidArgumentError(`'${text}' is not a nice value (0–19)`);
  return n;
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 65535) throw new InvalidArgumentError(`'${text}' is not a port number (0–65535)`);
  return n;
}

/** `--service-proxy`: name=principal pairs, checked at parse time, passed on as written (as /flags shows it). */
export const parseServiceProxyFlag = asFlagParser((text) => (parseServiceProxyList(text), text));
