/**
 * Marathon app definitions: accepted as Marathon accepts them (same field names and
 * defaults), validated with precise messages, and kept whole: fields we do not know are
 * kept and echoed. `normalizeApp` fills the defaults into a copy of the JSON;
 * `appSpec` reads the typed view the planner works with.
 */
import { normalizeResidency, residencySpec, type ResidencySpec } from "./residency.js";
import { hostVolumeSpecs, normalizeHostVolumes, type HostVolumeSpec } from "./host-volumes.js";

import type { AppJson, Json } from "./app-json.js";

export type { AppJson, Json } from "./app-json.js";

/** One validation problem, as Marathon's 422 body lists them: `{path, errors}`. */
export interface Violation {
  path: string;
  errors: string[];
}

export class InvalidApp extends Error {
  constructor(readonly details: Violation[]) {
    super(`Object is not valid: ${details.map((d) => `${d.path}: ${d.errors.join("; ")}`).join(", ")}`);
  }
}

export interface HealthCheckSpec {
  protocol: string;
  path: string;
  portIndex: number;
  port?: number;
  command?: string;
  gracePeriodSeconds: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
  delaySeconds: number;
}

/** Marathon's readiness check: an HTTP(S) GET by the scheduler that tells when a new instance may take traffic. */
export interface ReadinessCheckSpec {
  name: string;
  protocol: "HTTP" | "HTTPS";
  path: string;
  /** The name of the app port to probe. */
  portName: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  httpStatusCodesForReady: number[];
  preserveLastResponse: boolean;
}

