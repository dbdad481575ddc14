/**
 * The master's JSON as the web UI reads it (/state in Mesos's key names, /events, the UI's
 * own /ui/* routes), and one fetch helper whose errors carry the server's message.
 */
import type { ResourceSample } from "../resource-sample.js";

export type { ResourceSample };

export type Resources = Record<string, number | string> & { cpus: number; mem: number; disk: number; gpus: number };

export interface TaskStatusJson {
  state: string;
  timestamp: number;
  message?: string;
}

export interface TaskJson {
  id: string;
  name: string;
  framework_id: string;
  executor_id: string;
  slave_id: string;
  state: string;
  resources: Resources;
  role: string;
  statuses: TaskStatusJson[];
}

export interface AgentJson {
  id: string;
  pid: string;
  hostname: string;
  port: number;
  registered_time: number;
  active: boolean;
  attributes: Record<string, string | number>;
  resources: Resources;
  used_resources: Resources;
  offered_resources: Resources;
  /** Deactivated by the operator (or draining): not offered. */
  deactivated?: boolean;
  drain_info?: { state: string; config: { mark_gone: boolean; max_grace_period?: { nanoseconds: number } } };
}

export interface MaintenanceStatusJson {
  draining_machines: Array<{
    id: { hostname: string; ip: string };
    unavailability: { start: { nanoseconds: number }; duration: { nanoseconds: number } };
    statuses: Array<{ framework_id: string; agent_id: string; status: string; timestamp: number }>;
  }>;
  down_machines: Array<{ hostname: string; ip: string }>;
}

export interface FrameworkJson {
  id: string;
  name: string;
  user: string;
  role: string;
  roles: string[];
  hostname: string;
  active: boolean;
  connected: boolean;
  registered_time: number;
  webui_url?: string;
  labels?: { key: string; value: string }[];
  used_resources?: Resources;
  offered_resources?: Resources;
  tasks: TaskJson[];
  unreachable_tasks?: TaskJson[];
  completed_tasks: TaskJson[];
}

export interface StateJson {
  version: string;
  id: string;
  pid: string;
  hostname: string;
  cluster: string;
  start_time: number;
  leader: string;
  state_version: number;
  activated_slaves: number;
  unreachable_slaves: number;
  slaves: AgentJson[];
  frameworks: FrameworkJson[];
  /** Machines with maintenance ahead (and the frameworks' answers) and machines down now. */
  maintenance_status?: MaintenanceStatusJson;
  completed_frameworks: FrameworkJson[];
}

/** A cluster event in its JSON form: `{type, sequence, timestamp, source, <kind>: {...}}`. */
export interface EventJson {
  type: string;
  sequence: number;
  timestamp?: number;
  source?: string;
  [kind: string]: unknown;
}

/** GET /quota: Mesos 1.9's configs, plus what each role consumes now. */
export interface QuotaJson {
  configs: Array<{ role: string; guarantees: Record<string, { value: number }>; limits: Record<string, { value: number }>; consumed: Record<string, number | string> }>;
}

export interface ResourceHistoryJson {
  interval_ms: number;
  window_ms: number;
  samples: ResourceSample[];
}

export interface FileEntry {
  path: string;
  size: number;
  mtime: number;
  mode: string;
}

export interface FileChunk {
  data: string;
  offset: number;
}

/** POSTs JSON and reads the JSON answer; a non-2xx answer throws with the server's `message`. */
export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const r = await fetch(url, { method: "POST", headers: { accept: "application/json", "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = (await r.json().catch(() => ({}))) as { message?: string };
  if (!r.ok) throw new Error(`${r.status}: ${json.message ?? r.statusText}`);
  return json as T;
}

/** GETs JSON; a non-2xx answer throws with the server's `message`. */
export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${r.status} with a body that is not JSON`);
  }
  if (!r.ok) {
    const message = (body as { message?: string }).message ?? text;
    throw new Error(`${r.status}: ${message}`);
  }
  return body as T;
}
