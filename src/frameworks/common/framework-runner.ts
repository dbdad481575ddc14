/**
 * A first-party framework's life, as any outside framework would live it: compete for the
 * leader lease; on winning, take the state log over (fencing out the previous leader) and
 * replay it, then subscribe with the scheduler driver under the framework id kept in that
 * state (so the new leader fails over to the same framework and its running tasks); on
 * losing, stop the driver (no teardown: the tasks keep running for the next leader) and
 * drop the session. Only public APIs: ReplicatedLogService and SchedulerService.
 */
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Event_Subscribed } from "../../gen/dcos/v1/scheduler_pb.js";
import { SchedulerDriver, type FrameworkInfoInit } from "../../actors/scheduler-driver/driver.js";
import type { SchedulerCallbacks, SchedulerDriverOptions } from "../../actors/scheduler-driver/options.js";
import type { Clock } from "../../runtime/clock.js";
import { Code, asDcosError, type DcosError } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { ReplicatedLogClient } from "../../raft/log-client.js";
import type { ClientCredential } from "../../security/auth/client-credential.js";
import { LeaderLease, type LeaseHolder } from "./leader-lease.js";
import type { LogStore } from "./log-store.js";
import { FencedStateStore, type StateMachine } from "./state-store.js";

/** What a leader gets: the replayed, fenced state and a driver (starting). */
export interface LeaderContext<S, Op> {
  readonly store: FencedStateStore<S, Op>;
  readonly driver: SchedulerDriver;
  /** The lease term this session leads in. */
  readonly term: number;
  readonly logger: Logger;
}

/** A framework's leader session: the scheduler callbacks, and how to end it. */
export interface LeaderSession {
  callbacks: SchedulerCallbacks;
  /** Called with the framework id is persisted, before any offer is passed on. */
  ready?(subscribed: Event_Subscribed): void;
  /** Ends the session (the driver is stopped by the runner). */
  stop(reason: string): void;
}

export interface FrameworkRunnerOptions<S, Op> {
  /** Short name: logs are `<name>-leader` and `<name>-state`. */
  name: string;
  /** Masters' gRPC host:port list. */
  masters: readonly string[];
  /** The principal the framework's logs live under and that it subscribes as. */
  principal: string;
  /** FrameworkInfo (name, roles, failoverTimeout, capabilities...); the runner sets id and principal. */
  framework: FrameworkInfoInit;
  /** This instance: a unique id and its HTTP address. */
  self: LeaseHolder;
  clock: Clock;
  logger?: Logger;
  machine: StateMachine<S, Op>;
  /** Default: a ReplicatedLogClient on the masters. */
  store?: LogStore;
  /** Authenticate to the masters (scheduler driver and replicated log) as this principal. */
  credential?: ClientCredential;
  leaseTtlMs?: number;
  /** Extra driver options (system, timeouts...). */
  driver?: Partial<SchedulerDriverOptions>;
  /** Records between snapshots. */
  snapshotEvery?: number;
  /** Starts the leader's session (state replayed; the driver starts after this returns). */
  lead(ctx: LeaderContext<S, Op>): LeaderSession;
  /** Called when leadership ends (after the session stopped). */
  deposed?(reason: string): void;
}

const FRAMEWORK_ID = "frameworkId";

export class FrameworkRunner<S, Op> {
  readonly lease: LeaderLease;
  private readonly log: Logger;
  private readonly logStore: LogStore;
  private readonly ownedClient: ReplicatedLogClient | undefined;
  private current: { term: number; store?: FencedStateStore<S, Op>; driver?: SchedulerDriver; session?: LeaderSession; ready: boolean } | undefined;
  private stopped = false;

  constructor(private readonly options: FrameworkRunnerOptions<S, Op>) {
    this.log = (options.logger ?? silentLogger()).child({ framework: options.name });
    if (options.store) this.logStore = options.store;
    else {
      this.ownedClient = new ReplicatedLogClient({ masters: options.masters, principal: options.principal, credential: options.credential });
      this.logStore = this.ownedClient;
    }
    this.lease = new LeaderLease({
      store: this.logStore,
      log: `${options.name}-leader`,
      self: options.self,
      clock: options.clock,
      ttlMs: options.leaseTtlMs,
      logger: options.logger,
      onElected: (term) => void this.elected(term),
      onDeposed: (reason) => void this.endSession(reason),
    });
  }

  get isLeader(): boolean {
    return this.lease.isLeader && this.current?.ready === true;
  }

  /** The leader's holder info (this instance while leading). */
  get leader(): LeaseHolder | undefined {
    return this.lease.leader;
  }

  /** The running session's state store (leader only). */
  get store(): FencedStateStore<S, Op> | undefined {
    return this.current?.store;
  }

  get driver(): SchedulerDriver | undefined {
    return this.current?.driver;
  }

  start(): void {
    this.lease.start();
  }

  /** Gives up leadership for one lease period (another instance takes over). */
  abdicate(): Promise<void> {
    return this.lease.abdicate();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.endSession("stopping");
    await this.lease.stop();
    this.ownedClient?.close();
  }

