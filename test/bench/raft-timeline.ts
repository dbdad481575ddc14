/**
 * One commit's timeline across the three members of the raft bench, from the trace marks
 * (RaftNodeOptions.trace, test/support/raft-member.ts `traceStart`/`traceStop`): for each
 * entry every step's duration, the leader's and the follower's whose acknowledgement came
 * first (the one that made the entry committed). Clocks: performance.timeOrigin + now() in
 * each process on the same host.
 */
import type { TraceMarks } from "../support/raft-member.js";
import { percentile } from "./report.js";

/** A step: from mark `from` on member `a` to mark `to` on member `b` (L = leader, F = the first follower to acknowledge). */
export const TIMELINE_STEPS = [
  ["called", "L", "proposed", "L"],
  ["proposed", "L", "append_sent", "L"],
  ["append_sent", "L", "append_received", "F"],
  ["append_received", "F", "persist_start", "F"],
  ["persist_start", "F", "durable", "F"],
  ["durable", "F", "durable_turn", "F"],
  ["durable_turn", "F", "ack_sent", "F"],
  ["ack_sent", "F", "ack_received", "L"],
  ["ack_received", "L", "committed", "L"],
  ["committed", "L", "applied", "L"],
  ["proposed", "L", "applied", "L"],
  ["applied", "L", "answered", "L"],
  ["called", "L", "answered", "L"],
  ["persist_start", "L", "durable", "L"],
  ["durable", "L", "durable_turn", "L"],
] as const;

export interface TimelineStep {
  step: string;
  p50: number;
  p90: number;
  n: number;
}

/** Every step's p50 and p90 (ms) over the entries for which both marks are present. */
export function commitTimeline(leader: TraceMarks, followers: readonly TraceMarks[]): TimelineStep[] {
  const indexes = Object.keys(leader.proposed ?? {}).map(Number);
  const covering = new CoveringMarks();
  const out: TimelineStep[] = [];
  for (const [from, a, to, b] of TIMELINE_STEPS) {
    const d: number[] = [];
    for (const i of indexes) {
      const f = firstAcker(covering, followers, i);
      const ma = a === "L" ? leader : f;
      const mb = b === "L" ? leader : f;
      if (!ma || !mb) continue;
      const t0 = covering.at(ma, from, i);
      const t1 = covering.at(mb, to, i);
      if (t0 !== undefined && t1 !== undefined) d.push(t1 - t0);
    }
    if (d.length > 0) out.push({ step: `${from}(${a}) -> ${to}(${b})`, p50: percentile(d, 50), p90: percentile(d, 90), n: d.length });
  }
  return out;
}

/**
 * When a mark first covered entry i: marks are made with the last index of a batch (an
 * append of several entries, an acknowledgement up to an index), and progress only grows,
 * so entry i was covered by the mark with the smallest index >= i.
 */
class CoveringMarks {
  private readonly sorted = new Map<Record<number, number>, number[]>();

  at(marks: TraceMarks, name: string, i: number): number | undefined {
    const m = marks[name];
    if (!m) return undefined;
    let keys = this.sorted.get(m);
    if (!keys) this.sorted.set(m, (keys = Object.keys(m).map(Number).sort((x, y) => x - y)));
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    return lo < keys.length ? m[keys[lo]!] : undefined;
  }
}

/** The follower whose acknowledgement of entry i went out first. */
function firstAcker(covering: CoveringMarks, followers: readonly TraceMarks[], i: number): TraceMarks | undefined {
  let best: TraceMarks | undefined;
  let at = Number.POSITIVE_INFINITY;
  for (const f of followers) {
    const t = covering.at(f, "ack_sent", i);
    if (t !== undefined && t < at) {
      at = t;
      best = f;
    }
  }
  return best;
}
