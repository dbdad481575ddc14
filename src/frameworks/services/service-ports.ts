/**
 * Service ports, as Marathon assigns them: every port of an app (a port definition, or a
 * Docker bridge port mapping's `servicePort`) has a cluster-unique service port, the
 * port a load balancer serves the app on. `0` (or a missing servicePort) means "assign
 * one": the lowest free port of the range (Marathon's `--local_port_min 10000` ..
 * `--local_port_max 20000`, the maximum excluded), preferring the ports the app's
 * previous version had, so an update keeps them. Explicit ports are kept as given and
 * must not be another app's. The assignment is written into the app JSON itself (it is
 * stored in the replicated state with the app, so it survives updates and failover).
 */
import { Code, DcosError } from "../../runtime/error.js";
import { dockerNetwork, InvalidApp, type AppJson, type Json } from "./app-definition.js";

export interface ServicePortRange {
  /** First port assigned (Marathon's local_port_min). */
  min: number;
  /** One past the last port assigned (Marathon's local_port_max). */
  max: number;
}

/** Service port → the app holding it. */
export type PortOwners = Pick<ReadonlyMap<number, string>, "get" | "has">;

export const DEFAULT_SERVICE_PORT_RANGE: ServicePortRange = { min: 10000, max: 20000 };

type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Where an app's service ports live: its Docker bridge port mappings' `servicePort` (as appSpec reads them), else its port definitions' `port`. */
function portSlots(app: AppJson): { entries: Obj[]; key: "servicePort" | "port"; path: string } {
  const container = isObj(app["container"]) ? app["container"] : undefined;
  const docker = container && container["type"] === "DOCKER" && isObj(container["docker"]) ? container["docker"] : undefined;
  const dockerMappings = docker && Array.isArray(docker["portMappings"]) ? docker["portMappings"] : undefined;
  const mappings = dockerMappings ?? (container && Array.isArray(container["portMappings"]) ? container["portMappings"] : undefined);
  if (docker && dockerNetwork(app) !== "HOST" && mappings && mappings.length > 0) {
    return { entries: mappings.filter(isObj), key: "servicePort", path: dockerMappings ? "/container/docker/portMappings" : "/container/portMappings" };
  }
  const defs = Array.isArray(app["portDefinitions"]) ? app["portDefinitions"] : [];
  return { entries: defs.filter(isObj), key: "port", path: "/portDefinitions" };
}

/** The app's service ports in order (0 for one not assigned yet). */
export function servicePortsOf(app: AppJson): number[] {
  const { entries, key } = portSlots(app);
  return entries.map((e) => (typeof e[key] === "number" ? (e[key] as number) : 0));
}

/**
 * Fills the app's unassigned service ports (in place). `others`: service port → the app
 * that holds it, for every other app. `previous`: the app's current definition, whose
 * assigned ports are reused first. Throws InvalidApp (422) for a port repeated within the
 * app, DcosError ALREADY_EXISTS (409) for one another app holds, FAILED_PRECONDITION
 * (409) when the range has no free port left.
 */
export function assignServicePorts(app: AppJson, previous: AppJson | undefined, others: PortOwners, range: ServicePortRange = DEFAULT_SERVICE_PORT_RANGE): void {
  const { entries, key, path } = portSlots(app);
  const explicit = new Set<number>();
  entries.forEach((e, i) => {
    const p = typeof e[key] === "number" ? (e[key] as number) : 0;
    if (p === 0) return;
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new InvalidApp([{ path: `${path}(${i})/${key}`, errors: [`${key} must be an integer in 0..65535`] }]);
    if (explicit.has(p)) throw new InvalidApp([{ path: `${path}(${i})/${key}`, errors: [`Service port ${p} is given twice: an app's service ports must be unique`] }]);
    explicit.add(p);
    const owner = others.get(p);
    if (owner !== undefined) throw new DcosError(Code.ALREADY_EXISTS, `Requested service port ${p} conflicts with a service port in use by app ${owner}`);
  });
  const taken = (p: number) => explicit.has(p) || others.has(p);
  // The previous version's assigned ports that the new definition does not name: reused in order.
  const reusable = (previous ? servicePortsOf(previous) : []).filter((p) => p >= range.min && p < range.max && !taken(p));
  let next = range.min;
  for (const e of entries) {
    if (typeof e[key] === "number" && e[key] !== 0) continue;
    let port = reusable.shift();
    if (port === undefined) {
      while (next < range.max && taken(next)) next++;
      if (next >= range.max) throw new DcosError(Code.FAILED_PRECONDITION, `No free service port left in ${range.min}..${range.max - 1} (every one is assigned to an app)`);
      port = next;
    }
    e[key] = port;
    explicit.add(port);
  }
}

/** Service port → app id, over the given apps. */
export function servicePortOwners(apps: Iterable<AppJson>, except?: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const a of apps) {
    const id = String(a["id"]);
    if (id === except) continue;
    for (const p of servicePortsOf(a)) if (p !== 0) out.set(p, id);
  }
  return out;
}

/**
 * Which app holds which service port, kept up to date app by app (a scan of every app per
 * POST would make creating N apps cost N²).
 */
export class ServicePortIndex {
  private readonly owners = new Map<number, string>();
  private readonly byApp = new Map<string, number[]>();

  constructor(apps: Iterable<AppJson>) {
    for (const a of apps) this.set(a);
  }

  /** Records the app's current service ports (replacing its earlier ones). */
  set(app: AppJson): void {
    const id = String(app["id"]);
    this.remove(id);
    const ports = servicePortsOf(app).filter((p) => p !== 0);
    this.byApp.set(id, ports);
    for (const p of ports) this.owners.set(p, id);
  }

  remove(appId: string): void {
    for (const p of this.byApp.get(appId) ?? []) if (this.owners.get(p) === appId) this.owners.delete(p);
    this.byApp.delete(appId);
  }

  /** The owners of service ports other than `except` (a view for assignServicePorts). */
  others(except: string): PortOwners {
    const get = (p: number): string | undefined => {
      const o = this.owners.get(p);
      return o === except ? undefined : o;
    };
    return { get, has: (p) => get(p) !== undefined };
  }
}
