import type { Clock, Timer, WorkSource } from "../../src/runtime/clock.js";
import type { Transport, TransportSink } from "../../src/runtime/transport.js";

/**
 * One member's event loop held by a long turn, on the simulated clock and network (what a
 * multi-second handler or a descheduled process does to Node's loop): while held, its
 * timers that come due and the messages that reach it wait; when the turn ends, the due
 * timers run first and the messages after them, in one go, as libuv runs its timers phase
 * before it polls the sockets. Wrap the member's clock and transport (`clock`, `transport`)
 * before its actor system starts; `hold()` and `release()` from the test.
 */
export class LoopStall {
  private held = false;
  private timers: { fn: () => void; cancelled: boolean }[] = [];
  private inbound: (() => void)[] = [];

  /** The member's clock: timers that fall due while held wait for release(). */
  clock(inner: Clock): Clock {
    return {
      now: () => inner.now(),
      setTimer: (ms: number, fn: () => void): Timer => {
        const t = { fn, cancelled: false };
        const timer = inner.setTimer(ms, () => {
          if (this.held) this.timers.push(t);
          else fn();
        });
        return {
          cancel: () => {
            t.cancelled = true;
            timer.cancel();
          },
        };
      },
      track: (source: WorkSource) => inner.track(source),
      untrack: (source: WorkSource) => inner.untrack(source),
    };
  }

  /** The member's transport: what is delivered to it while held waits for release(). */
  transport(inner: Transport): Transport {
    const stall = this;
    return {
      address: inner.address,
      start(sink: TransportSink): Promise<void> {
        const later = (fn: () => void): void => {
          if (stall.held) stall.inbound.push(fn);
          else fn();
        };
        return inner.start({
          encode: (out) => sink.encode(out),
          deliverEnvelope: (envelope, peer, identity) => later(() => sink.deliverEnvelope(envelope, peer, identity)),
          deliverMessage: (from, to, message, identity) => later(() => sink.deliverMessage(from, to, message, identity)),
          peerExited: (address) => later(() => sink.peerExited(address)),
          frameDropped: (peer, reason, detail) => sink.frameDropped(peer, reason, detail),
          sendFailed: (peer, count, detail) => sink.sendFailed(peer, count, detail),
        });
      },
      send: (out) => inner.send(out),
      link: (address) => inner.link(address),
      stop: () => inner.stop(),
    };
  }

  get holding(): boolean {
    return this.held;
  }

  hold(): void {
    this.held = true;
  }

  /** Ends the turn: the timers that fell due run, then the messages that arrived, in arrival order. */
  release(): { timers: number; messages: number } {
    this.held = false;
    const timers = this.timers.filter((t) => !t.cancelled);
    const inbound = this.inbound;
    this.timers = [];
    this.inbound = [];
    for (const t of timers) t.fn();
    for (const fn of inbound) fn();
    return { timers: timers.length, messages: inbound.length };
  }
}
