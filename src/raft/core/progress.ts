import { Code, DcosError } from "../../runtime/error.js";

/**
 * How the leader replicates to one follower (etcd's Progress):
 * - Probe: unsure where the follower's log matches; one append at a time until it answers.
 * - Replicate: the log matches at `match`; appends are pipelined (up to maxInflight).
 * - Snapshot: a snapshot is on its way; nothing else is sent until it is answered.
 */
export enum ProgressState {
  Probe = "probe",
  Replicate = "replicate",
  Snapshot = "snapshot",
}

export class Progress {
  state = ProgressState.Probe;
  /** The highest index known to be replicated on the follower. */
  match = 0;
  /** The next index to send. */
  next: number;
  /** In Probe: an append was sent and not yet answered. */
  probeSent = false;
  /** In Snapshot: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** The last index of each append in flight (Replicate), oldest first. */
  private inflight: number[] = [];
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** The highest read round the follower has echoed (ReadIndex). */
  readAck = 0;
  /** Leader ticks since the follower's match last advanced while it lagged. */
  stalledTicks = 0;

  /**
   * @param minRound answers echoing an older read round predate this Progress (they come
   *   from an earlier server under the same id, removed and added again) and are ignored.
   */
  constructor(
    next: number,
    private readonly maxInflight: number,
    readonly minRound = 0,
  ) {
    this.next = next;
  }

  private transition(to: ProgressState): void {
    this.state = to;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight = [];
    this.stalledTicks = 0;
  }

  /** Back to probing from the known match (a snapshot that was sent may have been lost). */
  becomeProbe(): void {
    this.transition(ProgressState.Probe);
    this.next = this.match + 1;
  }

  becomeReplicate(): void {
    this.transition(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.transition(ProgressState.Snapshot);
    this.pendingSnapshot = index;
  }

  /** Records a successful append up to n; true if match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      this.stalledTicks = 0;
      this.probeSent = false;
      updated = true;
    }
    this.next = Math.max(this.next, n + 1);
    while (this.inflight.length > 0 && this.inflight[0]! <= n) this.inflight.shift();
    return updated;
  }

  /**
   * Handles a rejection of the append after `rejected`, moving `next` back toward the
   * follower's hint. Returns false if the rejection is stale (answers an older append).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** An append carrying entries up to `last` was sent. */
  sentEntries(last: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        this.next = last + 1;
        this.inflight.push(last);
        return;
      case ProgressState.Probe:
        this.probeSent = true;
        return;
      case ProgressState.Snapshot:
        throw new DcosError(Code.INTERNAL, "Sending entries to a follower that is being sent a snapshot");
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflight.length >= this.maxInflight;
      case ProgressState.Snapshot:
        return true;
    }
  }

  toString(): string {
    return `${this.state} match=${this.match} next=${this.next}`;
  }
}
