/**
 * Per-app authorization of the services API, as Marathon on DC/OS did it per app path: the
 * ACL actions `view_apps`, `create_apps`, `update_apps` and `delete_apps` with objects
 * `app_ids` matched by path prefix (src/security/auth/acls.ts; docs/security.md). The
 * caller is the one the HTTP guard authenticated.
 *
 * - Writes are checked before the handler runs (a fastify preHandler): POST/PUT/PATCH of
 *   apps and groups (create_apps for a new id, update_apps for an existing one), restart,
 *   task kills, deployment cancels and queue delay resets (update_apps), DELETE of apps and
 *   groups (delete_apps on every app removed), DELETE /v2/leader (update_apps on "/").
 *   A refusal is 403 `{message}` and nothing changes.
 * - Reads of one app (`/v2/apps/{id}`, its tasks and versions) need view_apps on it (403);
 *   lists (`/v2/apps`, `/v2/tasks`, `/v2/deployments`, `/v2/queue`, `/v2/groups`) are
 *   filtered to what the caller may view (an onSend hook), and so is `/v2/events`.
 * A caller who may view every app (no rule restricting it) pays nothing for the filters.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Code, asDcosError } from "../../runtime/error.js";
import { EVERY } from "../../security/auth/acls.js";
import type { Authorizer } from "../../security/auth/authorizer.js";
import type { Caller } from "../../security/auth/caller.js";
import { httpCallerOf } from "../../security/auth/http-guard.js";
import type { EventFilter } from "../common/event-stream.js";
import { canonicalId, type AppJson } from "./app-definition.js";
import { groupApps } from "./group-apps.js";
import { parseAppPath } from "./services-api.js";
import type { ServicesScheduler } from "./services-scheduler.js";

export type AppAction = "view_apps" | "create_apps" | "update_apps" | "delete_apps";

const VERB: Record<AppAction, string> = { view_apps: "view", create_apps: "create", update_apps: "change", delete_apps: "delete" };

/** What one caller may do to which apps. */
export class AppAccess {
  private readonly everything = new Map<AppAction, boolean>();

  constructor(
    private readonly authorizer: Authorizer,
    readonly caller: Caller,
  ) {}

  /** Whether the caller may do `action` to every app (so nothing needs filtering). */
  all(action: AppAction): boolean {
    let all = this.everything.get(action);
    if (all === undefined) this.everything.set(action, (all = this.authorizer.allows(this.caller, action, EVERY)));
    return all;
  }

  may(action: AppAction, appId: string): boolean {
    return this.all(action) || this.authorizer.allows(this.caller, action, appId);
  }

  /** PERMISSION_DENIED (counted) unless the caller may. */
  check(action: AppAction, appId: string): void {
    if (!this.may(action, appId)) this.authorizer.check(this.caller, action, appId, `${VERB[action]} app '${appId}'`);
  }

  /** Whether an event concerns only apps (or a group) the caller may view. */
  eventVisible(type: string, data: unknown): boolean {
    if (type === "event_stream_attached" || this.all("view_apps")) return true;
    const ids = eventAppIds(data);
    return ids.length > 0 && ids.every((id) => this.may("view_apps", id));
  }
}

/** The app (or group) ids an event is about, from Marathon's payloads. */
export function eventAppIds(data: unknown): string[] {
  if (typeof data !== "object" || data === null) return [];
  const d = data as Record<string, unknown>;
  const out: string[] = [];
  for (const k of ["appId", "runSpecId", "groupId"]) if (typeof d[k] === "string") out.push(d[k] as string);
  const def = d["appDefinition"] as { id?: unknown } | undefined;
  if (typeof def?.id === "string") out.push(def.id);
  const plan = d["plan"] as { affectedApps?: unknown } | undefined;
  if (Array.isArray(plan?.affectedApps)) for (const a of plan.affectedApps) if (typeof a === "string") out.push(a);
  return out;
}

interface Refusal {
  status: number;
  message: string;
}

