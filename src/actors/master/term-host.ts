/**
 * The master's effects during one leadership term. Every send, timer and deferred result
 * of a MasterState goes through its host; when the master loses leadership the host is
 * revoked, so nothing the deposed term started can act any more: sends are dropped (and
 * counted), timers are cancelled, and deferred work completes with UNAVAILABLE so the
 * callers waiting on it (scheduler calls, subscriptions) fail instead of hanging.
 */
import type { Message } from "@bufbuild/protobuf";
import type { Counter } from "../../metrics/metrics.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import type { Pid } from "../../runtime/pid.js";
import type { MasterHost } from "./master-state.js";

export class TermHost implements MasterHost {
  private revoked = false;
  private readonly timers = new Set<Timer>();

  constructor(
    private readonly actor: MasterHost,
    /** The Raft term this host acts in (0 for a master that leads alone, without Raft). */
    readonly term: number,
    private readonly dropped: Counter,
  ) {}

  get self(): Pid {
    return this.actor.self;
  }

  get log(): Logger {
    return this.actor.log;
  }

  get clock(): Clock {
    return this.actor.clock;
  }

  get active(): boolean {
    return !this.revoked;
  }

  send(to: Pid, message: Message): void {
    if (this.revoked) {
      this.dropped.inc();
      this.log.debug({ to: to.toString(), type: message.$typeName, term: this.term }, `Not sending ${message.$typeName}: term ${this.term} is over`);
      return;
    }
    this.actor.send(to, message);
  }

  delay(ms: number, fn: () => void): Timer {
    const inner = this.actor.delay(ms, () => {
      this.timers.delete(handle);
      if (!this.revoked) fn();
    });
    const handle: Timer = {
      cancel: () => {
        inner.cancel();
        this.timers.delete(handle);
      },
    };
    this.timers.add(handle);
    return handle;
  }

  defer<T>(promise: Promise<T>, onResult: (value: T) => void, onError: (error: unknown) => void): void {
    this.actor.defer(
      promise,
      (value) => (this.revoked ? onError(this.over()) : onResult(value)),
      (error) => onError(this.revoked ? this.over() : error),
    );
  }

  /** Ends the term: nothing started in it acts any more. */
  revoke(): void {
    this.revoked = true;
    for (const t of [...this.timers]) t.cancel();
  }

  private over(): DcosError {
    return new DcosError(Code.UNAVAILABLE, `This master lost leadership (term ${this.term} is over); retry with the leading master`);
  }
}
