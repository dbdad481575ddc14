/**
 * How long a follower went without hearing its leader: the longest gap between two
 * messages from the leader it follows, over the last one or two 30-s windows (a new leader
 * starts afresh). This is what the follower's election timer sees: a gap near the election
 * timeout is a term nearly lost, whatever held the leader (its loop, the network, this
 * follower's own loop). Gauge `raft/leader_silence_max_ms`.
 */
export const SILENCE_WINDOW_MS = 30_000;

export class LeaderSilence {
  private leader = "";
  private lastHeard = 0;
  private windowStart = 0;
  private current = 0;
  private previous = 0;

  /** A message from `from`, this member following `leader`, at `now` (ms). */
  heard(from: string, leader: string, now: number): void {
    if (leader === "" || from !== leader) return;
    this.roll(now);
    if (leader === this.leader && now - this.lastHeard > this.current) this.current = now - this.lastHeard;
    this.leader = leader;
    this.lastHeard = now;
  }

  /** The longest gap of the last 30-60 s (ms). */
  maxMs(now: number): number {
    this.roll(now);
    return Math.max(this.current, this.previous);
  }

  private roll(now: number): void {
    if (now - this.windowStart < SILENCE_WINDOW_MS) return;
    this.previous = now - this.windowStart < 2 * SILENCE_WINDOW_MS ? this.current : 0;
    this.current = 0;
    this.windowStart = now;
  }
}