/** Health check protocols only the agent can run (they go into the TaskInfo; at most one per app). */
export const AGENT_ONLY_PROTOCOLS: ReadonlySet<string> = new Set(["MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "COMMAND"]);

export interface PortSpec {
  /**
   * The host port asked for: a bridge mapping's hostPort, else the port definition's port
   * (which is the service port, used as the host port only with requirePorts). 0: any port
   * from the offer.
   */
  port: number;
  /** The cluster-unique service port (service-ports.ts; 0 until assigned). */
  servicePort: number;
  name?: string;
  protocol: string;
  /** Docker bridge: the port inside the container. */
  containerPort?: number;
}

export type Constraint = [string, string, string?];

/** The typed view of a normalized app. */
export interface AppSpec {
  id: string;
  cmd?: string;
  args?: string[];
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  instances: number;
  env: Record<string, string>;
  labels: Record<string, string>;
  user?: string;
  constraints: Constraint[];
  acceptedResourceRoles: string[];
  ports: PortSpec[];
  requirePorts: boolean;
  healthChecks: HealthCheckSpec[];
  /**
   * Which health check the executor runs (the TaskInfo has one): the app's MESOS_* or
   * COMMAND check if it has one, else its first. The others (HTTP, HTTPS, TCP) are run by
   * the scheduler (instance-checks.ts), as Marathon runs them. Undefined: no checks.
   */
  executorCheck?: number;
  readinessChecks: ReadinessCheckSpec[];
  minimumHealthCapacity: number;
  maximumOverCapacity: number;
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  killSelection: "YOUNGEST_FIRST" | "OLDEST_FIRST";
  inactiveAfterSeconds: number;
  expungeAfterSeconds: number;
  taskKillGracePeriodSeconds?: number;
  dependencies: string[];
  docker?: { image: string; network: string; privileged: boolean; forcePullImage: boolean; parameters: { key: string; value: string }[] };
  fetch: { uri: string; extract: boolean; executable: boolean; cache: boolean; destPath?: string }[];
  /** Persistent local volumes (resident app): containerPath and size in MB. */
  persistentVolumes: { containerPath: string; size: number }[];
  /** Host path volumes (`hostPath`, DOCKER and MESOS containers): the agent mounts them (host-volumes.ts). */
  hostVolumes: HostVolumeSpec[];
  /** Set for a resident app (one with persistent volumes): how its instances wait for their reservations. */
  residency?: ResidencySpec;
  /** Seconds a deployment of this app may take before it fails (label or field `deploymentTimeoutSeconds`; 0: none). */
  deploymentTimeoutSeconds: number;
  /** Roll back to the previous version when a deployment fails. */
  rollbackOnFailure: boolean;
}

const MAX_INSTANCES = 100_000;
const MAX_APP_BYTES = 512 * 1024;
const ID_SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$/;

/** An app id as an absolute path: "/a/b" (relative ids are made absolute; "." and ".." resolved). */
export function canonicalId(id: string, base = "/"): string {
  const parts = (id.startsWith("/") ? id : `${base.replace(/\/$/, "")}/${id}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return `/${out.join("/")}`;
}

const isObj = (v: unknown): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);

/** Fills Marathon's defaults into a copy of `raw` (unknown fields kept). Throws InvalidApp. */
export function normalizeApp(raw: unknown, options: { idFromPath?: string } = {}): AppJson {
  const v: Violation[] = [];
  const bad = (path: string, error: string) => {
    const d = v.find((x) => x.path === path);
    if (d) d.errors.push(error);
    else v.push({ path, errors: [error] });
  };
  if (!isObj(raw)) throw new InvalidApp([{ path: "/", errors: ["An app definition must be a JSON object"] }]);
  if (JSON.stringify(raw).length > MAX_APP_BYTES) throw new InvalidApp([{ path: "/", errors: [`An app definition must be at most ${MAX_APP_BYTES} bytes`] }]);
  const app: AppJson = structuredClone(raw);
  const rawId = typeof app["id"] === "string" ? (app["id"] as string) : options.idFromPath;
  if (rawId === undefined || rawId === "") bad("/id", "id is required (a path such as /product/service)");
  else {
    const id = canonicalId(rawId);
    if (id === "/") bad("/id", "id must not be the root group");
    for (const seg of id.split("/").slice(1)) {
      if (!ID_SEGMENT.test(seg)) {
        bad("/id", `'${seg}' is not a valid path segment: use lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit`);
        break;
      }
    }
    app["id"] = id;
  }
  const num = (key: string, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER, integer = false) => {
    const x = app[key];
    if (x === undefined || x === null) {
      app[key] = dflt;
      return;
    }
    if (typeof x !== "number" || !Number.isFinite(x)) return bad(`/${key}`, `${key} must be a number`);
    if (integer && !Number.isInteger(x)) return bad(`/${key}`, `${key} must be an integer`);
    if (x < min) bad(`/${key}`, `${key} must be at least ${min}`);
    if (x > max) bad(`/${key}`, `${key} must be at most ${max}`);
  };
  num("cpus", 1, 0);
  num("mem", 128, 0);
  num("disk", 0, 0);
  num("gpus", 0, 0, 1024, true);
  num("instances", 1, 0, MAX_INSTANCES, true);
  num("backoffSeconds", 1, 0);
  num("backoffFactor", 1.15, 1);
  num("maxLaunchDelaySeconds", 300, 0);
  const cmd = app["cmd"];
  const args = app["args"];
  if (cmd !== undefined && cmd !== null && typeof cmd !== "string") bad("/cmd", "cmd must be a string");
  if (args !== undefined && args !== null && !(Array.isArray(args) && args.every((a) => typeof a === "string"))) bad("/args", "args must be an array of strings");
  const hasCmd = typeof cmd === "string" && cmd.trim() !== "";
  const hasArgs = Array.isArray(args) && args.length > 0;
  const container = app["container"];
  const dockerImage = isObj(container) && isObj(container["docker"]) ? container["docker"]["image"] : undefined;
  if (hasCmd && hasArgs) bad("/", "AppDefinition must either contain one of 'cmd' or 'args', and not both");
  if (!hasCmd && !hasArgs && !(typeof dockerImage === "string" && dockerImage !== "")) {
    bad("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'");
  }
  for (const key of ["env", "labels"]) {
    const o = app[key];
    if (o === undefined || o === null) app[key] = {};
    else if (!isObj(o)) bad(`/${key}`, `${key} must be an object`);
    else
      for (const [k, val] of Object.entries(o)) {
        if (key === "env" && isObj(val) && typeof val["secret"] === "string") continue;
        if (typeof val !== "string") bad(`/${key}/${k}`, `${key} values must be strings`);
      }
  }
  const list = (key: string) => {
    const x = app[key];
    if (x === undefined || x === null) app[key] = [];
    else if (!Array.isArray(x)) bad(`/${key}`, `${key} must be an array`);
  };
  for (const key of ["constraints", "healthChecks", "readinessChecks", "dependencies", "fetch", "uris", "storeUrls"]) list(key);
  if (app["acceptedResourceRoles"] !== undefined && app["acceptedResourceRoles"] !== null) {
    const r = app["acceptedResourceRoles"];
    if (!Array.isArray(r) || !r.every((x) => typeof x === "string")) bad("/acceptedResourceRoles", "acceptedResourceRoles must be an array of role names");
  }
  validateConstraints(app["constraints"], bad);
  if (Array.isArray(app["dependencies"]) && typeof app["id"] === "string") {
    const parent = (app["id"] as string).split("/").slice(0, -1).join("/") || "/";
    app["dependencies"] = (app["dependencies"] as Json[]).map((d, i) => {
      if (typeof d !== "string") {
        bad(`/dependencies(${i})`, "dependencies must be app ids");
        return d;
      }
      return canonicalId(d, parent);
    });
  }
  // Ports: portDefinitions (or the legacy `ports`), unless Docker bridge portMappings give them.
  const mappings = isObj(container) ? (isObj(container["docker"]) ? container["docker"]["portMappings"] : undefined) ?? container["portMappings"] : undefined;
  // The legacy `ports` (service ports; 0 = assign one) becomes portDefinitions; the API shows
  // `ports` again from them. Given both (a GET body sent back), portDefinitions win.
  const legacyPorts = app["ports"];
  delete app["ports"];
  if (legacyPorts !== undefined && legacyPorts !== null && !Array.isArray(legacyPorts)) bad("/ports", "ports must be an array of port numbers");
  if (app["portDefinitions"] === undefined || app["portDefinitions"] === null) {
    if (Array.isArray(legacyPorts)) {
      app["portDefinitions"] = legacyPorts.map((p) => ({ port: p, protocol: "tcp", labels: {} }));
    } else if (mappings !== undefined && mappings !== null) {
      app["portDefinitions"] = [];
    } else {
      app["portDefinitions"] = [{ port: 0, protocol: "tcp", name: "default", labels: {} }];
    }
  }
  if (!Array.isArray(app["portDefinitions"])) bad("/portDefinitions", "portDefinitions must be an array");
  else
    (app["portDefinitions"] as Json[]).forEach((p, i) => {
      if (!isObj(p) || typeof p["port"] !== "number" || !Number.isInteger(p["port"]) || p["port"] < 0 || p["port"] > 65535) {
        bad(`/portDefinitions(${i})/port`, "port must be an integer in 0..65535");
      } else {
        p["protocol"] ??= "tcp";
        p["labels"] ??= {};
      }
    });
  if (mappings !== undefined && mappings !== null && !Array.isArray(mappings)) bad("/container/docker/portMappings", "portMappings must be an array");
  app["requirePorts"] ??= false;
  if (typeof app["requirePorts"] !== "boolean") bad("/requirePorts", "requirePorts must be a boolean");
  if (Array.isArray(app["healthChecks"])) {
    app["healthChecks"] = (app["healthChecks"] as Json[]).map((h, i) => normalizeHealthCheck(h, i, bad));
    const agentRun = (app["healthChecks"] as Json[]).filter((h) => isObj(h) && AGENT_ONLY_PROTOCOLS.has(String(h["protocol"])));
    if (agentRun.length > 1) bad("/healthChecks", `An app can have at most one health check run by the agent (${[...AGENT_ONLY_PROTOCOLS].join(", ")}); HTTP, HTTPS and TCP checks may be many`);
  }
  if (Array.isArray(app["readinessChecks"])) {
    const portNames = portNamesOf(app, mappings);
    const names = new Set<string>();
    app["readinessChecks"] = (app["readinessChecks"] as Json[]).map((r, i) => normalizeReadinessCheck(r, i, portNames, names, bad));
  }
  // Resident apps (persistent volumes) have their own defaults and rules (residency.ts).
  normalizeResidency(app, bad);
  const up = isObj(app["upgradeStrategy"]) ? app["upgradeStrategy"] : {};
  up["minimumHealthCapacity"] ??= 1;
  up["maximumOverCapacity"] ??= 1;
  for (const k of ["minimumHealthCapacity", "maximumOverCapacity"]) {
    const x = up[k];
    if (typeof x !== "number" || x < 0 || x > 1) bad(`/upgradeStrategy/${k}`, `${k} must be a number between 0 and 1`);
  }
  app["upgradeStrategy"] = up;
  const un = isObj(app["unreachableStrategy"]) ? app["unreachableStrategy"] : app["unreachableStrategy"] === "disabled" ? null : {};
  if (un) {
    un["inactiveAfterSeconds"] ??= 0 + 300;
    un["expungeAfterSeconds"] ??= 600;
    const ia = un["inactiveAfterSeconds"];
    const ex = un["expungeAfterSeconds"];
    if (typeof ia !== "number" || ia < 0) bad("/unreachableStrategy/inactiveAfterSeconds", "inactiveAfterSeconds must be a number >= 0");
    if (typeof ex !== "number" || (typeof ia === "number" && ex < ia)) {
      bad("/unreachableStrategy/expungeAfterSeconds", "expungeAfterSeconds must be a number >= inactiveAfterSeconds");
    }
    app["unreachableStrategy"] = un;
  }
  app["killSelection"] ??= "YOUNGEST_FIRST";
  if (app["killSelection"] !== "YOUNGEST_FIRST" && app["killSelection"] !== "OLDEST_FIRST") bad("/killSelection", "killSelection must be YOUNGEST_FIRST or OLDEST_FIRST");
  if (isObj(container)) {
    const type = container["type"] ?? (isObj(container["docker"]) ? "DOCKER" : "MESOS");
    container["type"] = type;
    if (type !== "DOCKER" && type !== "MESOS") bad("/container/type", "container type must be DOCKER or MESOS");
    if (type === "DOCKER" && !(isObj(container["docker"]) && typeof container["docker"]["image"] === "string" && container["docker"]["image"] !== "")) {
      bad("/container/docker/image", "a DOCKER container needs docker.image");
    }
    if (container["volumes"] !== undefined && !Array.isArray(container["volumes"])) bad("/container/volumes", "volumes must be an array");
    normalizeHostVolumes(app, bad);
  }
  if (v.length > 0) throw new InvalidApp(v);
  return app;
}

function normalizeHealthCheck(h: Json, i: number, bad: (p: string, e: string) => void): Json {
  if (!isObj(h)) {
    bad(`/healthChecks(${i})`, "a health check must be an object");
    return h;
  }
  h["protocol"] ??= "HTTP";
  const protocol = h["protocol"];
  const known = ["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"];
  if (typeof protocol !== "string" || !known.includes(protocol)) bad(`/healthChecks(${i})/protocol`, `protocol must be one of ${known.join(", ")}`);
  if (protocol === "COMMAND") {
    const c = h["command"];
    const value = isObj(c) ? c["value"] : c;
    if (typeof value !== "string" || value === "") bad(`/healthChecks(${i})/command`, "a COMMAND health check needs command.value");
  } else {
    if (h["port"] === undefined) h["portIndex"] ??= 0;
    if (String(protocol).includes("HTTP")) h["path"] ??= "/";
  }
  h["gracePeriodSeconds"] ??= 300;
  h["intervalSeconds"] ??= 60;
  h["timeoutSeconds"] ??= 20;
  h["maxConsecutiveFailures"] ??= 3;
  h["delaySeconds"] ??= 15;
  for (const k of ["gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "maxConsecutiveFailures", "delaySeconds"]) {
    if (typeof h[k] !== "number" || (h[k] as number) < 0) bad(`/healthChecks(${i})/${k}`, `${k} must be a number >= 0`);
  }
  if (typeof h["timeoutSeconds"] === "number" && typeof h["intervalSeconds"] === "number" && h["timeoutSeconds"] > h["intervalSeconds"] && h["intervalSeconds"] > 0) {
    bad(`/healthChecks(${i})/timeoutSeconds`, "timeoutSeconds must not be greater than intervalSeconds");
  }
  return h;
}

/** The names of an app's ports (port definitions, or the container's port mappings). */
function portNamesOf(app: AppJson, mappings: Json | undefined): string[] {
  const defs = Array.isArray(app["portDefinitions"]) ? app["portDefinitions"] : [];
  const all = [...defs, ...(Array.isArray(mappings) ? mappings : [])];
  return all.filter(isObj).map((p) => p["name"]).filter((n): n is string => typeof n === "string");
}

function normalizeReadinessCheck(r: Json, i: number, portNames: string[], names: Set<string>, bad: (p: string, e: string) => void): Json {
  const at = `/readinessChecks(${i})`;
  if (!isObj(r)) {
    bad(at, "a readiness check must be an object");
    return r;
  }
  r["name"] ??= "readinessCheck";
  r["protocol"] ??= "HTTP";
  r["path"] ??= "/";
  r["portName"] ??= "http-api";
  r["intervalSeconds"] ??= 30;
  r["timeoutSeconds"] ??= 10;
  r["httpStatusCodesForReady"] ??= [200];
  r["preserveLastResponse"] ??= false;
  if (typeof r["name"] !== "string" || r["name"] === "") bad(`${at}/name`, "name must be a non-empty string");
  else if (names.has(r["name"])) bad(`${at}/name`, `readiness check names must be unique ('${r["name"]}' is used twice)`);
  else names.add(r["name"]);
  if (r["protocol"] !== "HTTP" && r["protocol"] !== "HTTPS") bad(`${at}/protocol`, "protocol must be HTTP or HTTPS");
  if (typeof r["path"] !== "string" || !r["path"].startsWith("/")) bad(`${at}/path`, "path must start with /");
  if (typeof r["portName"] !== "string" || !portNames.includes(r["portName"])) {
    bad(`${at}/portName`, `portName '${String(r["portName"])}' is not the name of one of the app's ports (${portNames.length > 0 ? portNames.join(", ") : "it names none"})`);
  }
  for (const k of ["intervalSeconds", "timeoutSeconds"]) {
    if (typeof r[k] !== "number" || !((r[k] as number) > 0)) bad(`${at}/${k}`, `${k} must be a number > 0`);
  }
  if (typeof r["timeoutSeconds"] === "number" && typeof r["intervalSeconds"] === "number" && r["timeoutSeconds"] >= r["intervalSeconds"]) {
    bad(`${at}/timeoutSeconds`, "timeoutSeconds must be less than intervalSeconds");
  }
  const codes = r["httpStatusCodesForReady"];
  if (!Array.isArray(codes) || codes.length === 0 || !codes.every((c) => typeof c === "number" && Number.isInteger(c) && c >= 100 && c <= 599)) {
    bad(`${at}/httpStatusCodesForReady`, "httpStatusCodesForReady must be a non-empty array of HTTP status codes (100-599)");
  }
  if (typeof r["preserveLastResponse"] !== "boolean") bad(`${at}/preserveLastResponse`, "preserveLastResponse must be a boolean");
  return r;
}

const OPERATORS = ["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"];

function validateConstraints(c: Json | undefined, bad: (p: string, e: string) => void): void {
  if (!Array.isArray(c)) return;
  c.forEach((x, i) => {
    const parts = Array.isArray(x) ? x : isObj(x) ? [x["fieldName"], x["operator"], x["value"]].filter((p) => p !== undefined) : [];
    if (parts.length < 2 || !parts.every((p) => typeof p === "string")) return bad(`/constraints(${i})`, "a constraint is [field, operator] or [field, operator, value]");
    const [, op, value] = parts as string[];
    if (!OPERATORS.includes(op!)) return bad(`/constraints(${i})`, `Constraint operator ${op} is not one of ${OPERATORS.join(", ")}`);
    if (["LIKE", "UNLIKE", "IS", "MAX_PER"].includes(op!) && (value === undefined || value === "")) bad(`/constraints(${i})`, `${op} needs a value`);
    if (op === "LIKE" || op === "UNLIKE") {
      try {
        new RegExp(`^(?:${value})$`);
      } catch {
        bad(`/constraints(${i})`, `'${value}' is not a valid regular expression`);
      }
    }
    if (op === "MAX_PER" && !/^\d+$/.test(value ?? "")) bad(`/constraints(${i})`, "MAX_PER needs a number");
  });
}

const str = (v: Json | undefined): string | undefined => (typeof v === "string" ? v : undefined);
const numOr = (v: Json | undefined, d: number): number => (typeof v === "number" ? v : d);
const record = (v: Json | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
};

function executorCheckOf(app: AppJson): number | undefined {
  const checks = ((app["healthChecks"] ?? []) as Json[]).filter(isObj);
  if (checks.length === 0) return undefined;
  const agentOnly = checks.findIndex((h) => AGENT_ONLY_PROTOCOLS.has(String(h["protocol"])));
  return agentOnly >= 0 ? agentOnly : 0;
}

/**
 * The Docker network of an app: `container.docker.network` (Marathon 1.4), else the mode of
 * its first `networks` entry (Marathon 1.5: `container/bridge` → BRIDGE, `container` →
 * USER, `host` → HOST), else HOST.
 */
export function dockerNetwork(app: AppJson): string {
  const container = isObj(app["container"]) ? app["container"] : undefined;
  const docker = container && isObj(container["docker"]) ? container["docker"] : undefined;
  if (docker && typeof docker["network"] === "string") return docker["network"];
  const first = Array.isArray(app["networks"]) ? app["networks"][0] : undefined;
  const mode = isObj(first) ? first["mode"] : undefined;
  return mode === "container/bridge" ? "BRIDGE" : mode === "container" ? "USER" : "HOST";
}

/** The typed view of a normalized app (see normalizeApp). */
export function appSpec(app: AppJson): AppSpec {
  const container = isObj(app["container"]) ? app["container"] : undefined;
  const docker = container && container["type"] === "DOCKER" && isObj(container["docker"]) ? container["docker"] : undefined;
  const network = docker ? dockerNetwork(app) : "HOST";
  const mappings = ((docker && Array.isArray(docker["portMappings"]) ? docker["portMappings"] : container?.["portMappings"]) ?? []) as Json[];
  const bridge = docker !== undefined && network !== "HOST" && Array.isArray(mappings) && mappings.length > 0;
  const ports: PortSpec[] = bridge
    ? mappings.filter(isObj).map((m) => ({
        port: numOr(m["hostPort"], 0),
        servicePort: numOr(m["servicePort"], 0),
        name: str(m["name"]),
        protocol: str(m["protocol"]) ?? "tcp",
        containerPort: numOr(m["containerPort"], 0),
      }))
    : ((app["portDefinitions"] ?? []) as Json[]).filter(isObj).map((p) => ({ port: numOr(p["port"], 0), servicePort: numOr(p["port"], 0), name: str(p["name"]), protocol: str(p["protocol"]) ?? "tcp" }));
  const up = (isObj(app["upgradeStrategy"]) ? app["upgradeStrategy"] : {}) as { [k: string]: Json };
  const un = isObj(app["unreachableStrategy"]) ? app["unreachableStrategy"] : undefined;
  const labels = record(app["labels"]);
  const constraints = ((app["constraints"] ?? []) as Json[]).map((c) =>
    (Array.isArray(c) ? c : isObj(c) ? [c["fieldName"], c["operator"], c["value"]].filter((p) => p !== undefined) : []).map(String),
  ) as Constraint[];
  const volumes = container && Array.isArray(container["volumes"]) ? container["volumes"].filter(isObj) : [];
  return {
    id: String(app["id"]),
    cmd: str(app["cmd"]),
    args: Array.isArray(app["args"]) ? (app["args"] as string[]) : undefined,
    cpus: numOr(app["cpus"], 1),
    mem: numOr(app["mem"], 128),
    disk: numOr(app["disk"], 0),
    gpus: numOr(app["gpus"], 0),
    instances: numOr(app["instances"], 1),
    env: record(app["env"]),
    labels,
    user: str(app["user"]),
    constraints,
    acceptedResourceRoles: Array.isArray(app["acceptedResourceRoles"]) ? (app["acceptedResourceRoles"] as string[]) : [],
    ports,
    requirePorts: app["requirePorts"] === true,
    healthChecks: ((app["healthChecks"] ?? []) as Json[]).filter(isObj).map((h) => ({
      protocol: String(h["protocol"] ?? "HTTP"),
      path: str(h["path"]) ?? "/",
      portIndex: numOr(h["portIndex"], 0),
      port: typeof h["port"] === "number" ? h["port"] : undefined,
      command: isObj(h["command"]) ? str(h["command"]["value"]) : str(h["command"]),
      gracePeriodSeconds: numOr(h["gracePeriodSeconds"], 300),
      intervalSeconds: numOr(h["intervalSeconds"], 60),
      timeoutSeconds: numOr(h["timeoutSeconds"], 20),
      maxConsecutiveFailures: numOr(h["maxConsecutiveFailures"], 3),
      delaySeconds: numOr(h["delaySeconds"], 15),
    })),
    executorCheck: executorCheckOf(app),
    readinessChecks: ((app["readinessChecks"] ?? []) as Json[]).filter(isObj).map((r) => ({
      name: str(r["name"]) ?? "readinessCheck",
      protocol: r["protocol"] === "HTTPS" ? "HTTPS" : "HTTP",
      path: str(r["path"]) ?? "/",
      portName: str(r["portName"]) ?? "http-api",
      intervalSeconds: numOr(r["intervalSeconds"], 30),
      timeoutSeconds: numOr(r["timeoutSeconds"], 10),
      httpStatusCodesForReady: Array.isArray(r["httpStatusCodesForReady"]) ? (r["httpStatusCodesForReady"] as number[]) : [200],
      preserveLastResponse: r["preserveLastResponse"] === true,
    })),
    minimumHealthCapacity: numOr(up["minimumHealthCapacity"], 1),
    maximumOverCapacity: numOr(up["maximumOverCapacity"], 1),
    backoffSeconds: numOr(app["backoffSeconds"], 1),
    backoffFactor: numOr(app["backoffFactor"], 1.15),
    maxLaunchDelaySeconds: numOr(app["maxLaunchDelaySeconds"], 300),
    killSelection: app["killSelection"] === "OLDEST_FIRST" ? "OLDEST_FIRST" : "YOUNGEST_FIRST",
    inactiveAfterSeconds: un ? numOr(un["inactiveAfterSeconds"], 300) : Infinity,
    expungeAfterSeconds: un ? numOr(un["expungeAfterSeconds"], 600) : Infinity,
    taskKillGracePeriodSeconds: typeof app["taskKillGracePeriodSeconds"] === "number" ? app["taskKillGracePeriodSeconds"] : undefined,
    dependencies: ((app["dependencies"] ?? []) as Json[]).map(String),
    docker: docker
      ? {
          image: String(docker["image"]),
          network: bridge ? "BRIDGE" : network,
          privileged: docker["privileged"] === true,
          forcePullImage: docker["forcePullImage"] === true,
          parameters: (Array.isArray(docker["parameters"]) ? docker["parameters"] : []).filter(isObj).map((p) => ({ key: String(p["key"]), value: String(p["value"]) })),
        }
      : undefined,
    fetch: [
      ...((app["fetch"] ?? []) as Json[]).filter(isObj).map((f) => ({
        uri: String(f["uri"]),
        extract: f["extract"] !== false,
        executable: f["executable"] === true,
        cache: f["cache"] === true,
        destPath: str(f["destPath"]),
      })),
      ...((app["uris"] ?? []) as Json[]).filter((u): u is string => typeof u === "string").map((uri) => ({ uri, extract: true, executable: false, cache: false })),
    ],
    persistentVolumes: volumes
      .filter((vol) => isObj(vol["persistent"]))
      .map((vol) => ({ containerPath: String(vol["containerPath"]), size: numOr((vol["persistent"] as { [k: string]: Json })["size"], 0) })),
    hostVolumes: hostVolumeSpecs(app),
    residency: residencySpec(app),
    deploymentTimeoutSeconds: numOr(app["deploymentTimeoutSeconds"] ?? (labels["DCOS_DEPLOYMENT_TIMEOUT_SECONDS"] ? Number(labels["DCOS_DEPLOYMENT_TIMEOUT_SECONDS"]) : undefined), 0),
    rollbackOnFailure: app["rollbackOnFailure"] === true || labels["DCOS_ROLLBACK_ON_FAILURE"] === "true",
  };
}

/**
 * A partial update (PUT without partialUpdate=false, PATCH): the body's fields over the
 * current app's. Ports named one way replace those named the other way (`ports` in the
 * body drops the current portDefinitions; port mappings in a new container replace them).
 */
export function mergeAppUpdate(current: AppJson, body: AppJson): AppJson {
  const merged: AppJson = { ...current, ...body };
  if (body["ports"] !== undefined && body["portDefinitions"] === undefined) delete merged["portDefinitions"];
  return merged;
}

/**
 * Whether going from `a` to `b` needs new instances (a restart) or only a scale: only
 * `instances` differs (and the version stamps).
 */
export function onlyScaleDiffers(a: AppJson, b: AppJson): boolean {
  const strip = (x: AppJson) => {
    const { instances: _i, version: _v, versionInfo: _vi, ...rest } = x;
    return stableJson(rest);
  };
  return strip(a) === strip(b);
}

/** JSON with object keys sorted at every level (for comparing definitions). */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}
