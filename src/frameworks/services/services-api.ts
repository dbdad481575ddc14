/**
 * Marathon's REST API v2 on fastify, answered by the leading instance (non-leaders proxy,
 * see services-server.ts). Errors are `{message, details?}` with Marathon's codes: 422 for
 * an invalid definition, 409 for a locked app or an existing id, 404 for unknown ids.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Code, asDcosError } from "../../runtime/error.js";
import type { EventFilter, EventStream } from "../common/event-stream.js";
import { canonicalId, InvalidApp, mergeAppUpdate, type AppJson } from "./app-definition.js";
import { groupApps } from "./group-apps.js";
import { parentOf, type ServicesScheduler } from "./services-scheduler.js";
import { TERMINAL } from "./services-state.js";
import { queueItemJson, taskJson, type AppEmbeds } from "./views.js";

export interface ServicesApiContext {
  /** The leader session, or undefined (503) while this instance is not ready. */
  scheduler(): ServicesScheduler | undefined;
  events: EventStream;
  role: string;
  /** Which events a caller of /v2/events may see (app ACLs, app-acls.ts); undefined: all. */
  eventFilter?: (req: FastifyRequest) => EventFilter | undefined;
}

type Query = Record<string, string | string[] | undefined>;

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(","));
const flag = (q: Query, name: string): boolean => {
  const v = q[name];
  return v !== undefined && (Array.isArray(v) ? v : [v]).some((x) => x === "" || x === "true");
};

function embedsOf(q: Query, prefix: "apps" | "app"): AppEmbeds {
  const e = list(q["embed"]);
  const has = (what: string) => e.includes(`${prefix}.${what}`) || e.includes(`apps.${what}`) || e.includes(`app.${what}`);
  return {
    tasks: has("tasks"),
    counts: prefix === "app" ? true : has("counts") || e.length === 0 || true,
    deployments: has("deployments"),
    lastTaskFailure: has("lastTaskFailure") || prefix === "app",
    readiness: has("readiness"),
  };
}

export function sendApiError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof InvalidApp) return reply.code(422).send({ message: "Object is not valid", details: err.details });
  const e = asDcosError(err);
  const extra = (err as { deployments?: unknown }).deployments;
  const status =
    e.code === Code.NOT_FOUND
      ? 404
      : e.code === Code.FAILED_PRECONDITION || e.code === Code.ALREADY_EXISTS
        ? 409
        : e.code === Code.INVALID_ARGUMENT
          ? 400
          : e.code === Code.UNAVAILABLE
            ? 503
            : 500;
  return reply.code(status).send(extra ? { message: e.message, deployments: extra } : { message: e.message });
}

/** What follows /v2/apps/: an app id, optionally with a sub-resource. */
export function parseAppPath(rest: string): { id: string; sub?: "restart" | "tasks" | "versions"; arg?: string } {
  const m = /^(.*?)\/(restart|tasks|versions)(?:\/([^/]+))?\/?$/.exec(rest);
  if (m && m[1] !== "") return { id: canonicalId(m[1]!), sub: m[2] as "restart" | "tasks" | "versions", arg: m[3] ? decodeURIComponent(m[3]) : undefined };
  return { id: canonicalId(rest) };
}

