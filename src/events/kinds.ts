/**
 * Cluster event kinds and their names: the NATS subject token (`task.updated`, so that
 * `dcos.<cluster>.events.task.>` selects every task event) and the Operator API type name
 * (`TASK_UPDATED`, as Mesos operators know it), plus the JSON form tools and the web UI read.
 */
import { toJson } from "@bufbuild/protobuf";
import { ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";

export type ClusterEventCase = NonNullable<ClusterEvent["kind"]["case"]>;
/** A ClusterEvent's kind without the $typeName boilerplate of its own fields. */
export type ClusterEventKind = ClusterEvent["kind"];

/** Subject token per kind; the part after `dcos.<cluster>.events.`. */
export const EVENT_SUBJECT_TOKENS: Readonly<Record<ClusterEventCase, string>> = {
  subscribed: "subscribed",
  taskAdded: "task.added",
  taskUpdated: "task.updated",
  agentAdded: "agent.added",
  agentRemoved: "agent.removed",
  frameworkAdded: "framework.added",
  frameworkUpdated: "framework.updated",
  frameworkRemoved: "framework.removed",
  offersMade: "offer.made",
  offersDeclined: "offer.declined",
  offerRescinded: "offer.rescinded",
  statusUpdate: "status.update",
  leaderChanged: "leader.changed",
  heartbeat: "heartbeat",
};

/** Every kind, in a fixed order: a kind's index names it compactly (the tap's batches). */
export const EVENT_CASES = Object.keys(EVENT_SUBJECT_TOKENS) as readonly ClusterEventCase[];
/** A plain object, not a Map: a property read per event costs less than hashing in Map.get. */
const CASE_INDEX = Object.fromEntries(EVENT_CASES.map((c, i) => [c, i])) as Readonly<Record<ClusterEventCase, number>>;

export function eventCaseIndex(kind: ClusterEventCase): number {
  return CASE_INDEX[kind];
}

/** "taskUpdated" → "TASK_UPDATED". */
export function eventTypeName(kind: ClusterEventCase): string {
  return kind.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** Cluster names become one subject token: letters, digits, '-' and '_' only. */
export function clusterToken(cluster: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) {
    throw new Error(`Invalid cluster name '${cluster}': use letters, digits, '-' and '_' (it becomes a NATS subject token)`);
  }
  return cluster;
}

export function eventsSubjectPrefix(cluster: string): string {
  return `dcos.${clusterToken(cluster)}.events`;
}

export function subjectFor(cluster: string, kind: ClusterEventCase): string {
  return `${eventsSubjectPrefix(cluster)}.${EVENT_SUBJECT_TOKENS[kind]}`;
}

/**
 * The subject filter for `--kind`: a family ("task" → `…events.task.>`), one kind
 * ("task.updated", "task_updated" or "TASK_UPDATED"), or everything when absent.
 */
export function subjectFilter(cluster: string, kind?: string): string {
  const prefix = eventsSubjectPrefix(cluster);
  if (!kind) return `${prefix}.>`;
  const token = kind.toLowerCase().replace(/_/g, ".");
  const tokens = Object.values(EVENT_SUBJECT_TOKENS);
  if (tokens.includes(token)) return `${prefix}.${token}`;
  if (tokens.some((t) => t.startsWith(`${token}.`))) return `${prefix}.${token}.>`;
  const families = [...new Set(tokens.map((t) => t.split(".")[0]!))];
  throw new Error(`Unknown event kind '${kind}': use one of ${families.join(", ")} or a full kind such as ${tokens.slice(1, 3).join(", ")}`);
}

/** The JSON form for humans and the web UI: `{type, sequence, timestamp, source, <kind>: {...}}`. */
export function eventJson(event: ClusterEvent): Record<string, unknown> {
  const json = toJson(ClusterEventSchema, event, { alwaysEmitImplicit: false }) as Record<string, unknown>;
  const type = event.kind.case ? eventTypeName(event.kind.case) : "UNKNOWN";
  return { type, sequence: Number(event.sequence), ...json };
}

/** The JetStream stream holding a cluster's events. */
export function eventStreamName(cluster: string): string {
  return `DCOS_${cluster.toUpperCase().replace(/-/g, "_")}_EVENTS`;
}
