import type { ClientCredential } from "../../security/auth/client-credential.js";
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { FrameworkInfoSchema, type FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { FrameworkIDSchema } from "../../gen/dcos/v1/common_pb.js";
import type { Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import { SubscribeRequestSchema, type Event, type Event_Subscribed, type Event_Update } from "../../gen/dcos/v1/scheduler_pb.js";
import type { TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { Metrics } from "../../metrics/metrics.js";
import { Actor } from "../../runtime/actor.js";
import type { Timer } from "../../runtime/clock.js";
import { asDcosError, Code, DcosError } from "../../runtime/error.js";
import type { Random } from "../../runtime/random.js";
import { AckBatcher, acknowledgementOf } from "./ack-batcher.js";
import { SchedulerConnection, type CallInit, type CallResult, type UnaryCall } from "./connection.js";
import { EventQueue } from "./event-queue.js";
import { MasterList } from "./masters.js";
import { ReconnectDelays } from "./reconnect.js";
import { driverCounters, type DriverCounters } from "./counters.js";
import { DRIVER_DEFAULTS, type SchedulerCallbacks, type SchedulerDriverOptions } from "./options.js";
import { checkTransition, DriverState, isFatalSubscribeError } from "./state.js";
import { TaskTracker } from "./task-tracker.js";

interface Waiter {
  resolve: (event: Event_Subscribed) => void;
  reject: (error: DcosError) => void;
}

type EventKind = NonNullable<Event["kind"]["case"]>;

/**
 * The scheduler driver's actor: owns the connection to the master, the state machine
 * IDLE → CONNECTING → SUBSCRIBED ⇄ WAITING → STOPPED, the liveness timer (subscribe
 * timeout, then missed heartbeats), reconnects (promptly after a loss, then with backoff) and leader redirects, and
 * delivery of events to callbacks and iterators. Everything the gRPC stream reports
 * re-enters as a mailbox item tagged with the stream's generation, so a replaced stream
 * can never touch the current one's state.
 */
export class SchedulerDriverActor extends Actor {
  private current = DriverState.IDLE;
  private framework: FrameworkInfo;
  /** The roles the scheduler asked suppressed last (sent with every subscription). */
  private readonly suppressedRoles: string[];
  /** The roles the Subscribe on its way (or the current stream's) carried suppressed. */
  private subscribedSuppressed: readonly string[] = [];
  /** The leader the driver last subscribed to or was sent to by a leader hint. */
  private followedLeader: string | undefined;
  private readonly callbacks: SchedulerCallbacks;
  private readonly credential: ClientCredential | undefined;
  private readonly settings: Required<
    Pick<
      SchedulerDriverOptions,
      "implicitAcknowledgements" | "acceptUpdateBatches" | "reconcileOnSubscribe" | "maxMissedHeartbeats" | "subscribeTimeoutMs" | "callTimeoutMs" | "maxImmediateRedirects"
    >
  >;
  private readonly masters: MasterList;
  private readonly delays: ReconnectDelays;
  private readonly tracker = new TaskTracker();
  private readonly queues = new Set<EventQueue<Event>>();
  private readonly waiters: Waiter[] = [];
  private connection: SchedulerConnection | undefined;
  private generation = 0;
  private streamId = "";
  private lastSubscribed: Event_Subscribed | undefined;
  /** A TEARDOWN is in flight: the master ending the stream is expected, not a loss. */
  private tearingDown = false;
  /** The stream ended while tearing down; what ended it, if the teardown fails after all. */
  private closedDuringTeardown: DcosError | undefined;
  private heartbeatMs = 0;
  private livenessTimer: Timer | undefined;
  /** When the current stream last said anything (clock ms). */
  private lastHeardAt = 0;
  private reconnectTimer: Timer | undefined;
  private subscriptions = 0;
  private readonly counters: DriverCounters;
  private readonly acks: AckBatcher;
  private readonly channelCredentials: grpc.ChannelCredentials | undefined;

  constructor(name: string, options: SchedulerDriverOptions, random: Random, metrics: Metrics) {
    super(name);
    this.counters = driverCounters(metrics);
    this.framework = create(FrameworkInfoSchema, options.framework);
    const resumeId = options.frameworkId ?? this.framework.id?.value;
    if (resumeId) this.framework.id = create(FrameworkIDSchema, { value: resumeId });
    this.suppressedRoles = [...(options.suppressedRoles ?? [])];
    this.callbacks = options.callbacks ?? {};
    this.credential = options.credential;
    this.channelCredentials = options.channelCredentials;
    this.settings = {
      implicitAcknowledgements: options.implicitAcknowledgements ?? DRIVER_DEFAULTS.implicitAcknowledgements,
      acceptUpdateBatches: options.acceptUpdateBatches ?? DRIVER_DEFAULTS.acceptUpdateBatches,
      reconcileOnSubscribe: options.reconcileOnSubscribe ?? DRIVER_DEFAULTS.reconcileOnSubscribe,
      maxMissedHeartbeats: options.maxMissedHeartbeats ?? DRIVER_DEFAULTS.maxMissedHeartbeats,
      subscribeTimeoutMs: options.subscribeTimeoutMs ?? DRIVER_DEFAULTS.subscribeTimeoutMs,
      callTimeoutMs: options.callTimeoutMs ?? DRIVER_DEFAULTS.callTimeoutMs,
      maxImmediateRedirects: options.maxImmediateRedirects ?? DRIVER_DEFAULTS.maxImmediateRedirects,
    };
    const list = typeof options.masters === "string" ? options.masters.split(",").filter((s) => s.trim() !== "") : options.masters;
    this.masters = new MasterList(list);
    this.delays = new ReconnectDelays({ ...DRIVER_DEFAULTS.backoff, ...options.backoff }, { ...DRIVER_DEFAULTS.promptRetry, ...options.promptRetry }, random);
    this.acks = new AckBatcher(
      {
        one: ({ agentId, taskId, uuid }) => this.call("acknowledge", { agentId, taskId, uuid }),
        batch: (acknowledgements) => this.request("acknowledgeBatch", { acknowledgements }).then((r) => r.ignored),
        reenter: (fn) => this.system.enqueueFunction(this, fn),
        sent: (count) => {
          this.counters.acknowledgeCalls.inc();
          this.counters.acknowledgements.inc(count);
        },
      },
      { ...DRIVER_DEFAULTS.acknowledgements, ...options.acknowledgements },
    );
  }

  override finalize(): void {
    if (this.current !== DriverState.STOPPED) this.stop(new DcosError(Code.CANCELLED, "The scheduler driver's actor system stopped"));
  }

  // ---- what the facade calls (inside the actor) --------------------------------------

  get driverState(): DriverState {
    return this.current;
  }

  get frameworkId(): string | undefined {
    return this.framework.id?.value || undefined;
  }

  /** The master the driver talks to (or will try next). */
  get master(): string {
    return this.connection?.address ?? this.masters.current();
  }

  /** Starts connecting; resolves at the first SUBSCRIBED, rejects if the driver stops before. */
  start(): Promise<Event_Subscribed> {
    if (this.current === DriverState.STOPPED) {
      return Promise.reject(new DcosError(Code.FAILED_PRECONDITION, "Cannot start the scheduler driver: it is stopped"));
    }
    if (this.current === DriverState.SUBSCRIBED && this.lastSubscribed) return Promise.resolve(this.lastSubscribed);
    const subscribed = new Promise<Event_Subscribed>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.current === DriverState.IDLE) this.connect();
    return subscribed;
  }

  /** Stops for good: closes the stream, ends iterators (throwing error if given). */
  stop(error?: DcosError): void {
    if (this.current === DriverState.STOPPED) return;
    this.transition(DriverState.STOPPED, error?.message ?? "stopped by the scheduler");
    this.dropConnection();
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    const reason = error ?? new DcosError(Code.CANCELLED, "The scheduler driver stopped before it subscribed");
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason);
    this.acks.close(error ?? new DcosError(Code.FAILED_PRECONDITION, "Cannot acknowledge: the scheduler driver stopped"));
    for (const queue of this.queues) queue.close(error);
    this.queues.clear();
    this.invoke("stopped", () => this.callbacks.stopped?.(error));
  }

  /** A new iterator of events from now on. */
  subscribeQueue(queue: EventQueue<Event>): void {
    if (this.current === DriverState.STOPPED) queue.close();
    else this.queues.add(queue);
  }

  unsubscribeQueue(queue: EventQueue<Event>): void {
    this.queues.delete(queue);
  }

  /** One unary call with this framework's id and stream id. */
  call<K extends UnaryCall>(method: K, init: CallInit<K>): Promise<void> {
    return this.request(method, init).then(() => undefined);
  }

  /** call() that resolves with the master's response. */
  private request<K extends UnaryCall>(method: K, init: CallInit<K>): Promise<CallResult<K>> {
    const connection = this.connection;
    if (this.current !== DriverState.SUBSCRIBED || !connection) return this.refuse(method);
    const request = { ...init, frameworkId: { value: this.frameworkId ?? "" }, streamId: this.streamId } as CallInit<K>;
    return connection.call(method, request).catch((err: unknown) => {
      const error = asDcosError(err, Code.UNKNOWN);
      this.counters.callsFailed.inc();
      this.log.debug({ method, code: Code[error.code], err: error.message }, "Call to the master failed");
      if (error.details["leader"] !== undefined) this.system.enqueueFunction(this, () => this.deposed(connection, error));
      throw error;
    });
  }

  /** UNAVAILABLE while not subscribed (FAILED_PRECONDITION once stopped). */
  private refuse(method: string): Promise<never> {
    const code = this.current === DriverState.STOPPED ? Code.FAILED_PRECONDITION : Code.UNAVAILABLE;
    this.counters.callsFailed.inc();
    this.log.debug({ method, state: this.current }, `Refusing ${method}: the driver is ${this.current}`);
    return Promise.reject(new DcosError(code, `Cannot call ${method}: the scheduler driver is ${this.current}, not SUBSCRIBED`));
  }

  /** ACCEPT, remembering launched tasks for reconciliation. */
  accept(init: CallInit<"accept"> & { operations: Offer_Operation[] }): Promise<void> {
    const result = this.call("accept", init);
    if (this.current === DriverState.SUBSCRIBED) this.tracker.launching(init.operations);
    return result;
  }

  /**
   * ACKNOWLEDGE one status update by its uuid: checked now, sent with the others of this
   * event-loop turn (one AcknowledgeBatch call), settled with its own outcome.
   */
  acknowledge(status: TaskStatus): Promise<void> {
    let ack;
    try {
      ack = acknowledgementOf(status);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.current !== DriverState.SUBSCRIBED) return this.refuse("acknowledge");
    return this.acks.add(ack);
  }

  /**
   * TEARDOWN, then stop. The master may end the stream before it answers; that is no loss.
   * If the call fails, the driver carries on (and reconnects if the stream ended meanwhile).
   */
  teardown(): Promise<void> {
    const result = this.call("teardown", {});
    if (this.current === DriverState.SUBSCRIBED) this.tearingDown = true;
    return result.then(
      () => this.system.dispatch(this, () => this.stop()),
      (err: unknown) =>
        this.system.dispatch(this, () => {
          this.tearingDown = false;
          const closed = this.closedDuringTeardown;
          this.closedDuringTeardown = undefined;
          if (closed && this.current === DriverState.SUBSCRIBED) this.lost(closed, false);
          throw err;
        }),
    );
  }

  /**
   * SUPPRESS (or REVIVE) offers for roles, all of the framework's when none are named.
   * Later subscriptions carry the roles suppressed in suppressed_roles: a newly elected
   * master knows nothing of a suppression, and would otherwise offer every agent to a
   * framework that wants none (after a failover at 10,000 agents, 50 suppressed frameworks
   * were offered and declined every agent while they reconciled). What the scheduler asked
   * last counts, whether or not the call got through: a call that timed out may have been
   * applied, and a scheduler that revived must get offers from the next master. A call
   * made while a Subscribe is on its way is refused (not subscribed yet), and that
   * Subscribe left with the roles as they were: once SUBSCRIBED, the driver tells the
   * master what was asked meanwhile (tellSuppressionAskedMeanwhile).
   */
  setSuppressed(roles: string[], suppressed: boolean): Promise<void> {
    const now = new Set(this.suppressedRoles);
    for (const role of roles.length > 0 ? roles : this.framework.roles) {
      if (suppressed) now.add(role);
      else now.delete(role);
    }
    this.suppressedRoles.splice(0, this.suppressedRoles.length, ...now);
    return this.call(suppressed ? "suppress" : "revive", { roles });
  }

  /** Remembers new framework info for later resubscriptions once the master took it. */
  updateFramework(info: FrameworkInfo, suppressedRoles: string[]): Promise<void> {
    const withId = create(FrameworkInfoSchema, { ...info, id: this.framework.id });
    return this.call("updateFramework", { frameworkInfo: withId, suppressedRoles }).then(() =>
      this.system.dispatch(this, () => {
        this.framework = withId;
        this.suppressedRoles.splice(0, this.suppressedRoles.length, ...suppressedRoles);
      }),
    );
  }

  // ---- connection life ---------------------------------------------------------------

  private transition(to: DriverState, why: string): void {
    checkTransition(this.current, to);
    this.log.info({ from: this.current, to, master: this.master, why }, `Scheduler driver ${this.current} -> ${to}`);
    this.current = to;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    const address = this.masters.current();
    const generation = ++this.generation;
    this.connection = new SchedulerConnection(address, this.settings.callTimeoutMs, this.credential, this.channelCredentials);
    this.transition(DriverState.CONNECTING, `subscribing to ${address}${this.frameworkId ? ` as ${this.frameworkId}` : ""}`);
    this.armLiveness(this.settings.subscribeTimeoutMs, "no SUBSCRIBED");
    // One copy: the request's list is the one remembered (nothing changes either afterwards).
    const suppressedRoles = [...this.suppressedRoles];
    this.subscribedSuppressed = suppressedRoles;
    const request = create(SubscribeRequestSchema, { frameworkInfo: this.framework, suppressedRoles, acceptsUpdateBatches: this.settings.acceptUpdateBatches });
    this.connection.subscribe(request, {
      event: (event) => this.system.enqueueFunction(this, () => this.onEvent(generation, event)),
      closed: (error) => this.system.enqueueFunction(this, () => this.onStreamClosed(generation, error)),
    });
  }

  private dropConnection(): void {
    this.generation++;
    this.livenessTimer?.cancel();
    this.livenessTimer = undefined;
    this.connection?.close();
    this.connection = undefined;
  }

  /**
   * Gives the stream up after ms of silence. One timer per arming, not per event: events
   * only move lastHeardAt, and a timer that fires early sleeps for the rest.
   */
  private armLiveness(ms: number, what: string): void {
    this.livenessTimer?.cancel();
    this.lastHeardAt = this.clock.now();
    this.livenessTimer = ms > 0 ? this.delay(ms, () => this.onLivenessTimeout(ms, what)) : undefined;
  }

  private onLivenessTimeout(ms: number, what: string): void {
    this.livenessTimer = undefined;
    if (this.current !== DriverState.CONNECTING && this.current !== DriverState.SUBSCRIBED) return;
    const quiet = this.clock.now() - this.lastHeardAt;
    if (quiet < ms) {
      this.livenessTimer = this.delay(ms - quiet, () => this.onLivenessTimeout(ms, what));
      return;
    }
    this.counters.heartbeatTimeouts.inc();
    const error = new DcosError(Code.DEADLINE_EXCEEDED, `${what} from master ${this.master} for ${ms} ms`);
    this.log.warn({ master: this.master, ms }, `Giving up the stream: ${error.message}`);
    this.lost(error, this.current === DriverState.CONNECTING);
  }

  private onStreamClosed(generation: number, error: DcosError | undefined): void {
    if (generation !== this.generation) return; // a stream we replaced or closed ourselves
    if (this.tearingDown && this.current === DriverState.SUBSCRIBED) {
      this.log.debug({ master: this.master }, "The master closed the event stream during TEARDOWN");
      this.closedDuringTeardown = error ?? new DcosError(Code.UNAVAILABLE, `Master ${this.master} ended the event stream`);
      return;
    }
    if (this.current === DriverState.CONNECTING && error && isFatalSubscribeError(error)) {
      this.stop(new DcosError(error.code, `Master ${this.master} refused the subscription: ${error.message}`, { cause: error }));
      return;
    }
    this.lost(error ?? new DcosError(Code.UNAVAILABLE, `Master ${this.master} ended the event stream`), this.current === DriverState.CONNECTING);
  }

  /** A call named another leader: the master of this connection was deposed; follow the hint. */
  private deposed(connection: SchedulerConnection, error: DcosError): void {
    if (connection !== this.connection || this.current !== DriverState.SUBSCRIBED) return;
    this.log.warn({ master: this.master, leader: error.details["leader"] }, "A call says the master is no longer the leader");
    this.lost(error, false);
  }

  /** The stream is gone: pick the next master and reconnect after a delay. */
  private lost(error: DcosError, whileConnecting: boolean): void {
    const leader = error.details["leader"];
    this.dropConnection();
    this.transition(DriverState.WAITING, error.message);
    this.counters.disconnections.inc();
    // A subscribed stream that broke is retried on the same master first (it was the
    // leader a moment ago); a failed attempt moves on, to the hinted leader if any.
    const redirected = whileConnecting || leader !== undefined ? this.masters.failed(leader) : false;
    if (redirected) this.counters.redirects.inc();
    if (redirected && this.masters.current() !== this.followedLeader) this.leaderAnnounced(this.masters.current());
    const immediate = redirected && this.masters.redirects <= this.settings.maxImmediateRedirects;
    const delay = immediate ? 0 : this.delays.next(this.clock.now());
    this.log.info({ next: this.masters.current(), delayMs: delay, leader }, "Reconnecting to a master");
    this.reconnectTimer = this.delay(delay, () => this.connect());
    this.invoke("disconnected", () => this.callbacks.disconnected?.(error));
  }

  /**
   * A standby (or a deposed master's answer) named a leader other than the one the driver
   * last followed: a new leader. Its retries start a new prompt window (jittered), so a
   * driver that fell into its long backoff while no leader was known (an election, then a
   * slow recovery) does not sit out up to 30 s once there is one.
   */
  private leaderAnnounced(address: string): void {
    this.followedLeader = address;
    if (this.delays.newLeader(this.clock.now())) {
      this.counters.retriesReset.inc();
      this.log.info({ leader: address }, `A new leader (${address}) was announced; retrying promptly again`);
    }
  }

  // ---- events ------------------------------------------------------------------------

  private onEvent(generation: number, event: Event): void {
    const kind = event.kind.case;
    if (generation !== this.generation) return this.drop(kind, "it came on a stream the driver replaced");
    if (kind === undefined) return this.drop(kind, "it has no kind (a newer master?)");
    if (kind === "subscribed") return this.onSubscribed(event.kind.value, event);
    if (this.current !== DriverState.SUBSCRIBED) return this.drop(kind, `the driver is ${this.current}, waiting for SUBSCRIBED`);
    if (kind === "updates") return this.onUpdates(event.kind.value.updates);
    this.counters.events.inc();
    this.lastHeardAt = this.clock.now();
    this.deliver(event);
    if (event.kind.case === "update") this.afterUpdate(event.kind.value.status);
    if (event.kind.case === "error") {
      this.stop(new DcosError(Code.FAILED_PRECONDITION, `Master ${this.master} refused the scheduler: ${event.kind.value.message}`));
    }
  }

  /**
   * UPDATES: each update is handled as the UPDATE event carrying it would be (callbacks,
   * event queues, the task tracker and implicit acknowledgements see one at a time).
   */
  private onUpdates(updates: readonly Event_Update[]): void {
    this.counters.updateBatches.inc();
    for (const update of updates) {
      if (this.current !== DriverState.SUBSCRIBED) return;
      const one: Event = { $typeName: "dcos.v1.Event", kind: { case: "update", value: update } };
      this.counters.events.inc();
      this.lastHeardAt = this.clock.now();
      this.deliver(one);
      this.afterUpdate(update.status);
    }
  }

  private onSubscribed(subscribed: Event_Subscribed, event: Event): void {
    if (this.current !== DriverState.CONNECTING) return this.drop("subscribed", `the driver is ${this.current}, already subscribed`);
    const frameworkId = subscribed.frameworkId?.value;
    if (!frameworkId) {
      this.log.error({ master: this.master }, "SUBSCRIBED without a framework id; treating the master as broken");
      this.lost(new DcosError(Code.INTERNAL, `Master ${this.master} sent SUBSCRIBED without a framework id`), true);
      return;
    }
    const resubscribed = this.subscriptions > 0;
    this.subscriptions++;
    this.counters.subscribed.inc();
    this.counters.events.inc();
    this.framework.id = subscribed.frameworkId;
    this.streamId = subscribed.streamId;
    this.lastSubscribed = subscribed;
    this.heartbeatMs = subscribed.heartbeatIntervalSeconds * 1000;
    this.transition(DriverState.SUBSCRIBED, `framework ${frameworkId}, stream ${subscribed.streamId}${resubscribed ? ", resubscribed" : ""}`);
    this.masters.succeeded();
    this.followedLeader = this.master;
    this.delays.reset();
    this.tellSuppressionAskedMeanwhile();
    this.armLiveness(this.heartbeatTimeoutMs(), "no event");
    this.invoke("subscribed", () => this.callbacks.subscribed?.(subscribed, resubscribed));
    for (const queue of this.queues) queue.push(event);
    for (const waiter of this.waiters.splice(0)) waiter.resolve(subscribed);
    if (this.settings.reconcileOnSubscribe) this.reconcileAll();
  }

  /**
   * SUPPRESS and REVIVE asked while the Subscribe was on its way were refused, and the master
   * holds the roles that Subscribe carried: send it what changed since. Without this a
   * revive lost that way left a framework suppressed at a new leader while it waited for
   * offers (the services framework after a kill -9 of the leading master: its revive came
   * the moment its state write reached the new leader, while its driver resubscribed there).
   */
  private tellSuppressionAskedMeanwhile(): void {
    const carried = new Set(this.subscribedSuppressed);
    const now = new Set(this.suppressedRoles);
    this.subscribedSuppressed = [...this.suppressedRoles];
    const changes = [
      ["revive", [...carried].filter((r) => !now.has(r))],
      ["suppress", [...now].filter((r) => !carried.has(r))],
    ] as const;
    for (const [method, roles] of changes) {
      if (roles.length === 0) continue;
      this.counters.suppressionResent.inc();
      this.log.info({ master: this.master, method, roles }, `Sending ${method.toUpperCase()} for ${roles.join(", ")}: asked while subscribing`);
      this.call(method, { roles: [...roles] }).catch((err: unknown) => this.log.warn({ method, roles, err: asDcosError(err).message }, `${method.toUpperCase()} after subscribing failed; the next subscription carries the roles`));
    }
  }

  private heartbeatTimeoutMs(): number {
    return this.heartbeatMs * this.settings.maxMissedHeartbeats;
  }

  private deliver(event: Event): void {
    const k = event.kind;
    const cb = this.callbacks;
    switch (k.case) {
      case "offers":
        this.invoke("offers", () => cb.offers?.(k.value.offers));
        break;
      case "rescind":
        this.invoke("rescind", () => cb.rescind?.(k.value.offerId?.value ?? ""));
        break;
      case "inverseOffers":
        this.invoke("inverseOffers", () => cb.inverseOffers?.(k.value.inverseOffers));
        break;
      case "rescindInverseOffer":
        this.invoke("rescindInverseOffer", () => cb.rescindInverseOffer?.(k.value.inverseOfferId?.value ?? ""));
        break;
      case "update":
        if (k.value.status) this.tracker.observe(k.value.status);
        this.invoke("update", () => k.value.status && cb.update?.(k.value.status));
        break;
      case "message":
        this.invoke("message", () => cb.message?.(k.value));
        break;
      case "failure":
        this.invoke("failure", () => cb.failure?.(k.value));
        break;
      case "error":
        this.invoke("error", () => cb.error?.(k.value.message));
        break;
      case "heartbeat":
        this.invoke("heartbeat", () => cb.heartbeat?.());
        break;
      default:
        break;
    }
    for (const queue of this.queues) queue.push(event);
  }

  private afterUpdate(status: TaskStatus | undefined): void {
    if (!status || !this.settings.implicitAcknowledgements || status.uuid.length === 0) return;
    this.acknowledge(status).catch((err: unknown) => {
      // NOT_FOUND: the master has no update awaiting this (a duplicate delivery): nothing to do.
      if (err instanceof DcosError && err.code === Code.NOT_FOUND) this.log.debug({ task: status.taskId?.value, err: err.message }, "Implicit acknowledgement not needed");
      else this.log.warn({ task: status.taskId?.value, err: (err as Error).message }, "Implicit acknowledgement failed; the agent will resend the update");
    });
  }

  private reconcileAll(): void {
    const known = this.tracker.list();
    const explicit = known.map((t) => ({ taskId: { value: t.taskId }, agentId: t.agentId ? { value: t.agentId } : undefined }));
    const calls = explicit.length > 0 ? [this.call("reconcile", { tasks: explicit })] : [];
    calls.push(this.call("reconcile", { tasks: [] }));
    for (const call of calls) {
      call.catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "Reconciliation after subscribing failed"));
    }
  }

  private drop(kind: EventKind | undefined, why: string): void {
    this.counters.dropped.inc();
    this.log.debug({ kind: kind ?? "none" }, `Ignoring ${kind ?? "an"} event because ${why}`);
  }

  private invoke(callback: keyof SchedulerCallbacks, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.callbackErrors.inc();
      this.log.error({ err, callback }, `The scheduler's ${callback} callback threw; the driver carries on`);
    }
  }
}
