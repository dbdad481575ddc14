import type { Counter, Metrics } from "../../metrics/metrics.js";

/** The driver's counters, under scheduler_driver/ in the actor system's metrics. */
export interface DriverCounters {
  subscribed: Counter;
  disconnections: Counter;
  heartbeatTimeouts: Counter;
  redirects: Counter;
  events: Counter;
  updateBatches: Counter;
  dropped: Counter;
  callbackErrors: Counter;
  callsFailed: Counter;
  acknowledgeCalls: Counter;
  acknowledgements: Counter;
  suppressionResent: Counter;
  retriesReset: Counter;
}

export function driverCounters(metrics: Metrics): DriverCounters {
  const counter = (key: string, help: string): Counter => metrics.counter(`scheduler_driver/${key}`, help);
  return {
    subscribed: counter("subscribed", "SUBSCRIBED events received (first subscriptions and resubscriptions)"),
    disconnections: counter("disconnections", "Event streams that broke or failed"),
    heartbeatTimeouts: counter("heartbeat_timeouts", "Streams given up for missed heartbeats or a slow SUBSCRIBED"),
    redirects: counter("redirects", "Leader hints followed"),
    events: counter("events_received", "Events received on the current stream"),
    updateBatches: counter("update_batches_received", "UPDATES events received (each update in one also counts in events_received)"),
    dropped: counter("dropped_events", "Events dropped (replaced stream, before SUBSCRIBED, unknown kind)"),
    callbackErrors: counter("callback_errors", "Exceptions thrown by scheduler callbacks"),
    callsFailed: counter("calls_failed", "Calls to the master that failed"),
    acknowledgeCalls: counter("acknowledge_calls", "ACKNOWLEDGE and AcknowledgeBatch calls sent"),
    acknowledgements: counter("acknowledgements_sent", "Acknowledgements sent (all calls; a batch counts each)"),
    suppressionResent: counter("suppression_resent", "SUPPRESS or REVIVE calls the driver sent after SUBSCRIBED for what the scheduler asked while the Subscribe was on its way"),
    retriesReset: counter("retries_reset", "Times a newly announced leader ended the reconnect backoff (prompt retries again)"),
  };
}