export function installServicesApi(app: FastifyInstance, ctx: ServicesApiContext): void {
  const handle =
    (fn: (req: FastifyRequest, reply: FastifyReply, s: ServicesScheduler) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      try {
        const s = ctx.scheduler();
        if (!s) return reply.code(503).send({ message: "This instance does not lead right now; retry" });
        return await fn(req, reply, s);
      } catch (err) {
        return sendApiError(reply, err);
      }
    };
  const apiPost = (req: FastifyRequest, appDefinition: unknown) =>
    ctx.events.publish("api_post_event", { clientIp: req.ip, uri: req.url, appDefinition, eventType: "api_post_event", timestamp: new Date().toISOString() });

  // ---- apps -------------------------------------------------------------------------------

  app.get(
    "/v2/apps",
    handle(async (req, _reply, s) => {
      const q = req.query as Query;
      const embed = embedsOf(q, "apps");
      const idFilter = typeof q["id"] === "string" ? q["id"] : undefined;
      const cmdFilter = typeof q["cmd"] === "string" ? q["cmd"] : undefined;
      const label = typeof q["label"] === "string" ? q["label"] : undefined;
      // Each app's JSON comes from the scheduler's view cache (re-made only for apps that
      // changed), and the whole body is kept until anything changes.
      const key = JSON.stringify([embed, idFilter, cmdFilter, label]);
      const body = s.views.wholeBody(key, () => {
        const out: string[] = [];
        for (const a of s.state.apps.values()) {
          if (idFilter && !String(a["id"]).includes(idFilter)) continue;
          if (cmdFilter && !String(a["cmd"] ?? "").includes(cmdFilter)) continue;
          if (label && !matchesLabel(a, label)) continue;
          out.push(s.appViewJson(a, embed));
        }
        return `{"apps":[${out.join(",")}]}`;
      });
      return _reply.type("application/json; charset=utf-8").send(body);
    }),
  );

  app.post(
    "/v2/apps",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const r = await s.putApp(req.body, { force: flag(q, "force"), create: true });
      apiPost(req, r.app);
      const id = String(r.app["id"]);
      return reply
        .code(201)
        .header("location", `/v2/apps${id}`)
        .header("Marathon-Deployment-Id", r.deployment.id)
        .send({ ...s.appView(r.app, { counts: true }), deployments: [{ id: r.deployment.id }] });
    }),
  );

  const putMany = (patch: boolean) =>
    handle(async (req, _reply, s) => {
      const q = req.query as Query;
      if (!Array.isArray(req.body)) return _reply.code(422).send({ message: "Object is not valid", details: [{ path: "/", errors: ["expected an array of app definitions"] }] });
      const ids: string[] = [];
      let version = "";
      for (const body of req.body as unknown[]) {
        const id = typeof (body as AppJson)?.["id"] === "string" ? canonicalId(String((body as AppJson)["id"])) : undefined;
        const prev = id ? s.state.apps.get(id) : undefined;
        const merged = patch && prev ? mergeAppUpdate(prev, body as AppJson) : body;
        const r = await s.putApp(merged, { force: flag(q, "force"), create: false });
        apiPost(req, r.app);
        ids.push(r.deployment.id);
        version = String(r.app["version"]);
      }
      return { version, deploymentId: ids[0] ?? null, deploymentIds: ids };
    });
  app.put("/v2/apps", putMany(false));
  app.patch("/v2/apps", putMany(true));

  app.get(
    "/v2/apps/*",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const { id, sub, arg } = parseAppPath((req.params as { "*": string })["*"]);
      const a = s.state.apps.get(id);
      if (!sub) {
        if (!a) {
          // Marathon: /v2/apps/<group>/* lists a group's apps.
          if (id.endsWith("/*")) {
            const prefix = `${id.slice(0, -2)}/`;
            return { apps: [...s.state.apps.values()].filter((x) => String(x["id"]).startsWith(prefix)).map((x) => s.appView(x, embedsOf(q, "apps"))) };
          }
          return reply.code(404).send({ message: `App '${id}' does not exist` });
        }
        return { app: s.appView(a, embedsOf(q, "app")) };
      }
      if (!a) return reply.code(404).send({ message: `App '${id}' does not exist` });
      if (sub === "tasks") {
        const spec = s.spec(a);
        const tasks = [...(s.state.byApp.get(id)?.values() ?? [])].filter((i) => !TERMINAL.has(i.state)).map((i) => taskJson(i, spec, s.checks));
        return { tasks };
      }
      if (sub === "versions") {
        const versions = s.state.versions.get(id) ?? new Map<string, AppJson>();
        if (!arg) return { versions: [...versions.keys()].reverse() };
        const v = versions.get(arg);
        return v ? v : reply.code(404).send({ message: `App '${id}' does not exist in version ${arg}` });
      }
      return reply.code(405).send({ message: `GET is not allowed on ${sub}` });
    }),
  );

  const putOne = (patch: boolean) =>
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const { id, sub } = parseAppPath((req.params as { "*": string })["*"]);
      if (sub) return reply.code(405).send({ message: `${req.method} is not allowed on ${sub}` });
      const body = (req.body ?? {}) as AppJson;
      if (typeof body !== "object" || Array.isArray(body)) return reply.code(422).send({ message: "Object is not valid", details: [{ path: "/", errors: ["expected an app definition object"] }] });
      if (typeof body["id"] === "string" && canonicalId(body["id"]) !== id) {
        return reply.code(422).send({ message: "Object is not valid", details: [{ path: "/id", errors: [`The id in the body (${body["id"]}) differs from the path (${id})`] }] });
      }
      const prev = s.state.apps.get(id);
      if (patch && !prev) return reply.code(404).send({ message: `App '${id}' does not exist` });
      // Marathon's PUT is a partial update of an existing app unless partialUpdate=false.
      const partial = patch || q["partialUpdate"] !== "false";
      const merged = prev && partial ? { ...mergeAppUpdate(prev, body), id } : { ...body, id };
      const r = await s.putApp(merged, { force: flag(q, "force"), create: false });
      apiPost(req, r.app);
      return reply
        .code(r.created ? 201 : 200)
        .header("Marathon-Deployment-Id", r.deployment.id)
        .send({ version: r.app["version"], deploymentId: r.deployment.id });
    });
  app.put("/v2/apps/*", putOne(false));
  app.patch("/v2/apps/*", putOne(true));

  app.post(
    "/v2/apps/*",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const { id, sub } = parseAppPath((req.params as { "*": string })["*"]);
      if (sub !== "restart") return reply.code(405).send({ message: "POST is allowed on /v2/apps and /v2/apps/{id}/restart" });
      const a = s.state.apps.get(id);
      if (!a) return reply.code(404).send({ message: `App '${id}' does not exist` });
      const r = await s.putApp({ ...a }, { force: flag(q, "force"), create: false, restart: true });
      return reply.header("Marathon-Deployment-Id", r.deployment.id).send({ version: r.app["version"], deploymentId: r.deployment.id });
    }),
  );

  app.delete(
    "/v2/apps/*",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const { id, sub, arg } = parseAppPath((req.params as { "*": string })["*"]);
      if (!sub) {
        const d = await s.removeApp(id, flag(q, "force"));
        return reply.header("Marathon-Deployment-Id", d.id).send({ version: d.version, deploymentId: d.id });
      }
      if (sub !== "tasks") return reply.code(405).send({ message: `DELETE is not allowed on ${sub}` });
      const a = s.state.apps.get(id);
      if (!a) return reply.code(404).send({ message: `App '${id}' does not exist` });
      const host = typeof q["host"] === "string" ? q["host"] : undefined;
      const all = [...(s.state.byApp.get(id)?.values() ?? [])].filter((i) => !TERMINAL.has(i.state));
      const ids = arg ? [arg] : all.filter((i) => !host || i.host === host).map((i) => i.id);
      if (arg && !all.some((i) => i.id === arg)) return reply.code(404).send({ message: `Task '${arg}' does not exist` });
      const r = await s.killInstances(ids, { scale: flag(q, "scale"), wipe: flag(q, "wipe"), force: flag(q, "force") });
      if (r.deployment) return { version: r.deployment.version, deploymentId: r.deployment.id };
      const spec = s.spec(a);
      const tasks = r.killed.map((i) => taskJson(i, spec, s.checks));
      return arg ? { task: tasks[0] } : { tasks };
    }),
  );

  // ---- tasks, deployments, queue ------------------------------------------------------------

  app.get(
    "/v2/tasks",
    handle(async (req, _reply, s) => {
      const q = req.query as Query;
      const states = list(q["status"]).map((x) => x.toLowerCase());
      const tasks: unknown[] = [];
      for (const i of s.state.instances.values()) {
        if (TERMINAL.has(i.state)) continue;
        if (states.length > 0 && !states.includes(i.state)) continue;
        const a = s.state.apps.get(i.appId);
        tasks.push(taskJson(i, s.specOf(i.appId), s.checks));
      }
      return { tasks };
    }),
  );

  app.post(
    "/v2/tasks/delete",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const body = req.body as { ids?: unknown };
      if (!body || !Array.isArray(body.ids) || !body.ids.every((x) => typeof x === "string")) {
        return reply.code(422).send({ message: "Object is not valid", details: [{ path: "/ids", errors: ["ids must be an array of task ids"] }] });
      }
      const r = await s.killInstances(body.ids as string[], { scale: flag(q, "scale"), wipe: flag(q, "wipe"), force: flag(q, "force") });
      if (r.deployment) return { version: r.deployment.version, deploymentId: r.deployment.id };
      return { tasks: r.killed.map((i) => taskJson(i, s.specOf(i.appId))) };
    }),
  );

  app.get(
    "/v2/deployments",
    handle(async (_req, _reply, s) => [...s.state.deployments.values()].map((d) => s.deploymentView(d))),
  );

  app.delete(
    "/v2/deployments/:id",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const { id } = req.params as { id: string };
      const force = flag(q, "force");
      const next = await s.cancelDeployment(id, force);
      if (!next) return reply.code(202).send({});
      return reply.code(200).send({ version: next.version, deploymentId: next.id });
    }),
  );

  app.get(
    "/v2/queue",
    handle(async (_req, _reply, s) => {
      const queue = s.queue().map((w) => {
        const a = s.state.apps.get(w.appId)!;
        return queueItemJson(s.appView(a, { counts: true }), w.count, s.delayOf(w.appId), s.offerStats.get(w.appId), w.since, ctx.role);
      });
      return { queue };
    }),
  );

  app.delete(
    "/v2/queue/*",
    handle(async (req, reply, s) => {
      const rest = (req.params as { "*": string })["*"];
      const m = /^(.*)\/delay\/?$/.exec(rest);
      if (!m) return reply.code(404).send({ message: "Use DELETE /v2/queue/{appId}/delay" });
      s.resetDelay(canonicalId(m[1]!));
      return reply.code(204).send();
    }),
  );

  // ---- groups -------------------------------------------------------------------------------

  const groupTree = (s: ServicesScheduler, id: string, embedTasks: boolean): Record<string, unknown> | undefined => {
    const prefix = id === "/" ? "/" : `${id}/`;
    const apps = [...s.state.apps.values()].filter((a) => String(a["id"]).startsWith(prefix));
    if (apps.length === 0 && id !== "/") return undefined;
    const direct = apps.filter((a) => parentOf(String(a["id"])) === id);
    const children = new Set<string>();
    for (const a of apps) {
      const rest = String(a["id"]).slice(prefix.length).split("/");
      if (rest.length > 1) children.add(`${prefix}${rest[0]}`);
    }
    const versions = apps.map((a) => String(a["version"])).sort();
    return {
      id,
      apps: direct.map((a) => s.appView(a, { tasks: embedTasks, counts: true })),
      groups: [...children].sort().map((g) => groupTree(s, g, embedTasks)),
      pods: [],
      dependencies: [],
      version: versions[versions.length - 1] ?? new Date(0).toISOString(),
    };
  };
  app.get(
    "/v2/groups",
    handle(async (req, _reply, s) => groupTree(s, "/", list((req.query as Query)["embed"]).some((e) => e.endsWith("apps.tasks")))),
  );
  app.get(
    "/v2/groups/*",
    handle(async (req, reply, s) => {
      const id = canonicalId((req.params as { "*": string })["*"] || "/");
      const tree = groupTree(s, id, false);
      return tree ?? reply.code(404).send({ message: `Group '${id}' does not exist` });
    }),
  );
  const putGroup = handle(async (req, reply, s) => {
    const q = req.query as Query;
    const body = req.body as AppJson;
    if (!body || typeof body !== "object") return reply.code(422).send({ message: "Object is not valid", details: [{ path: "/", errors: ["expected a group"] }] });
    const apps = groupApps(body, (req.params as { "*"?: string })["*"]);
    const ids: string[] = [];
    let version = "";
    for (const a of apps) {
      const r = await s.putApp(a, { force: flag(q, "force"), create: false });
      apiPost(req, r.app);
      ids.push(r.deployment.id);
      version = String(r.app["version"]);
    }
    return reply.code(req.method === "POST" ? 201 : 200).send({ version, deploymentId: ids[0] ?? null, deploymentIds: ids });
  });
  app.post("/v2/groups", putGroup);
  app.put("/v2/groups", putGroup);
  app.post("/v2/groups/*", putGroup);
  app.put("/v2/groups/*", putGroup);
  app.delete(
    "/v2/groups/*",
    handle(async (req, reply, s) => {
      const q = req.query as Query;
      const id = canonicalId((req.params as { "*": string })["*"]);
      const prefix = `${id}/`;
      const ids = [...s.state.apps.keys()].filter((a) => a.startsWith(prefix));
      if (ids.length === 0) return reply.code(404).send({ message: `Group '${id}' does not exist` });
      let last = "";
      for (const a of ids) last = (await s.removeApp(a, flag(q, "force"))).id;
      return { version: new Date().toISOString(), deploymentId: last };
    }),
  );

  // ---- events -------------------------------------------------------------------------------

  app.get("/v2/events", (req, reply) => {
    const types = list((req.query as Query)["event_type"]);
    const first = [{ type: "event_stream_attached", data: { remoteAddress: req.ip, eventType: "event_stream_attached", timestamp: new Date().toISOString() } }];
    ctx.events.attach(req, reply, types, first, ctx.eventFilter?.(req));
  });
}

function matchesLabel(a: AppJson, selector: string): boolean {
  const labels = (a["labels"] ?? {}) as Record<string, string>;
  return selector.split(",").every((part) => {
    const m = /^\s*([^!=\s]+)\s*(==|!=|=)?\s*(.*?)\s*$/.exec(part);
    if (!m) return false;
    const [, key, op, value] = m;
    if (!op) return key! in labels;
    return op === "!=" ? labels[key!] !== value : labels[key!] === value;
  });
}
