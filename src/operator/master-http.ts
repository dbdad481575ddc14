/**
 * The master's HTTP endpoint for operators and the web UI: the shared routes, /state and
 * /state-summary (Mesos shapes, serialized once per state version), /quota,
 * /maintenance/schedule and /maintenance/status, /redirect to the
 * leading master, and /events: Server-Sent Events of the cluster events, starting with a
 * SUBSCRIBED event that carries /state (taken in the same master turn as the subscription,
 * so applying the events to it gives the current state).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { MasterView } from "../actors/master/master-view.js";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { stateResponse } from "../actors/master/state-response.js";
import { EventVisibility, filterState, VisibleTo, visibleIn } from "../actors/master/state-filter.js";
import { httpCallerOf } from "../security/auth/http-guard.js";
import { viewPermissions, type ViewPermissions } from "../security/auth/view-acls.js";
import { Code, DcosError } from "../runtime/error.js";
import { BusSubscription } from "../events/subscription.js";
import { eventJson } from "../events/kinds.js";
import { createHttpServer, flagStrings, listen, type CommonHttpOptions, type RunningHttp } from "./http-server.js";
import { queryParam, sendError } from "../runtime/http-errors.js";
import { maintenanceJson, masterStateJson, taskJson } from "./master-state-json.js";
import { maintenanceScheduleJson } from "./maintenance-json.js";
import { masterSummaryJson } from "./master-summary-json.js";
import { PartsBody } from "./body-parts.js";
import { StateBytesCache, type InActor, type Prepare, type StateBytes } from "./state-cache.js";
import { StateFragments, type FragmentStats, type StateBody } from "./state-fragments.js";
import { SummaryFragments, type SummaryBody } from "./summary-fragments.js";
import { taskPage } from "./task-page.js";
import { taskGroups } from "../actors/master/state-view.js";
import { quotaJson } from "./quota-json.js";
import { maintenanceSchedule, maintenanceStatus } from "../actors/master/maintenance.js";

export interface MasterHttpOptions extends CommonHttpOptions {
  master: MasterFacade;
  cluster: string;
  /**
   * The leader's HTTP host:port for /redirect and the web UI (this server's while it leads;
   * undefined while none leads: 503). Absent: this server (a single master leads).
   */
  leaderHttpAddress?: () => string | undefined;
  /** Cache serialized state per version (default true; the bench turns it off to compare). */
  cacheState?: boolean;
  /** The least time between two /state builds that requests cause (default 500 ms). */
  minStateRebuildMs?: number;
  /** Seconds between HEARTBEAT events on /events (default 15). */
  heartbeatSeconds?: number;
  /**
   * Routes that another part adds to this server, given its address once it listens: the
   * node adds the web UI's (`ui/web-ui-routes.ts`, `webUiRoutes`) this way, so operator and
   * ui do not import each other.
   */
  routes?: ReadonlyArray<(app: FastifyInstance, self: () => string) => void>;
}

export interface RunningMasterHttp extends RunningHttp {
  /** How many times /state or /state-summary was serialized (not served from the cache). */
  readonly stateBuilds: () => number;
  /** How long the last /state build held the master actor, in ms. */
  readonly lastStateBuildMs: () => number;
  /** How long the last /state-summary build held the master actor, in ms. */
  readonly lastSummaryBuildMs: () => number;
  /** How long the last /frameworks build held the master actor (with /state's, when it built that), in ms. */
  readonly lastFrameworksBuildMs: () => number;
  /** What the last /state build made anew (undefined when /state is built whole). */
  readonly lastStateFragments: () => FragmentStats | undefined;
  /** What the last /state-summary build made anew (undefined when it is built whole). */
  readonly lastSummaryFragments: () => FragmentStats | undefined;
}

type View = "state" | "summary" | "frameworks";

/**
 * Builds one view's JSON text whole from the master's records (inside the master actor),
 * as a caller with `perms` may see it (the cached views are built for callers who see all).
 */
