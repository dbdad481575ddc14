import type { ReadState } from "./ready.js";

/**
 * The leader's ReadIndex bookkeeping. A read is served at the commit index of the time it
 * was asked, once a majority has answered a message sent after it was asked (a "round":
 * every append and heartbeat carries the current round, followers echo it). Reads asked
 * before the leader committed an entry of its own term wait for that first.
 */
export class ReadIndexQueue {
  private waitingForCommit: string[] = [];
  private queued: ReadState[] = [];
  private inRound: (ReadState & { round: number })[] = [];
  round = 0;

  request(ctx: string, committedInTerm: boolean, committed: number): void {
    if (committedInTerm) this.queued.push({ ctx, index: committed });
    else this.waitingForCommit.push(ctx);
  }

  /** The leader committed an entry of its term: the waiting reads can be served at `committed`. */
  committedInTerm(committed: number): void {
    for (const ctx of this.waitingForCommit) this.queued.push({ ctx, index: committed });
    this.waitingForCommit = [];
  }

  /** Starts a round for the queued reads; returns it, or undefined if nothing is queued. */
  startRound(): number | undefined {
    if (this.queued.length === 0) return undefined;
    this.round++;
    for (const r of this.queued) this.inRound.push({ ...r, round: this.round });
    this.queued = [];
    return this.round;
  }

  hasQueued(): boolean {
    return this.queued.length > 0;
  }

  /** A majority echoed `round`: the reads of that round and earlier are confirmed. */
  confirm(round: number): ReadState[] {
    let n = 0;
    while (n < this.inRound.length && this.inRound[n]!.round <= round) n++;
    if (n === 0) return [];
    const done = this.inRound.slice(0, n).map(({ ctx, index }) => ({ ctx, index }));
    this.inRound = this.inRound.slice(n);
    return done;
  }

  /** How many reads are not yet confirmed (they are dropped when leadership is lost). */
  pending(): number {
    return this.waitingForCommit.length + this.queued.length + this.inRound.length;
  }

  clear(): void {
    this.waitingForCommit = [];
    this.queued = [];
    this.inRound = [];
    this.round = 0;
  }
}
