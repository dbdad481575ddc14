import { Code, DcosError } from "../runtime/error.js";
import type { ReadState } from "./core/ready.js";
import type { ApplyResult } from "./client-sessions.js";

interface ProposalWaiter {
  term: number;
  deadline: number;
  resolve: (result: Uint8Array) => void;
  reject: (error: Error) => void;
}

/**
 * Proposals waiting for their entry to be applied, by log index. The outcome is decided
 * only when that index is applied (the one point that is final): the entry of the
 * proposal's term → its result; any other entry → ABORTED, the proposal was lost in a
 * leadership change and was not applied.
 */
export class ProposalWaiters {
  private readonly byIndex = new Map<number, ProposalWaiter>();
  aborted = 0;

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, deadline: number, resolve: (r: Uint8Array) => void, reject: (e: Error) => void): void {
    this.applied(index, term, undefined);
    this.byIndex.set(index, { term, deadline, resolve, reject });
  }

  /**
   * The entry at index (of term) was applied with result (none for no-op and membership
   * entries); also called when this member's own new entry of a later term takes the index.
   */
  applied(index: number, term: number, result: ApplyResult | undefined): void {
    const w = this.byIndex.get(index);
    if (!w) return;
    this.byIndex.delete(index);
    if (w.term !== term) {
      this.aborted++;
      w.reject(
        new DcosError(Code.ABORTED, `Proposal lost in a leadership change: entry ${index} of term ${w.term} was replaced by one of term ${term}; it was not applied`, {
          details: { index: String(index), term: String(w.term) },
        }),
      );
      return;
    }
    if (!result) w.reject(new DcosError(Code.INTERNAL, `Entry ${index} of term ${term} is not a proposal`));
    else if (result.ok) w.resolve(result.value);
    else w.reject(result.error);
  }

  /** A snapshot from the leader covered every index up to `index`: those outcomes cannot be known here. */
  coveredBySnapshot(index: number): void {
    for (const [i, w] of this.byIndex) {
      if (i > index) continue;
      this.byIndex.delete(i);
      w.reject(
        new DcosError(Code.UNKNOWN, `Outcome of the proposal at ${i} is unknown: this member installed a snapshot up to ${index}; retry with the same ProposalId`),
      );
    }
  }

  /** Rejects proposals past their deadline (oldest first); their outcome is unknown. */
  expire(now: number): void {
    for (const [i, w] of this.byIndex) {
      if (w.deadline > now) break;
      this.byIndex.delete(i);
      w.reject(
        new DcosError(Code.DEADLINE_EXCEEDED, `Proposal at ${i} not applied in time; its outcome is unknown (retry with the same ProposalId)`),
      );
    }
  }

  failAll(error: Error): void {
    for (const w of this.byIndex.values()) w.reject(error);
    this.byIndex.clear();
  }
}

interface ReadWaiter {
  run: () => void;
  reject: (e: Error) => void;
  index?: number;
}

/**
 * Linearizable reads (ReadIndex): each waits for the leader to confirm its read point,
 * then for the state machine to have applied up to it.
 */
export class ReadWaiters {
  private readonly byCtx = new Map<string, ReadWaiter>();
  private next = 0;

  get size(): number {
    return this.byCtx.size;
  }

  add(run: () => void, reject: (e: Error) => void): string {
    const ctx = String(++this.next);
    this.byCtx.set(ctx, { run, reject });
    return ctx;
  }

  drop(ctx: string): void {
    this.byCtx.delete(ctx);
  }

  confirmed(rs: ReadState): void {
    const w = this.byCtx.get(rs.ctx);
    if (w) w.index = rs.index;
  }

  /** Runs the confirmed reads whose read point is applied. */
  applied(appliedIndex: number): void {
    for (const [ctx, w] of this.byCtx) {
      if (w.index === undefined || w.index > appliedIndex) continue;
      this.byCtx.delete(ctx);
      w.run();
    }
  }

  failAll(error: Error): void {
    for (const w of this.byCtx.values()) w.reject(error);
    this.byCtx.clear();
  }
}
