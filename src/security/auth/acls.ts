/**
 * Access control lists in Mesos's JSON shape (`--acls`):
 *
 *   {"permissive": true,
 *    "register_frameworks": [{"principals": {"values": ["svc"]}, "roles": {"values": ["web"]}}],
 *    "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "NONE"}}], …}
 *
 * Each action has a list of rules; a rule names its subjects (`principals`) and its
 * objects (roles, users, principals of frameworks or reservations, endpoint paths) as
 * `{"values": [...]}` or `{"type": "ANY" | "NONE"}`. The first rule whose subject and
 * object both match decides (ANY and NONE match everything, values what they name):
 * allowed unless its subjects or objects are NONE. When none matches,
 * `permissive` decides (default true, as in Mesos). Pure: no I/O, no clock.
 */
import { readFile } from "node:fs/promises";
import { Code, DcosError } from "../../runtime/error.js";

/** Every action and the key naming its objects in a rule. */
export const ACL_OBJECTS = {
  register_frameworks: "roles",
  run_tasks: "users",
  teardown_frameworks: "framework_principals",
  reserve_resources: "roles",
  unreserve_resources: "reserver_principals",
  create_volumes: "roles",
  destroy_volumes: "creator_principals",
  update_weights: "roles",
  update_quotas: "roles",
  drain_agents: "agents",
  deactivate_agents: "agents",
  reactivate_agents: "agents",
  update_maintenance_schedules: "machines",
  get_maintenance_schedules: "machines",
  get_maintenance_statuses: "machines",
  start_maintenances: "machines",
  stop_maintenances: "machines",
  view_frameworks: "users",
  view_tasks: "users",
  view_executors: "users",
  access_sandboxes: "users",
  get_endpoints: "paths",
  /** Mesos's log files; accepted for compatibility: no endpoint of ours serves the node's logs (they go to stdout/journald). */
  access_mesos_logs: "logs",
  /** Another principal's replicated-log namespace (never covered by `permissive`). */
  access_replicated_logs: "log_principals",
  /** Services apps (Marathon's API), by app id path prefix: see, create, change (scale, restart, kill tasks), remove. */
  view_apps: "app_ids",
  create_apps: "app_ids",
  update_apps: "app_ids",
  delete_apps: "app_ids",
  /**
   * Host path volumes (a container volume with host_path), by host path prefix, checked by
   * the master for the framework's principal on LAUNCH (the agent's --allowed-host-paths
   * still applies, to the path with its symlinks resolved).
   */
  mount_host_paths: "host_paths",
} as const;

export type AclAction = keyof typeof ACL_OBJECTS;

/** Actions `permissive` does not open: without a rule allowing them they are denied. */
const CLOSED_BY_DEFAULT: ReadonlySet<AclAction> = new Set(["access_replicated_logs"]);

/**
 * Actions whose objects are paths matched by prefix, a path component at a time: "/team-a"
 * matches "/team-a" and "/team-a/web", not "/team-ab"; "/" matches every path.
 */
const PATH_OBJECTS: ReadonlySet<AclAction> = new Set(["view_apps", "create_apps", "update_apps", "delete_apps", "mount_host_paths"]);

