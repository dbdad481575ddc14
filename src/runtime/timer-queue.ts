/**
 * Many timers of one and the same delay on one clock timer (a timing wheel of one slot per
 * due time): with a constant delay and a clock that never goes back, timers fall due in the
 * order they were set, so they wait in a FIFO and one timer of the underlying clock is armed
 * for the head only. Setting and cancelling are O(1); a due timer fires at exactly the time a
 * timer of its own would have (the master pings 50,000 agents with one clock timer instead of
 * 50,000). Cancelled entries stay in the queue, inert, until they reach its head.
 *
 * A periodic timer re-armed from its callback (`addNext`) keeps its phase: its next period
 * counts from when it was due, not from when it fired. Re-armed from the firing, every timer
 * that fell due while the loop was held would fire together and stay together for good: each
 * stall of the master's loop merged the pings due in it, and at 50,000 agents they came in
 * clumps every 15 s, with no ping at all in 40 of 60 seconds (docs/scale.md, "Session 10").
 */
import type { Timer } from "./clock.js";
import { Fifo } from "./mailbox.js";

/** A timer's callback; `due` is when it was due (it may fire later, when the loop was held). */
type TimerFn = (due: number) => void;

interface Entry {
  due: number;
  fn: TimerFn | undefined;
}

export interface TimerHost {
  now(): number;
  delay(ms: number, fn: () => void): Timer;
}

export class TimerQueue {
  private queue = new Fifo<Entry>();
  private armed: Timer | undefined;
  private live = 0;
  /** The due time of the last timer queued (the queue is in due order). */
  private lastDue = -Infinity;
  /** Inside fire(): timers set by callbacks are armed for after the loop, not before older ones. */
  private firing = false;

  constructor(
    readonly delayMs: number,
    private readonly host: TimerHost,
  ) {
    if (!(delayMs >= 0)) throw new RangeError(`TimerQueue needs a delay >= 0 (got ${delayMs})`);
  }

  /** Timers set and not yet fired or cancelled. */
  get size(): number {
    return this.live;
  }

  /** Runs `fn` after the queue's delay, unless the returned timer is cancelled first. */
  add(fn: TimerFn): Timer {
    return this.push(this.host.now() + this.delayMs, fn);
  }

  /**
   * The next period of a timer that was due at `previousDue` (called from its callback): due
   * one delay after `previousDue`, not after now, so that a late firing does not shift it.
   * Fired more than half a delay late, it is due one delay from now, as with add (the
   * time to the next firing stays between half a delay and a delay). Never due before a
   * timer already queued (the queue stays in order): it then fires with that one, late by
   * at most what its own firing was late.
   */
  addNext(previousDue: number, fn: TimerFn): Timer {
    const now = this.host.now();
    const due = previousDue + this.delayMs;
    return this.push(due < now + this.delayMs / 2 ? now + this.delayMs : due, fn);
  }

  private push(due: number, fn: TimerFn): Timer {
    const entry: Entry = { due: Math.max(due, this.lastDue), fn };
    this.lastDue = entry.due;
    this.queue.push(entry);
    this.live++;
    if (this.armed === undefined && !this.firing) this.arm(entry.due);
    return {
      cancel: () => {
        if (!entry.fn) return;
        entry.fn = undefined;
        this.live--;
        if (this.live === 0) this.clear();
      },
    };
  }

  /** Cancels every timer of the queue. */
  clear(): void {
    for (const entry of this.queue.drain()) entry.fn = undefined;
    this.live = 0;
    this.lastDue = -Infinity;
    this.armed?.cancel();
    this.armed = undefined;
  }

  private arm(due: number): void {
    this.armed = this.host.delay(Math.max(0, due - this.host.now()), () => this.fire());
  }

  private fire(): void {
    this.armed = undefined;
    const now = this.host.now();
    this.firing = true;
    try {
      // Only what is due now: timers a callback sets land behind, due a whole delay later.
      for (let head = this.queue.peek(); head && head.due <= now; head = this.queue.peek()) {
        this.queue.shift();
        const fn = head.fn;
        if (!fn) continue;
        head.fn = undefined;
        this.live--;
        fn(head.due);
      }
    } finally {
      // Also after a callback threw: the rest stay queued, the timer armed for the next.
      this.firing = false;
      while (this.queue.peek()?.fn === undefined && this.queue.length > 0) this.queue.shift();
      const next = this.queue.peek();
      if (next && this.armed === undefined) this.arm(next.due);
    }
  }
}