  private async elected(term: number): Promise<void> {
    const session: NonNullable<typeof this.current> = { term, ready: false };
    this.current = session;
    try {
      const store = await FencedStateStore.open<S, Op>({
        store: this.logStore,
        log: `${this.options.name}-state`,
        writer: this.options.self.id,
        term,
        machine: this.options.machine,
        snapshotEvery: this.options.snapshotEvery,
        logger: this.options.logger,
        onClosed: (reason) => this.storeClosed(session, reason),
      });
      if (this.current !== session) {
        store.close("leadership ended while replaying");
        return;
      }
      session.store = store;
      const frameworkId = store.meta(FRAMEWORK_ID);
      const forward = this.forwarding(session);
      const driver = new SchedulerDriver({
        clock: this.options.clock,
        logger: this.options.logger,
        ...this.options.driver,
        masters: this.options.masters,
        framework: { ...this.options.framework, principal: this.options.principal },
        credential: this.options.credential ?? this.options.driver?.credential,
        frameworkId,
        callbacks: forward,
      });
      session.driver = driver;
      session.session = this.options.lead({ store, driver, term, logger: this.log.child({ term }) });
      this.log.info({ term, frameworkId }, `Leading ${this.options.name} (term ${term}); subscribing`);
      await driver.start();
    } catch (err) {
      if (this.current !== session) return;
      this.log.warn({ err: asDcosError(err).message }, "Could not start leading; giving the lease up");
      await this.endSession(`could not start leading: ${asDcosError(err).message}`);
      if (this.lease.isLeader) await this.lease.abdicate().catch(() => undefined);
    }
  }

  /** Scheduler callbacks that persist the framework id first and hold offers back until then. */
  private forwarding(session: NonNullable<typeof this.current>): SchedulerCallbacks {
    const cb = (): SchedulerCallbacks => session.session?.callbacks ?? {};
    return {
      subscribed: (event, resubscribed) => {
        const id = event.frameworkId?.value ?? "";
        const store = session.store!;
        const persist = store.meta(FRAMEWORK_ID) === id ? Promise.resolve() : store.writeMeta({ [FRAMEWORK_ID]: id });
        persist.then(
          () => {
            if (this.current !== session) return;
            const first = !session.ready;
            session.ready = true;
            if (first) session.session?.ready?.(event);
            cb().subscribed?.(event, resubscribed);
          },
          (err: unknown) => this.log.warn({ err: asDcosError(err).message }, "Could not persist the framework id"),
        );
      },
      offers: (offers: Offer[]) => {
        if (!session.ready) {
          void session.driver?.decline(offers.map((o) => o.id!), { refuseSeconds: 1 }).catch(() => undefined);
          return;
        }
        cb().offers?.(offers);
      },
      rescind: (id) => cb().rescind?.(id),
      inverseOffers: (ios) => {
        if (session.ready) cb().inverseOffers?.(ios);
      },
      rescindInverseOffer: (id) => cb().rescindInverseOffer?.(id),
      update: (status) => cb().update?.(status),
      message: (m) => cb().message?.(m),
      failure: (f) => cb().failure?.(f),
      error: (m) => cb().error?.(m),
      heartbeat: () => cb().heartbeat?.(),
      disconnected: (e) => cb().disconnected?.(e),
      stopped: (e) => {
        cb().stopped?.(e);
        if (e && this.current === session) void this.giveUp(session, `the scheduler driver stopped: ${e.message}`);
      },
    };
  }

  private storeClosed(session: NonNullable<typeof this.current>, reason: DcosError): void {
    if (this.current !== session) return;
    // Fenced: another instance took the state over, so it holds the lease: step down.
    // Any other failure (no answer in time): replay and continue while the lease is ours.
    if (reason.code === Code.FAILED_PRECONDITION) void this.giveUp(session, reason.message);
    else void this.restart(session, `the state store closed: ${reason.message}`);
  }

  private async giveUp(session: NonNullable<typeof this.current>, reason: string): Promise<void> {
    if (this.current !== session) return;
    await this.endSession(reason);
    if (this.lease.isLeader) await this.lease.abdicate().catch(() => undefined);
  }

  /** The session broke while the lease is still held: end it and start a fresh one (replaying). */
  private async restart(session: NonNullable<typeof this.current>, reason: string): Promise<void> {
    if (this.current !== session) return;
    await this.endSession(reason);
    if (!this.stopped && this.lease.isLeader) void this.elected(this.lease.term);
  }

  private async endSession(reason: string): Promise<void> {
    const s = this.current;
    if (!s) return;
    this.current = undefined;
    this.log.warn({ reason, term: s.term }, `Leader session of ${this.options.name} ends: ${reason}`);
    try {
      s.session?.stop(reason);
    } catch (err) {
      this.log.error({ err }, "Stopping the leader session threw");
    }
    s.store?.close(reason);
    await s.driver?.stop().catch(() => undefined);
    this.options.deposed?.(reason);
  }
}
