/**
 * Leader election by a lease kept as the value of a framework log in the masters'
 * replicated state (dcos.v1.ReplicatedLogService CompareAndSet).
 *
 * The holder renews the lease every `renewMs` by a compare-and-set at the version it last
 * wrote. A contender takes the lease when it is empty or released, or when it has watched
 * the same version for `ttlMs` on its own clock (no clock agreement needed: it starts
 * counting after the holder's last renewal was committed). The holder counts from the
 * moment it SENT its last successful renewal and steps down when `ttlMs` has passed without
 * another, so it has stepped down before any contender can take over. Durable writes
 * are fenced separately (FencedStateStore) so a paused old holder cannot write either.
 */
import type { Clock, Timer } from "../../runtime/clock.js";
import { Code, DcosError, asDcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { decodeJson, encodeJson, valueOrEmpty, type LogStore } from "./log-store.js";

/** Who holds (or last held) the lease. */
export interface LeaseHolder {
  /** A unique id of the instance (e.g. host:port plus a random part). */
  id: string;
  /** Where the instance serves its HTTP API (host:port): non-leaders proxy there. */
  address: string;
}

/** The lease as stored in the log's value. */
export interface LeaseValue extends LeaseHolder {
  /** The holder's clock at its last renewal (informational; expiry never trusts it). */
  renewedAt: number;
  /** Set by abdication: anyone may take the lease at once. */
  released?: boolean;
}

export interface LeaderLeaseOptions {
  store: LogStore;
  /** The log whose value is the lease, e.g. "services-leader". */
  log: string;
  self: LeaseHolder;
  clock: Clock;
  /** How long a lease lasts without renewal (default 10 s). */
  ttlMs?: number;
  /** Renewal / polling period (default ttlMs / 4). */
  renewMs?: number;
  logger?: Logger;
  /** This instance now leads; `term` is the lease's version when taken (grows with every takeover). */
  onElected?(term: number): void;
  /** This instance stopped leading (lost the lease, could not renew, abdicated or stopped). */
  onDeposed?(reason: string): void;
}

export class LeaderLease {
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly log: Logger;
  private timer: Timer | undefined;
  private expiryTimer: Timer | undefined;
  private running = false;
  private inFlight = false;
  private holding = false;
  /** The version this instance last wrote while holding. */
  private version = 0;
  private lastRenewSentAt = 0;
  /** What a non-holder last saw, and since when (own clock). */
  private observedVersion = -1;
  private observedAt = 0;
  private observed: LeaseValue | undefined;
  private cooldownUntil = 0;

  constructor(private readonly options: LeaderLeaseOptions) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.renewMs = options.renewMs ?? Math.max(1, Math.floor(this.ttlMs / 4));
    if (!(this.renewMs < this.ttlMs)) throw new DcosError(Code.INVALID_ARGUMENT, `Lease renewMs ${this.renewMs} must be below ttlMs ${this.ttlMs}`);
    this.log = (options.logger ?? silentLogger()).child({ component: "leader-lease", log: options.log });
  }

  get isLeader(): boolean {
    return this.holding;
  }

  /** The lease's version while leading (the term). */
  get term(): number {
    return this.holding ? this.version : 0;
  }

  /**
   * The leader as last seen: this instance while it holds the lease, else the holder of
   * the last value read unless it was released or has not been renewed for ttlMs.
   */
  get leader(): LeaseHolder | undefined {
    if (this.holding) return { id: this.options.self.id, address: this.options.self.address };
    const v = this.observed;
    if (!v || v.released || this.options.clock.now() - this.observedAt >= this.ttlMs) return undefined;
    return { id: v.id, address: v.address };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops competing; a holder releases the lease so another instance takes over at once. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timer?.cancel();
    if (this.holding) await this.release("stopped");
  }

  /** Gives the lease up (DELETE /v2/leader) and does not compete again for one ttl. */
  async abdicate(): Promise<void> {
    if (!this.holding) throw new DcosError(Code.FAILED_PRECONDITION, "Cannot abdicate: this instance does not lead");
    this.cooldownUntil = this.options.clock.now() + this.ttlMs;
    await this.release("abdicated");
  }

  private async release(reason: string): Promise<void> {
    const value: LeaseValue = { ...this.options.self, renewedAt: this.options.clock.now(), released: true };
    const version = this.version;
    this.depose(reason);
    try {
      await this.options.store.compareAndSet(this.options.log, encodeJson(value), version);
    } catch (err) {
      this.log.info({ err: asDcosError(err).message }, "Could not mark the lease released; it expires on its own");
    }
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    if (!this.running) return;
    this.timer = this.options.clock.setTimer(ms, () => void this.tick());
  }

  private async tick(): Promise<void> {
    if (!this.running || this.inFlight) return;
    this.inFlight = true;
    try {
      if (this.holding) await this.renew();
      else await this.contend();
    } catch (err) {
      this.log.debug({ err: asDcosError(err).message }, "Lease call failed; retrying");
    } finally {
      this.inFlight = false;
      this.schedule(this.renewMs);
    }
  }

  private async renew(): Promise<void> {
    const sentAt = this.options.clock.now();
    const value: LeaseValue = { ...this.options.self, renewedAt: sentAt };
    try {
      const v = await this.options.store.compareAndSet(this.options.log, encodeJson(value), this.version);
      if (!this.holding) return;
      this.version = v;
      this.lastRenewSentAt = sentAt;
      this.armExpiry();
    } catch (err) {
      if (DcosError.is(err, Code.FAILED_PRECONDITION) && this.holding) this.depose("another instance took the lease");
      else throw err;
    }
  }

  private async contend(): Promise<void> {
    const { value, version } = await valueOrEmpty(this.options.store, this.options.log);
    const now = this.options.clock.now();
    const lease = decodeJson<LeaseValue>(value, `lease ${this.options.log}`);
    if (version !== this.observedVersion) {
      this.observedVersion = version;
      this.observedAt = now;
      this.observed = lease;
    }
    if (now < this.cooldownUntil) return;
    const free = lease === undefined || lease.released === true || lease.id === this.options.self.id;
    if (!free && now - this.observedAt < this.ttlMs) return;
    const sentAt = now;
    const mine: LeaseValue = { ...this.options.self, renewedAt: sentAt };
    let v: number;
    try {
      v = await this.options.store.compareAndSet(this.options.log, encodeJson(mine), version);
    } catch (err) {
      if (DcosError.is(err, Code.FAILED_PRECONDITION)) return; // someone else was quicker
      throw err;
    }
    if (!this.running) return;
    this.holding = true;
    this.version = v;
    this.lastRenewSentAt = sentAt;
    this.armExpiry();
    this.log.info({ term: v, previous: lease?.id }, `Took the lease ${this.options.log}`);
    this.options.onElected?.(v);
  }

  private armExpiry(): void {
    this.expiryTimer?.cancel();
    const left = this.lastRenewSentAt + this.ttlMs - this.options.clock.now();
    this.expiryTimer = this.options.clock.setTimer(Math.max(0, left), () => {
      if (!this.holding) return;
      if (this.options.clock.now() - this.lastRenewSentAt >= this.ttlMs) this.depose(`no renewal succeeded for ${this.ttlMs} ms`);
      // A timer can fire a little before the clock reads its due time (Node's timers count in
      // the loop's whole milliseconds, Date.now() does not): wait for the rest, or the holder
      // would never step down while its renewals go unanswered (a partition).
      else this.armExpiry();
    });
  }

  private depose(reason: string): void {
    if (!this.holding) return;
    this.holding = false;
    this.expiryTimer?.cancel();
    this.observedVersion = -1;
    this.observed = undefined;
    this.log.warn({ reason }, `Gave up the lease ${this.options.log}: ${reason}`);
    this.options.onDeposed?.(reason);
  }
}
