/**
 * Time is a parameter. Actors read time and set timers only through a Clock, so tests can
 * use a ManualClock and move time by hand (libprocess's Clock::pause/advance/settle).
 */
export interface Timer {
  cancel(): void;
}

/** Something that has work queued (an actor system's mailboxes); ManualClock.settle waits for it. */
export interface WorkSource {
  idle(): boolean;
}

export interface Clock {
  /** Milliseconds since the Unix epoch (possibly fractional on a manual clock). */
  now(): number;
  /** Runs fn once after ms milliseconds. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Lets a manual clock know about a source of queued work; real clocks ignore it. */
  track(source: WorkSource): void;
  untrack(source: WorkSource): void;
}

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  }

  track(): void {}
  untrack(): void {}
}

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A clock that moves only when told. `advance(ms)` fires every timer that falls due, in
 * order, letting all queued work run after each one; `settle()` returns once no timer is
 * due and every tracked mailbox is empty.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];
  private readonly sources = new Set<WorkSource>();

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    // Keep sorted by (at, seq): insertion from the back, timers are mostly added in order.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  track(source: WorkSource): void {
    this.sources.add(source);
  }

  untrack(source: WorkSource): void {
    this.sources.delete(source);
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** When the next live timer is due, or undefined. */
  nextDue(): number | undefined {
    return this.timers.find((t) => !t.cancelled)?.at;
  }

  private fireOneDue(limit: number): boolean {
    while (this.timers.length > 0) {
      const t = this.timers[0]!;
      if (t.cancelled) {
        this.timers.shift();
        continue;
      }
      if (t.at > limit) return false;
      this.timers.shift();
      if (t.at > this.current) this.current = t.at;
      t.fn();
      return true;
    }
    return false;
  }

  private busy(): boolean {
    for (const s of this.sources) if (!s.idle()) return true;
    return false;
  }

  /** Runs queued work and due timers until nothing is left to do at the current time. */
  async settle(maxTurns = 1_000_000): Promise<void> {
    for (let turns = 0; turns < maxTurns; turns++) {
      await nextTurn();
      if (this.busy()) continue;
      if (this.fireOneDue(this.current)) continue;
      return;
    }
    throw new Error(`ManualClock.settle: still busy after ${maxTurns} turns (a message loop?)`);
  }

  /** Moves time forward by ms, firing due timers in order and settling after each. */
  async advance(ms: number): Promise<void> {
    const target = this.current + Math.max(0, ms);
    await this.settle();
    while (this.fireOneDue(target)) await this.settle();
    this.current = target;
    await this.settle();
  }

  /** Advances in steps until pred() holds, or throws after `within` ms of clock time. */
  async advanceUntil(pred: () => boolean, within: number, step = 10): Promise<void> {
    const deadline = this.current + within;
    await this.settle();
    while (!pred()) {
      if (this.current >= deadline) throw new Error(`Condition not met within ${within} ms of clock time`);
      await this.advance(Math.min(step, deadline - this.current));
    }
  }
}
