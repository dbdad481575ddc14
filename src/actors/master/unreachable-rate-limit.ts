/**
 * The rate limit on marking agents unreachable (Mesos `--agent_removal_rate_limit`, here
 * `--agent-unreachable-rate-limit=1/10mins`): when a whole rack drops, agents that missed their
 * pings queue for a permit, one every interval/permits, instead of all leaving at once. An agent
 * that answers a ping while it waits is not marked (the removal is canceled); its slot is spent.
 */
import { parseDuration } from "../../runtime/duration.js";
import { Code, DcosError } from "../../runtime/error.js";

export interface UnreachableRate {
  permits: number;
  intervalMs: number;
}

/** "1/10mins" → one agent per 10 minutes; INVALID_ARGUMENT naming what is wrong. */
export function parseUnreachableRate(text: string): UnreachableRate {
  const m = /^\s*(\d+)\s*\/\s*(.+)$/.exec(text);
  const bad = (why: string): DcosError =>
    new DcosError(Code.INVALID_ARGUMENT, `Invalid agent unreachable rate limit '${text}': ${why} (expected <permits>/<duration>, e.g. 1/10mins)`);
  if (!m) throw bad("not of the form <permits>/<duration>");
  const permits = Number(m[1]);
  let intervalMs: number;
  try {
    intervalMs = parseDuration(m[2]!);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (permits < 1) throw bad("permits must be at least 1");
  if (!(intervalMs > 0)) throw bad("the duration must be positive");
  return { permits, intervalMs };
}

export interface LimiterHost {
  now(): number;
  delay(ms: number, fn: () => void): { cancel(): void };
}

/** Permits evenly spaced, interval/permits apart (as Mesos's RateLimiter). */
export class UnreachableRateLimiter {
  private nextFreeAtMs = -Infinity;
  private readonly spacingMs: number;

  constructor(
    rate: UnreachableRate,
    private readonly host: LimiterHost,
  ) {
    this.spacingMs = rate.intervalMs / rate.permits;
  }

  /** Runs `fn` when the next permit is free (at once when one is); returns a cancel. */
  acquire(fn: () => void): () => void {
    const now = this.host.now();
    const at = Math.max(now, this.nextFreeAtMs);
    this.nextFreeAtMs = at + this.spacingMs;
    const timer = this.host.delay(at - now, fn);
    return () => timer.cancel();
  }
}
