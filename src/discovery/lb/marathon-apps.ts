/**
 * The part of Marathon's public REST shapes the load balancer reads: `GET
 * /v2/apps?embed=apps.tasks` gives apps with their labels, service ports and tasks. Any
 * Marathon-compatible API (ours in src/frameworks/services, or Marathon itself) works.
 */

export interface MarathonHealthCheckResult {
  alive: boolean;
}

export interface MarathonTask {
  id: string;
  appId?: string;
  host: string;
  /** Host ports, in the order of the app's port definitions. */
  ports?: number[];
  servicePorts?: number[];
  /** TASK_RUNNING, TASK_STAGING, … (Marathon 1.x); absent in older versions. */
  state?: string;
  startedAt?: string | null;
  healthCheckResults?: MarathonHealthCheckResult[];
}

export interface MarathonPortMapping {
  containerPort?: number;
  hostPort?: number;
  servicePort?: number;
  name?: string;
  protocol?: string;
}

export interface MarathonApp {
  id: string;
  labels?: Record<string, string>;
  portDefinitions?: { port?: number; name?: string; protocol?: string }[];
  ports?: number[];
  container?: { type?: string; portMappings?: MarathonPortMapping[]; docker?: { portMappings?: MarathonPortMapping[] } } | null;
  healthChecks?: unknown[];
  tasks?: MarathonTask[];
}

/** The app's service ports in order: port definitions, else the container's port mappings, else `ports`. */
export function servicePorts(app: MarathonApp): number[] {
  if (app.portDefinitions && app.portDefinitions.length > 0) return app.portDefinitions.map((p) => p.port ?? 0);
  const mappings = app.container?.portMappings ?? app.container?.docker?.portMappings;
  if (mappings && mappings.length > 0) return mappings.map((m) => m.servicePort ?? 0);
  return app.ports ?? [];
}

/**
 * Whether a task may take traffic: running (TASK_RUNNING, or started when the API gives no
 * state) and, when the app has health checks, every result in and alive. A task whose
 * health is not known yet takes no traffic.
 */
export function isReady(app: MarathonApp, task: MarathonTask): boolean {
  if (task.state !== undefined ? task.state !== "TASK_RUNNING" : !task.startedAt) return false;
  if (!app.healthChecks || app.healthChecks.length === 0) return true;
  const results = task.healthCheckResults ?? [];
  return results.length > 0 && results.every((r) => r && r.alive === true);
}

/** Parses `GET /v2/apps` JSON; throws with what is wrong. */
export function parseApps(json: unknown): MarathonApp[] {
  const apps = (json as { apps?: unknown })?.apps;
  if (!Array.isArray(apps)) throw new Error("GET /v2/apps answered without an `apps` array");
  return apps.filter((a): a is MarathonApp => typeof a === "object" && a !== null && typeof (a as MarathonApp).id === "string");
}