/** "/a/b/" → "/a/b"; "" → "/". */
function normalizePath(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

export type Entity = { kind: "any" } | { kind: "none" } | { kind: "values"; values: ReadonlySet<string> };

interface Rule {
  subjects: Entity;
  objects: Entity;
}

/** The object of a request: one name, or every object of the kind (e.g. all of /state). */
export const EVERY = Symbol("every object");
export type AclObject = string | typeof EVERY;

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

function parseEntity(value: unknown, where: string): Entity {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${where} must be {"values": [...]} or {"type": "ANY"|"NONE"}`);
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.some((k) => k !== "values" && k !== "type")) throw invalid(`${where} has unknown keys (${keys.join(", ")}); use "values" or "type"`);
  if (v.values !== undefined && v.type !== undefined) throw invalid(`${where} has both "values" and "type"`);
  if (v.type !== undefined) {
    if (v.type === "ANY") return { kind: "any" };
    if (v.type === "NONE") return { kind: "none" };
    throw invalid(`${where}.type must be "ANY" or "NONE", not ${JSON.stringify(v.type)}`);
  }
  if (!Array.isArray(v.values) || v.values.some((x) => typeof x !== "string")) throw invalid(`${where}.values must be a list of strings`);
  return { kind: "values", values: new Set(v.values as string[]) };
}

export class Acls {
  private constructor(
    readonly permissive: boolean,
    private readonly rules: ReadonlyMap<AclAction, readonly Rule[]>,
  ) {}

  /** No rules: everything allowed that `permissive` opens. */
  static permissive(): Acls {
    return new Acls(true, new Map());
  }

  static parse(json: unknown, source = "acls"): Acls {
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid(`${source}: expected a JSON object`);
    const o = json as Record<string, unknown>;
    const rules = new Map<AclAction, Rule[]>();
    let permissive = true;
    for (const [key, value] of Object.entries(o)) {
      if (key === "permissive") {
        if (typeof value !== "boolean") throw invalid(`${source}: "permissive" must be true or false`);
        permissive = value;
        continue;
      }
      if (!(key in ACL_OBJECTS)) throw invalid(`${source}: unknown action "${key}" (known: permissive, ${Object.keys(ACL_OBJECTS).join(", ")})`);
      const action = key as AclAction;
      const objectKey = ACL_OBJECTS[action];
      if (!Array.isArray(value)) throw invalid(`${source}: "${key}" must be a list of rules`);
      rules.set(
        action,
        value.map((r: unknown, i) => {
          const where = `${source}: ${key} #${i + 1}`;
          if (typeof r !== "object" || r === null) throw invalid(`${where} must be an object`);
          const rule = r as Record<string, unknown>;
          for (const k of Object.keys(rule)) if (k !== "principals" && k !== objectKey) throw invalid(`${where} has unknown key "${k}" (expected "principals" and "${objectKey}")`);
          if (rule.principals === undefined || rule[objectKey] === undefined) throw invalid(`${where} needs "principals" and "${objectKey}"`);
          let objects = parseEntity(rule[objectKey], `${where}.${objectKey}`);
          if (PATH_OBJECTS.has(action) && objects.kind === "values") {
            for (const v of objects.values) if (!v.startsWith("/")) throw invalid(`${where}.${objectKey}: '${v}' is not an absolute path (${objectKey === "app_ids" ? "app ids start with '/'" : "host paths are absolute"})`);
            objects = { kind: "values", values: new Set([...objects.values].map(normalizePath)) };
          }
          return { subjects: parseEntity(rule.principals, `${where}.principals`), objects };
        }),
      );
    }
    return new Acls(permissive, rules);
  }

  static fromText(text: string, source = "acls"): Acls {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw invalid(`${source}: not valid JSON: ${(err as Error).message}`);
    }
    return Acls.parse(json, source);
  }

  static async load(path: string): Promise<Acls> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw invalid(`Cannot read ACLs file ${path}: ${(err as Error).message}`);
    }
    return Acls.fromText(text, path);
  }

  /**
   * What the first matching rule decides; undefined when no rule matches. For EVERY object:
   * false as soon as a rule of the subject refuses some objects (values or all), the
   * decision of its first rule on all objects (ANY/NONE), undefined when its rules only
   * allow some named objects (the rest falls to `permissive`).
   */
  ruleDecision(action: AclAction, subject: string | undefined, object: AclObject): boolean | undefined {
    const matches = PATH_OBJECTS.has(action) ? pathMatches : objectMatches;
    for (const rule of this.rules.get(action) ?? []) {
      if (!subjectMatches(rule.subjects, subject)) continue;
      const allows = rule.objects.kind !== "none" && rule.subjects.kind !== "none";
      if (object === EVERY) {
        if (rule.objects.kind !== "values" || !allows) return allows;
        // A path rule naming "/" names every object.
        if (PATH_OBJECTS.has(action) && rule.objects.values.has("/")) return allows;
        continue;
      }
      if (matches(rule.objects, object)) return allows;
    }
    return undefined;
  }

  /** Whether the action has any rule (without one, `permissive` decides for every object). */
  hasRules(action: AclAction): boolean {
    return (this.rules.get(action)?.length ?? 0) > 0;
  }

  /** Whether `subject` (undefined: unauthenticated) may do `action` on `object`. */
  allows(action: AclAction, subject: string | undefined, object: AclObject): boolean {
    return this.ruleDecision(action, subject, object) ?? (this.permissive && !CLOSED_BY_DEFAULT.has(action));
  }
}

/** ANY and NONE match every subject (NONE then refuses); values match the principals named. An unauthenticated caller matches only ANY and NONE. */
function subjectMatches(e: Entity, subject: string | undefined): boolean {
  if (e.kind !== "values") return true;
  return subject !== undefined && e.values.has(subject);
}

function objectMatches(e: Entity, object: string): boolean {
  return e.kind !== "values" || e.values.has(object);
}

/** A path object matches a value naming it or one of its ancestors ("/" names every path). */
function pathMatches(e: Entity, object: string): boolean {
  if (e.kind !== "values") return true;
  if (!object.startsWith("/")) return false; // a relative path is under no named path
  for (let p = normalizePath(object); ; p = p.slice(0, Math.max(1, p.lastIndexOf("/")))) {
    if (e.values.has(p)) return true;
    if (p === "/") return false;
  }
}