function viewBuilder(o: MasterHttpOptions, view: View, perms?: ViewPermissions): (core: MasterView) => string {
  const ctx = { cluster: o.cluster, flags: flagStrings(o.flags) };
  return (core) => {
    const startedAtMs = o.master.master.startedAt;
    const visible = perms && !perms.all ? visibleIn(stateResponse(core, startedAtMs), perms) : undefined;
    if (view === "summary") {
      return JSON.stringify(masterSummaryJson(core, startedAtMs, { ...ctx, leader: core.masterInfo(), electedTime: startedAtMs / 1000 }, visible && ((id) => visible.framework(id))));
    }
    const state = visible ? filterState(stateResponse(core, startedAtMs), visible.view, visible) : stateResponse(core, startedAtMs);
    const json = masterStateJson(state, { ...ctx, leader: state.masterInfo, electedTime: startedAtMs / 1000 });
    return JSON.stringify(view === "frameworks" ? frameworksJson(json) : json);
  };
}

/** /frameworks (Mesos's /master/frameworks) from /state's JSON. */
function frameworksJson(state: Record<string, unknown>): Record<string, unknown> {
  return { frameworks: state.frameworks, completed_frameworks: state.completed_frameworks, unregistered_frameworks: [] };
}

/** Kept fragments of the cached views (none when caching is off). */
interface ViewFragments {
  state: StateFragments;
  summary: SummaryFragments;
  /** /state's bytes of the version, which /frameworks is cut from. */
  stateOf: (core: MasterView) => StateBytes;
}

/**
 * The cached views' builders: /state and /state-summary from kept fragments
 * (state-fragments.ts, summary-fragments.ts), /frameworks from /state's parts, unless
 * caching is off (then every view is built whole, to compare).
 */
function cachedBuilder(o: MasterHttpOptions, view: View, fragments: ViewFragments | undefined): (core: MasterView) => PartsBody {
  if (fragments) {
    const startedAt = () => o.master.master.startedAt;
    if (view === "state") return (core) => fragments.state.build(core, startedAt());
    if (view === "summary") return (core) => fragments.summary.build(core, startedAt());
    return (core) => (fragments.stateOf(core).parts as StateBody).frameworks;
  }
  const whole = viewBuilder(o, view);
  return (core) => PartsBody.of(whole(core));
}

/** How long one turn of the master actor may make /state fragments ahead of a cold build. */
const WARM_SLICE_MS = 20;

/** Before a cold /state build (the first, or after an election): its fragments made in slices, between the master's other work. */
function warmFragments(fragments: StateFragments): Prepare<MasterView> {
  return async (inActor) => {
    if (!(await inActor((core) => fragments.cold(core)))) return;
    while (!(await inActor((core) => fragments.warm(core, WARM_SLICE_MS))));
  };
}

/** What `req`'s caller may see (everything without security). */
function callerView(o: MasterHttpOptions, req: FastifyRequest): ViewPermissions {
  return viewPermissions(o.security?.authorizer, httpCallerOf(req));
}

/** /state as `perms` sees it, as JSON (filtered views are built per request, never cached). */
function filteredState(o: MasterHttpOptions, core: MasterView, perms: ViewPermissions): Record<string, unknown> {
  const startedAtMs = o.master.master.startedAt;
  const state = filterState(stateResponse(core, startedAtMs), perms);
  return masterStateJson(state, { cluster: o.cluster, flags: flagStrings(o.flags), leader: state.masterInfo, electedTime: startedAtMs / 1000 });
}