/** The checks a write or a one-app read needs, run against the leader's state; a refusal or undefined. */
function checkRequest(req: FastifyRequest, access: AppAccess, s: ServicesScheduler | undefined): Refusal | undefined {
  const route = req.routeOptions.url ?? "";
  const method = req.method;
  const rest = (req.params as { "*"?: string } | undefined)?.["*"];
  const body = req.body as unknown;
  const exists = (id: string) => s?.state.apps.has(id) === true;
  const put = (id: string) => access.check(exists(id) ? "update_apps" : "create_apps", id);
  try {
    if (route === "/v2/leader" && method === "DELETE") access.check("update_apps", "/");
    else if (route === "/v2/apps" && method === "POST") {
      const id = (body as AppJson | undefined)?.["id"];
      if (typeof id === "string") access.check("create_apps", canonicalId(id));
    } else if (route === "/v2/apps" && (method === "PUT" || method === "PATCH") && Array.isArray(body)) {
      for (const a of body as AppJson[]) if (typeof a?.["id"] === "string") put(canonicalId(String(a["id"])));
    } else if (route === "/v2/apps/*" && rest !== undefined) {
      const { id, sub } = parseAppPath(rest);
      if (method === "GET") {
        if (!id.endsWith("/*")) access.check("view_apps", id);
      } else if ((method === "PUT" || method === "PATCH") && !sub) put(id);
      else if (method === "POST" || (method === "DELETE" && sub)) access.check("update_apps", id);
      else if (method === "DELETE") access.check("delete_apps", id);
    } else if (route === "/v2/tasks/delete" && method === "POST") {
      const ids = (body as { ids?: unknown } | undefined)?.ids;
      if (Array.isArray(ids)) {
        for (const t of ids) {
          const i = typeof t === "string" ? s?.state.instances.get(t) : undefined;
          if (i) access.check("update_apps", i.appId);
        }
      }
    } else if (route === "/v2/deployments/:id" && method === "DELETE") {
      const d = s?.state.deployments.get((req.params as { id: string }).id);
      if (d) access.check("update_apps", d.appId);
    } else if (route === "/v2/queue/*" && method === "DELETE" && rest !== undefined) {
      const m = /^(.*)\/delay\/?$/.exec(rest);
      if (m) access.check("update_apps", canonicalId(m[1]!));
    } else if ((route === "/v2/groups" || route === "/v2/groups/*") && (method === "POST" || method === "PUT")) {
      for (const a of groupApps(body, rest)) put(String(a["id"]));
    } else if (route === "/v2/groups/*" && method === "DELETE" && rest !== undefined) {
      const prefix = `${canonicalId(rest)}/`;
      for (const id of s?.state.apps.keys() ?? []) if (id.startsWith(prefix)) access.check("delete_apps", id);
    }
  } catch (err) {
    const e = asDcosError(err);
    if (e.code === Code.PERMISSION_DENIED) return { status: 403, message: e.message };
    throw err;
  }
  return undefined;
}

interface GroupJson {
  apps?: { id?: string }[];
  groups?: GroupJson[];
  [k: string]: unknown;
}

function filterGroup(g: GroupJson, visible: (id: string) => boolean): GroupJson {
  const apps = (g.apps ?? []).filter((a) => visible(String(a.id)));
  const groups = (g.groups ?? []).map((sub) => filterGroup(sub, visible)).filter((sub) => (sub.apps?.length ?? 0) > 0 || (sub.groups?.length ?? 0) > 0);
  return { ...g, apps, groups };
}

/** A list answer filtered to what the caller may view; undefined when the route lists nothing per app. */
function filterList(route: string, rest: string | undefined, json: unknown, visible: (id: string) => boolean): unknown {
  const o = json as Record<string, unknown>;
  switch (route) {
    case "/v2/apps":
      return { ...o, apps: (o["apps"] as { id: string }[]).filter((a) => visible(a.id)) };
    case "/v2/apps/*":
      return rest !== undefined && parseAppPath(rest).id.endsWith("/*") && Array.isArray(o["apps"])
        ? { ...o, apps: (o["apps"] as { id: string }[]).filter((a) => visible(a.id)) }
        : undefined;
    case "/v2/tasks":
      return { ...o, tasks: (o["tasks"] as { appId: string }[]).filter((t) => visible(t.appId)) };
    case "/v2/deployments":
      return (json as { affectedApps?: string[] }[]).filter((d) => (d.affectedApps ?? []).every(visible));
    case "/v2/queue":
      return { ...o, queue: (o["queue"] as { app?: { id?: string } }[]).filter((q) => visible(String(q.app?.id))) };
    case "/v2/groups":
    case "/v2/groups/*":
      return filterGroup(json as GroupJson, visible);
    default:
      return undefined;
  }
}

export interface AppAclOptions {
  authorizer: Authorizer;
  scheduler(): ServicesScheduler | undefined;
}

const accessOf = new WeakMap<FastifyRequest, AppAccess>();

export function appAccess(req: FastifyRequest, authorizer: Authorizer): AppAccess {
  let a = accessOf.get(req);
  if (!a) accessOf.set(req, (a = new AppAccess(authorizer, httpCallerOf(req))));
  return a;
}

/** The /v2/events filter for a request's caller (undefined when it may view everything). */
export function appEventFilter(req: FastifyRequest, authorizer: Authorizer): EventFilter | undefined {
  const access = appAccess(req, authorizer);
  return access.all("view_apps") ? undefined : (type, data) => access.eventVisible(type, data);
}

/** Installs the checks and filters on the services API (call before its routes are added). */
export function installAppAcls(app: FastifyInstance, options: AppAclOptions): void {
  app.addHook("preHandler", async (req: FastifyRequest, reply: FastifyReply) => {
    const refusal = checkRequest(req, appAccess(req, options.authorizer), options.scheduler());
    if (refusal) return reply.code(refusal.status).type("application/json").send({ message: refusal.message });
  });
  app.addHook("onSend", async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    // JSON bodies come as strings, or as bytes (GET /v2/apps sends its cached body encoded).
    if (req.method !== "GET" || reply.statusCode !== 200 || (typeof payload !== "string" && !Buffer.isBuffer(payload))) return payload;
    const access = appAccess(req, options.authorizer);
    if (access.all("view_apps")) return payload;
    const route = req.routeOptions.url ?? "";
    if (!route.startsWith("/v2/")) return payload;
    let json: unknown;
    try {
      json = JSON.parse(typeof payload === "string" ? payload : payload.toString("utf8"));
    } catch {
      return payload;
    }
    const filtered = filterList(route, (req.params as { "*"?: string } | undefined)?.["*"], json, (id) => access.may("view_apps", id));
    return filtered === undefined ? payload : JSON.stringify(filtered);
  });
}
