import type { ClientCredential } from "../../security/auth/client-credential.js";
import type * as grpc from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FrameworkInfoSchema } from "../../gen/dcos/v1/cluster_pb.js";
import type { InverseOffer, Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Event_Failure, Event_Message, Event_Subscribed } from "../../gen/dcos/v1/scheduler_pb.js";
import type { TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { Clock } from "../../runtime/clock.js";
import type { DcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import type { Random } from "../../runtime/random.js";
import type { ActorSystem } from "../../runtime/system.js";
import type { AckBatcherOptions } from "./ack-batcher.js";
import type { BackoffOptions } from "../../runtime/backoff.js";
import type { PromptRetryOptions } from "./reconnect.js";

/**
 * What a scheduler hears, as callbacks. They run inside the driver, one at a time, in
 * stream order; a callback that throws is logged and counted, never breaks the driver.
 */
export interface SchedulerCallbacks {
  /** SUBSCRIBED; `resubscribed` after a reconnect (the framework id is kept). */
  subscribed?(event: Event_Subscribed, resubscribed: boolean): void;
  offers?(offers: Offer[]): void;
  rescind?(offerId: string): void;
  /**
   * Agents this framework uses whose machines have maintenance scheduled: answer with
   * acceptInverseOffers (it will move off them) or declineInverseOffers.
   */
  inverseOffers?(inverseOffers: InverseOffer[]): void;
  rescindInverseOffer?(inverseOfferId: string): void;
  /** A status update; acknowledged after this returns when acknowledgements are implicit. */
  update?(status: TaskStatus): void;
  message?(message: Event_Message): void;
  failure?(failure: Event_Failure): void;
  /** ERROR: the master refused the scheduler; stopped() follows. */
  error?(message: string): void;
  heartbeat?(): void;
  /** The stream to the master broke (error undefined: it ended); the driver reconnects. */
  disconnected?(error: DcosError | undefined): void;
  /** The driver stopped: error undefined after stop() or teardown(), else why. */
  stopped?(error: DcosError | undefined): void;
}

export interface SchedulerDriverOptions {
  /** Masters to try, `host:port` each (a comma-separated string is split). */
  masters: string | readonly string[];
  /** The framework: name, roles, principal, failover_timeout, capabilities, … */
  framework: MessageInitShape<typeof FrameworkInfoSchema>;
  /** Resume this framework (a restarted scheduler failing over); else framework.id or new. */
  frameworkId?: string;
  /** Roles to subscribe suppressed (no offers until revive). */
  suppressedRoles?: string[];
  callbacks?: SchedulerCallbacks;
  /** Acknowledge each update with a uuid after delivering it; default true. */
  implicitAcknowledgements?: boolean;
  /**
   * Acknowledgements of one event-loop turn go in one AcknowledgeBatch call of at most
   * maxBatch (default 1000); at most maxInFlight such calls at once (default 2), later
   * ones wait and go together.
   */
  acknowledgements?: Partial<AckBatcherOptions>;
  /**
   * Announce that this driver unpacks UPDATES events (SubscribeRequest.accepts_update_batches),
   * so the master may send a turn's status updates as one event; default true. Callbacks,
   * event queues and acknowledgements still see one update at a time.
   */
  acceptUpdateBatches?: boolean;
  /** After every (re)subscription, reconcile known tasks explicitly, then all implicitly; default true. */
  reconcileOnSubscribe?: boolean;
  /** Heartbeats missed in a row before the master is taken for gone; default 5. */
  maxMissedHeartbeats?: number;
  /** Most time from opening the stream to SUBSCRIBED; default 15 s. */
  subscribeTimeoutMs?: number;
  /** Deadline of every unary call; default 10 s. */
  callTimeoutMs?: number;
  /**
   * The principal and secret to authenticate with (sent on every call); the master fills
   * framework.principal from it. None: unauthenticated.
   */
  credential?: ClientCredential;
  /** How to reach the masters: TLS trusting the cluster CA (and a client certificate); default plaintext. */
  channelCredentials?: grpc.ChannelCredentials;
  /** Reconnect backoff once prompt retries are over; default 500 ms doubling up to 30 s, with jitter. */
  backoff?: Partial<BackoffOptions>;
  /**
   * Right after losing a master: retry at once, then every 50-200 ms (jittered) round the
   * masters for 5 s (default), before the backoff. Covers an election and a failover.
   */
  promptRetry?: Partial<PromptRetryOptions>;
  /** Leader hints followed in a row without backoff before backing off anyway; default 3. */
  maxImmediateRedirects?: number;
  /** Run inside this actor system (its clock, logger, metrics); else the driver makes one. */
  system?: ActorSystem;
  /** For the system the driver makes. */
  clock?: Clock;
  logger?: Logger;
  /** Jitter source; default seeded from the time. */
  random?: Random;
}

export const DRIVER_DEFAULTS = {
  implicitAcknowledgements: true,
  acceptUpdateBatches: true,
  reconcileOnSubscribe: true,
  maxMissedHeartbeats: 5,
  subscribeTimeoutMs: 15_000,
  callTimeoutMs: 10_000,
  backoff: { initialMs: 500, maxMs: 30_000 },
  promptRetry: { windowMs: 5_000, maxDelayMs: 200 },
  maxImmediateRedirects: 3,
  acknowledgements: { maxBatch: 1000, maxInFlight: 2 },
} as const;