/** A non-negative integer query parameter (limit, offset) or its default. */
function countParam(req: FastifyRequest, name: string, fallback: number): number {
  const v = queryParam(req.query, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new DcosError(Code.INVALID_ARGUMENT, `'${name}' must be a non-negative integer, not '${v}'`);
  return Number(v);
}

/**
 * GET /frameworks and /tasks (Mesos's /master/frameworks and /master/tasks, filtered per
 * caller like /state) and POST /teardown (`frameworkId=<id>` as a form, or JSON
 * {"frameworkId": …}; ACL teardown_frameworks on the framework's principal).
 */
function addFrameworkRoutes(
  app: FastifyInstance,
  o: MasterHttpOptions,
  frameworks: StateBytesCache<MasterView>,
  inActor: InActor<MasterView>,
  filtered: ((perms: ViewPermissions) => Promise<StateBody>) | undefined,
): void {
  app.get("/frameworks", async (req, reply) => {
    const perms = callerView(o, req);
    if (perms.all) return sendBytes(req, reply, await frameworks.get(inActor));
    if (filtered) return sendParts(req, reply, (await filtered(perms)).frameworks);
    return frameworksJson(await o.master.inspect((core) => filteredState(o, core, perms)));
  });
  app.get("/tasks", async (req, reply) => {
    try {
      const limit = countParam(req, "limit", 100);
      const offset = countParam(req, "offset", 0);
      const order = queryParam(req.query, "order") ?? "desc";
      if (order !== "asc" && order !== "desc") throw new DcosError(Code.INVALID_ARGUMENT, `'order' must be 'asc' or 'desc', not '${order}'`);
      const perms = callerView(o, req);
      // One pass over the tasks inside the master actor (no /state built): the page only is serialized.
      return await o.master.inspect((core) => {
        const visible = perms.all ? undefined : new VisibleTo(perms);
        if (visible) for (const info of [...[...core.frameworks.values()].map((f) => f.info), ...core.completedFrameworks.values()]) visible.learn(info);
        const g = taskGroups(core);
        const page = taskPage([g.tasks, g.unreachable, g.completed], order, offset, limit, visible && ((t) => visible.task(t)));
        return { tasks: page.map(taskJson) };
      });
    } catch (err) {
      return sendError(reply, err);
    }
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 4096 }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
  app.post("/teardown", async (req, reply) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const id = body.frameworkId ?? queryParam(req.query, "frameworkId");
      if (typeof id !== "string" || id === "") throw new DcosError(Code.INVALID_ARGUMENT, "Missing 'frameworkId' (send frameworkId=<id> as a form or JSON body)");
      const caller = httpCallerOf(req);
      await o.master.teardownFramework(id, (principal) => o.security?.authorizer.check(caller, "teardown_frameworks", principal, `tear down framework ${id} of principal '${principal}'`));
      o.logger?.info({ framework: id, principal: caller.principal ?? "(anonymous)" }, `Framework ${id} torn down by an operator`);
      return reply.code(200).send();
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

/** Sends prebuilt bytes: 304 when the client has them, gzip when it accepts it, else the parts. */
async function sendBytes(req: FastifyRequest, reply: FastifyReply, bytes: StateBytes): Promise<FastifyReply> {
  reply.header("etag", bytes.etag);
  if (req.headers["if-none-match"] === bytes.etag) return reply.code(304).send();
  return sendParts(req, reply, bytes.parts);
}

/** Sends a body of parts: gzip when the client accepts it, else the parts as they are. */
async function sendParts(req: FastifyRequest, reply: FastifyReply, parts: PartsBody): Promise<FastifyReply> {
  reply.header("vary", "accept-encoding").type("application/json");
  if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) return reply.header("content-encoding", "gzip").send(await parts.gzipped());
  // The parts as they are: no 25 MB copy per version (whose memory would make the GC work).
  await parts.prepare();
  return reply.header("content-length", parts.length).send(Readable.from(parts.buffers(), { objectMode: false }));
}

function sse(type: string, data: string): string {
  return `event: ${type}\ndata: ${data}\n\n`;
}

function addEventStream(app: FastifyInstance, o: MasterHttpOptions, snapshot: (core: MasterView) => Buffer): void {
  app.get("/events", async (req, reply) => {
    const master = o.master;
    const perms = callerView(o, req);
    const { subscription, state, visibility } = await master.inspect((core) => {
      if (perms.all) return { subscription: new BusSubscription(master.master.events), state: snapshot(core), visibility: undefined };
      const visible = visibleIn(stateResponse(core, master.master.startedAt), perms);
      const filtered = filterState(stateResponse(core, master.master.startedAt), perms, visible);
      const json = masterStateJson(filtered, { cluster: o.cluster, flags: flagStrings(o.flags), leader: filtered.masterInfo, electedTime: master.master.startedAt / 1000 });
      return { subscription: new BusSubscription(master.master.events), state: Buffer.from(JSON.stringify(json)), visibility: new EventVisibility(filtered, visible) };
    });
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    raw.write('event: SUBSCRIBED\ndata: {"type":"SUBSCRIBED","state":');
    raw.write(state);
    raw.write("}\n\n");
    const heartbeat = setInterval(() => raw.write(sse("HEARTBEAT", '{"type":"HEARTBEAT"}')), (o.heartbeatSeconds ?? 15) * 1000);
    const end = (): void => {
      clearInterval(heartbeat);
      subscription.close();
      raw.end();
    };
    subscription.start({
      deliver: (e: ClusterEvent) => {
        if (visibility && !visibility.sees(e)) return raw.writableLength;
        const json = eventJson(e);
        raw.write(sse(json.type as string, JSON.stringify(json)));
        return raw.writableLength;
      },
      overflow: (why) => {
        o.logger?.warn({ remote: req.ip }, `Closing an /events stream: ${why}`);
        end();
      },
    });
    req.raw.on("close", end);
  });
}

export async function startMasterHttp(o: MasterHttpOptions): Promise<RunningMasterHttp> {
  const app = createHttpServer(o);
  const enabled = o.cacheState ?? true;
  const options = { enabled, minRebuildIntervalMs: o.minStateRebuildMs, runId: Date.now().toString(36) };
  const ctx = { cluster: o.cluster, flags: flagStrings(o.flags) };
  const fragments: ViewFragments | undefined = enabled ? { state: new StateFragments(ctx), summary: new SummaryFragments(ctx), stateOf: (core) => caches.state.current(core) } : undefined;
  const warm = fragments && warmFragments(fragments.state);
  const cache = (v: View) => new StateBytesCache<MasterView>(options, (core) => core.stateVersion, cachedBuilder(o, v, fragments), v === "summary" ? undefined : warm);
  const caches: Record<View, StateBytesCache<MasterView>> = { state: cache("state"), summary: cache("summary"), frameworks: cache("frameworks") };
  const inActor: InActor<MasterView> = (fn) => o.master.inspect(fn);
  // A filtered view of /state: the shared build's body (at least as new as the request), filtered outside the master actor.
  const filtered = fragments && (async (perms: ViewPermissions) => fragments.state.filtered((await caches.state.get(inActor)).parts as StateBody, perms));
  for (const v of ["state", "summary"] as const) {
    const serve = async (req: FastifyRequest, reply: FastifyReply) => {
      const perms = callerView(o, req);
      if (perms.all) return sendBytes(req, reply, await caches[v].get(inActor));
      if (v === "state" && filtered) return sendParts(req, reply, await filtered(perms));
      if (v === "summary" && fragments) return sendParts(req, reply, fragments.summary.filtered((await caches.summary.get(inActor)).parts as SummaryBody, perms));
      return reply.type("application/json").send(await o.master.inspect(viewBuilder(o, v, perms)));
    };
    for (const path of v === "state" ? ["/state", "/state.json"] : ["/state-summary"]) app.get(path, serve);
  }
  addFrameworkRoutes(app, o, caches.frameworks, inActor, filtered);
  app.get("/quota", () => o.master.inspect(quotaJson));
  app.get("/maintenance/status", () => o.master.inspect((core) => maintenanceJson(maintenanceStatus(core))));
  app.get("/maintenance/schedule", () => o.master.inspect((core) => maintenanceScheduleJson(maintenanceSchedule(core))));
  let self = "";
  app.get("/redirect", async (_req, reply) => {
    const leader = o.leaderHttpAddress ? o.leaderHttpAddress() : self;
    if (!leader) return reply.code(503).send({ error: "UNAVAILABLE", message: "No master is leading right now" });
    return reply.redirect(`http://${leader}/`, 307);
  });
  addEventStream(app, o, (core) => caches.state.current(core).body);
  for (const add of o.routes ?? []) add(app, () => self);
  const running = await listen(app, o.host, o.port);
  self = running.address;
  return {
    ...running,
    stateBuilds: () => caches.state.builds + caches.summary.builds,
    lastFrameworksBuildMs: () => caches.frameworks.lastBuildMs,
    lastStateBuildMs: () => caches.state.lastBuildMs,
    lastSummaryBuildMs: () => caches.summary.lastBuildMs,
    lastStateFragments: () => fragments?.state.last,
    lastSummaryFragments: () => fragments?.summary.last,
  };
}
