import type { RaftEntry } from "../../../src/gen/dcos/v1/raft_pb.js";
import type { TestNode } from "./node.js";

/** The entries a member holds (persisted or not), from its first index on. */
export function logOf(n: TestNode): RaftEntry[] {
  const log = n.raft.log;
  return log.entries(log.firstIndex(), log.lastIndex() + 1);
}

function describeEntry(e: RaftEntry | undefined): string {
  return e ? `(${e.index}, term ${e.term}, ${e.type}, ${e.data.length}B)` : "(none)";
}

function sameEntry(a: RaftEntry, b: RaftEntry): boolean {
  return a.term === b.term && a.type === b.type && Buffer.from(a.data).equals(Buffer.from(b.data));
}

/**
 * Log matching (§5.3): if two logs have an entry with the same index and term, the logs
 * are identical in all entries up to that index (where both still hold them).
 */
export function checkLogMatching(nodes: TestNode[]): void {
  const logs = nodes.map((n) => ({ id: n.id, byIndex: new Map(logOf(n).map((e) => [Number(e.index), e])) }));
  for (let i = 0; i < logs.length; i++) {
    for (let j = i + 1; j < logs.length; j++) {
      const a = logs[i]!;
      const b = logs[j]!;
      let matched = false;
      const indices = [...a.byIndex.keys()].filter((k) => b.byIndex.has(k)).sort((x, y) => y - x);
      for (const k of indices) {
        const ea = a.byIndex.get(k)!;
        const eb = b.byIndex.get(k)!;
        if (ea.term === eb.term) matched = true;
        if (matched && !sameEntry(ea, eb)) {
          throw new Error(`Log matching violated between ${a.id} and ${b.id} at ${k}: ${describeEntry(ea)} vs ${describeEntry(eb)}`);
        }
      }
    }
  }
}

/** What was applied where, to check state machine safety and leader completeness. */
export class AppliedRecord {
  /** index → the entry every member applied there, and a bound on the term it was committed in. */
  readonly byIndex = new Map<number, { term: number; data: string; by: string; commitTermBound: number }>();

  /** One member applied an entry while in term `memberTerm` (its commit term is at most that). */
  add(by: string, e: { index: number; term: number; data: string }, memberTerm: number): void {
    const seen = this.byIndex.get(e.index);
    if (!seen) {
      this.byIndex.set(e.index, { term: e.term, data: e.data, by, commitTermBound: memberTerm });
      return;
    }
    if (seen.term !== e.term || seen.data !== e.data) {
      throw new Error(
        `State machine safety violated at ${e.index}: ${seen.by} applied (term ${seen.term}, ${seen.data}), ${by} applied (term ${e.term}, ${e.data})`,
      );
    }
    seen.commitTermBound = Math.min(seen.commitTermBound, memberTerm);
  }

  /** Checks that each node's applied entries agree with everyone else's (state machine safety). */
  observe(nodes: TestNode[]): void {
    for (const n of nodes) for (const e of n.lifetimeApplied) this.add(n.id, e, Number.MAX_SAFE_INTEGER);
  }

  /** Leader completeness (§5.4): a leader's log holds every entry committed in an earlier
   *  term (unless it is below the leader's snapshot). */
  checkLeaderHas(leader: TestNode): void {
    const log = leader.raft.log;
    for (const [index, e] of this.byIndex) {
      if (index < log.firstIndex() || e.commitTermBound >= leader.raft.term) continue;
      const term = log.termOrUndefined(index);
      if (term !== e.term) {
        throw new Error(
          `Leader completeness violated: leader ${leader.id} (term ${leader.raft.term}) has term ${term ?? "none"} at ${index}, committed with term ${e.term} by term ${e.commitTermBound}`,
        );
      }
    }
  }
}

/** Each NORMAL entry applied at most once per incarnation of each node, in index order. */
export function checkAppliedInOrder(n: TestNode): void {
  const last = new Map<number, number>();
  for (const e of n.lifetimeApplied) {
    const prev = last.get(e.incarnation);
    if (prev !== undefined && e.index <= prev) {
      throw new Error(`${n.id} (incarnation ${e.incarnation}) applied ${e.index} after ${prev}`);
    }
    last.set(e.incarnation, e.index);
  }
}
