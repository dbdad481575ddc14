/**
 * Reading the event tap: live from the subjects, or with `since` from the cluster's
 * JetStream stream starting at a point in time. Each event is printed as one line for
 * humans or as one JSON object per line.
 */
import { natsConnectOptions, type NatsSecurity } from "../runtime/transports/nats-security.js";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import { TaskState } from "../gen/dcos/v1/tasks_pb.js";
import { eventJson, eventStreamName, eventTypeName, subjectFilter } from "./kinds.js";
import { tapMessageEvents } from "./tap-message.js";

export interface TailOptions {
  url: string;
  /** TLS and credentials for NATS. */
  security?: NatsSecurity;
  cluster: string;
  kind?: string;
  /** Replay from this time (needs JetStream). */
  since?: Date;
  json?: boolean;
  /** Where lines go. */
  write: (line: string) => void;
  /** Stops tailing. */
  signal?: AbortSignal;
  /** Called once the server has the subscription (live tails miss nothing after it). */
  ready?: () => void;
}

/** TASK_RUNNING, as operators read task states (the number when the enum does not know it). */
function stateName(state: TaskState): string {
  return TaskState[state] === undefined ? `TASK_STATE_${state}` : `TASK_${TaskState[state]}`;
}

/** One line for humans: time, type, and what it is about. */
export function eventLine(e: ClusterEvent): string {
  const time = new Date(e.timestamp * 1000).toISOString();
  const type = e.kind.case ? eventTypeName(e.kind.case) : "UNKNOWN";
  const k = e.kind;
  let what = "";
  switch (k.case) {
    case "taskAdded":
      what = `task ${k.value.task?.taskId?.value} of framework ${k.value.task?.frameworkId?.value} on agent ${k.value.task?.agentId?.value}`;
      break;
    case "taskUpdated":
      what = `task ${k.value.status?.taskId?.value} of framework ${k.value.frameworkId?.value} is now ${stateName(k.value.state)}${k.value.status?.message ? `: ${k.value.status.message}` : ""}`;
      break;
    case "statusUpdate":
      what = `task ${k.value.status?.taskId?.value} of framework ${k.value.frameworkId?.value}: ${stateName(k.value.status?.state ?? TaskState.UNSPECIFIED)}`;
      break;
    case "agentAdded":
      what = `agent ${k.value.agent?.agentInfo?.id?.value} (${k.value.agent?.agentInfo?.hostname})`;
      break;
    case "agentRemoved":
      what = `agent ${k.value.agentId?.value}: ${k.value.reason}`;
      break;
    case "frameworkAdded":
    case "frameworkUpdated":
      what = `framework ${k.value.framework?.frameworkInfo?.id?.value} (${k.value.framework?.frameworkInfo?.name})${k.value.framework?.connected ? "" : " disconnected"}`;
      break;
    case "frameworkRemoved":
      what = `framework ${k.value.frameworkInfo?.id?.value} (${k.value.frameworkInfo?.name}): ${k.value.reason}`;
      break;
    case "offersMade":
      what = `${k.value.offers.length} offer(s) to framework ${k.value.offers[0]?.frameworkId?.value}`;
      break;
    case "offersDeclined":
      what = `framework ${k.value.frameworkId?.value} declined ${k.value.offerIds.map((o) => o.value).join(", ")} for ${k.value.refuseSeconds} s`;
      break;
    case "offerRescinded":
      what = `offer ${k.value.offer?.id?.value}: ${k.value.reason}`;
      break;
    case "leaderChanged":
      what = k.value.leader ? `leader is ${k.value.leader.pid}` : "no leader";
      break;
    default:
      break;
  }
  return `${time} ${e.source} #${e.sequence} ${type}${what ? ` ${what}` : ""}`;
}

function format(e: ClusterEvent, json: boolean | undefined): string {
  return json ? JSON.stringify(eventJson(e)) : eventLine(e);
}

/** Tails until the signal aborts (or the connection closes). */
export async function tailEvents(o: TailOptions): Promise<void> {
  const subject = subjectFilter(o.cluster, o.kind);
  const nc: NatsConnection = await connect({ servers: o.url, name: "dcos-node events", ...(await natsConnectOptions(o.security)) });
  const stop = (): void => void nc.drain().catch(() => nc.close());
  o.signal?.addEventListener("abort", stop, { once: true });
  try {
    if (o.since) {
      const js = jetstream(nc);
      const consumer = await js.consumers
        .get(eventStreamName(o.cluster), { filter_subjects: subject, deliver_policy: DeliverPolicy.StartTime, opt_start_time: o.since.toISOString() })
        .catch((err: unknown) => {
          throw new Error(`--since needs the JetStream stream ${eventStreamName(o.cluster)} on ${o.url} (run nats-server with -js): ${(err as Error).message}`);
        });
      const messages = await consumer.consume();
      o.signal?.addEventListener("abort", () => void messages.close(), { once: true });
      for await (const m of messages) for (const e of tapMessageEvents(m.data, m.headers)) o.write(format(e, o.json));
    } else {
      const sub = nc.subscribe(subject);
      await nc.flush();
      o.ready?.();
      for await (const m of sub) for (const e of tapMessageEvents(m.data, m.headers)) o.write(format(e, o.json));
    }
  } finally {
    o.signal?.removeEventListener("abort", stop);
    if (!nc.isClosed()) await nc.close();
  }
}
