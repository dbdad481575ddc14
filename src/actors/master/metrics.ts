/**
 * The master's metrics under the names Mesos operators know (master/tasks_running,
 * master/slaves_unreachable, master/dropped_messages, …). Gauges read the master's
 * incremental counts (counts.ts; O(1) per gauge at any cluster size); counters are bumped
 * where things happen.
 */
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Counter, Metrics, Samples } from "../../metrics/metrics.js";
import type { Quantities } from "../../resources/index.js";
import type { MasterCounts } from "./counts.js";
import { METERED_RESOURCES, type MeteredResource } from "./resource-usage.js";
import { isTerminal, metricStateName } from "../task-states.js";

/** Messages and calls the master counts as master/messages_<name>. */
export const MESSAGE_KINDS = [
  "register_agent",
  "reregister_agent",
  "unregister_agent",
  "agent_pong",
  "status_update",
  "exited_executor",
  "executor_to_framework",
  "update_agent",
  "subscribe",
  "accept",
  "decline",
  "revive",
  "suppress",
  "kill",
  "shutdown",
  "acknowledge",
  "reconcile",
  "framework_to_executor",
  "teardown",
  "update_framework",
  "accept_inverse_offers",
  "decline_inverse_offers",
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** Reasons the master drops something; each is master/<reason> and adds to master/dropped_messages. */
export const DROP_KINDS = [
  "invalid_status_updates",
  "invalid_status_update_acknowledgements",
  "invalid_framework_to_executor_messages",
  "invalid_executor_to_framework_messages",
  "invalid_kills",
  "invalid_pongs",
  "invalid_offers",
  "invalid_agent_messages",
  "unauthorized_agent_messages",
  "invalid_allocations",
] as const;
export type DropKind = (typeof DROP_KINDS)[number];

export interface MasterGauges {
  /** The leading term's counts (empty ones on a standby). */
  counts: () => MasterCounts;
  outstandingOffers: () => number;
  /** Scalar resources in outstanding offers. */
  offered: () => Quantities;
  eventQueue: () => number;
}

function percent(counts: MasterCounts, name: MeteredResource): number {
  const total = counts.total.get(name);
  return total === 0 ? 0 : (100 * counts.used.get(name)) / total;
}

export class MasterMetrics {
  private readonly messages: Record<MessageKind, Counter>;
  private readonly drops: Record<DropKind, Counter>;
  private readonly dropped: Counter;
  /** Terminal states are cumulative counters (tasks that ever ended so), as in Mesos. */
  private readonly terminal = new Map<TaskState, Counter>();
  readonly validStatusUpdates: Counter;
  readonly validAcknowledgements: Counter;
  /** Acknowledgements of an update already acknowledged (a copy delivered twice): not drops. */
  readonly duplicateAcknowledgements: Counter;
  readonly offersRescinded: Counter;
  readonly offersDeclined: Counter;
  readonly offersAccepted: Counter;
  readonly agentRegistrations: Counter;
  /** Agents admitted per registry entry (admission-batch.ts). */
  readonly admissionsPerEntry: Samples;
  readonly agentChangesPerEntry: Samples;
  readonly agentReregistrations: Counter;
  readonly agentTaskReconciliations: Counter;
  readonly agentsUnreachableCompleted: Counter;
  readonly agentsUnreachableScheduled: Counter;
  readonly agentsUnreachableCanceled: Counter;
  readonly agentRemovals: Counter;
  readonly frameworksRemoved: Counter;
  readonly slowSchedulersDisconnected: Counter;
  readonly schedulersBackedUp: Counter;
  readonly frameworkOffersPaused: Counter;
  readonly tasksLaunched: Counter;
  readonly tasksInvalid: Counter;
  readonly tasksDropped: Counter;

  /** An agent's update's timestamp to the master handling it (status-updates.ts). */
  readonly statusUpdateAge: Samples;
  constructor(metrics: Metrics, gauges: MasterGauges, startedAtMs: number, now: () => number) {
    const c = (key: string, help: string): Counter => metrics.counter(`master/${key}`, help);
    this.messages = Object.fromEntries(MESSAGE_KINDS.map((k) => [k, c(`messages_${k}`, `Master received ${k}`)])) as Record<MessageKind, Counter>;
    this.drops = Object.fromEntries(DROP_KINDS.map((k) => [k, c(k, `Master dropped: ${k}`)])) as Record<DropKind, Counter>;
    this.dropped = c("dropped_messages", "Messages and calls the master dropped");
    this.validStatusUpdates = c("valid_status_updates", "Status updates forwarded");
    this.validAcknowledgements = c("valid_status_update_acknowledgements", "Acknowledgements forwarded to agents");
    this.duplicateAcknowledgements = c("duplicate_status_update_acknowledgements", "Acknowledgements of updates already acknowledged (copies of an update delivered twice)");
    this.offersRescinded = c("offers_rescinded", "Offers rescinded");
    this.offersDeclined = c("offers_declined", "Offers declined");
    this.offersAccepted = c("offers_accepted", "Offers accepted");
    this.agentRegistrations = c("slave_registrations", "Agents admitted");
    this.admissionsPerEntry = metrics.sampled("master/registrar_admissions_per_entry", "Agents admitted per registry entry (registration storms are batched)");
    this.agentChangesPerEntry = metrics.sampled("master/registrar_agent_changes_per_entry", "Agents marked reachable or unreachable per registry entry (batched per turn)");
    this.statusUpdateAge = metrics.sampled(
      "master/status_update_age_ms",
      "Milliseconds from an agent's status update's timestamp (the agent's clock, when it made or sent it) to the master handling it: the agent -> master hop of a launch's legs on one host",
    );
    this.agentReregistrations = c("slave_reregistrations", "Agents reregistered");
    this.agentTaskReconciliations = c(
      "slave_task_reconciliations",
      "Tasks a reregistering agent did not list, asked about at the agent (ReconcileAgentTasks)",
    );
    this.agentsUnreachableCompleted = c("slave_unreachable_completed", "Agents marked unreachable");
    this.agentsUnreachableScheduled = c("slave_unreachable_scheduled", "Agents that missed their pings, queued for the unreachable rate limit");
    this.agentsUnreachableCanceled = c("slave_unreachable_canceled", "Queued agents that answered a ping before their permit");
    this.agentRemovals = c("slave_removals", "Agents removed");
    this.frameworksRemoved = c("frameworks_removed", "Frameworks torn down or timed out");
    this.slowSchedulersDisconnected = c("slow_schedulers_disconnected", "Scheduler streams cut because events piled up unread");
    this.schedulersBackedUp = c("schedulers_backed_up", "Times a scheduler's offers were paused because its stream was backed up");
    this.frameworkOffersPaused = c("framework_offers_paused", "Times a framework's offers were paused because it held max_offers_per_framework outstanding offers");
    this.tasksLaunched = c("tasks_launched", "Tasks sent to agents");
    this.tasksInvalid = c("invalid_tasks", "Tasks refused with TASK_ERROR");
    this.tasksDropped = c("dropped_tasks", "Tasks refused with TASK_DROPPED (invalid offers)");

    for (const s of Object.values(TaskState)) {
      if (typeof s !== "number" || s === TaskState.UNSPECIFIED) continue;
      const key = `master/tasks_${metricStateName(s)}`;
      if (isTerminal(s)) this.terminal.set(s, metrics.counter(key, `Tasks that reached ${metricStateName(s)}`));
      else metrics.gauge(key, () => gauges.counts().tasksIn(s), `Tasks now ${metricStateName(s)}`);
    }
    const g = (key: string, read: () => number, help: string): void => metrics.gauge(`master/${key}`, read, help);
    g("elected", () => 1, "1 on the leading master");
    g("uptime_secs", () => (now() - startedAtMs) / 1000, "Seconds since the master started");
    g("frameworks_connected", () => gauges.counts().frameworks().connected, "Frameworks with an open stream");
    g("frameworks_disconnected", () => gauges.counts().frameworks().disconnected, "Frameworks in failover");
    g("frameworks_active", () => gauges.counts().frameworks().active, "Frameworks receiving offers");
    g("frameworks_inactive", () => gauges.counts().frameworks().inactive, "Frameworks not receiving offers");
    g("slaves_active", () => gauges.counts().agents().active, "Agents whose resources are offered");
    g("slaves_inactive", () => gauges.counts().agents().inactive, "Registered agents not offered");
    g("slaves_connected", () => gauges.counts().agents().connected, "Agents answering pings");
    g("slaves_disconnected", () => gauges.counts().agents().disconnected, "Agents missing pings");
    g("slaves_unreachable", () => gauges.counts().agents().unreachable, "Agents marked unreachable");
    g("outstanding_offers", gauges.outstandingOffers, "Offers sent and not yet used");
    g("event_queue_messages", gauges.eventQueue, "Items in the master's mailbox");
    for (const name of METERED_RESOURCES) {
      g(`${name}_total`, () => gauges.counts().total.get(name), `${name} of the registered, reachable agents`);
      g(`${name}_used`, () => gauges.counts().used.get(name), `${name} held by tasks and executors`);
      g(`${name}_offered`, () => gauges.offered().get(name), `${name} in outstanding offers`);
      g(`${name}_percent`, () => percent(gauges.counts(), name), `${name}_used as a percentage of ${name}_total`);
    }
  }

  message(kind: MessageKind): void {
    this.messages[kind].inc();
  }

  drop(kind: DropKind): void {
    this.drops[kind].inc();
    this.dropped.inc();
  }

  /** A task entered a terminal state (counted once per task). */
  taskEnded(state: TaskState): void {
    this.terminal.get(state)?.inc();
  }
}
