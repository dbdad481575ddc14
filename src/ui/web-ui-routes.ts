/**
 * The web UI on the master's HTTP endpoint:
 * - `/` the single-page app (a standby redirects the browser to the leading master's `/`);
 * - `/ui/assets/<file>` its script and styles, bundled by `npm run build` into dist/ui;
 * - `/ui/resources` the cluster's resources now, `/ui/resources/history` the last hour of
 *   them (sampled here, so the plots are full as soon as a page opens);
 * - `/ui/events/recent` the last events published (the feed's start; then `/events`);
 * - `/ui/sandbox/<framework>/<task>/browse?path=` and `…/read?path=&offset=&length=`: a
 *   task's sandbox files, read from its agent's /files endpoints by the master;
 * - `/service/<framework name>/…`: a framework's API (its webui_url) through the master,
 *   with the caller's credentials (framework-proxy.ts).
 * The live event feed is the master's `/events` stream (Server-Sent Events).
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { queryParam, sendError } from "../runtime/http-errors.js";
import { SystemClock, type Clock } from "../runtime/clock.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";
import { eventJson } from "../events/kinds.js";
import { httpCallerOf } from "../security/auth/http-guard.js";
import { EVERY } from "../security/auth/acls.js";
import { openSecurity, type ServiceSecurity } from "../security/auth/service-security.js";
import { clusterResources } from "./cluster-resources.js";
import { addFrameworkProxy } from "./framework-proxy.js";
import { RecentEvents } from "./recent-events.js";
import { ResourceHistory } from "./resource-history.js";
import { agentFiles, agentHttpFromInfo, sandboxPath, taskSandbox, type AgentHttpResolver } from "./task-sandbox.js";

export interface WebUiOptions {
  master: MasterFacade;
  /** This server's host:port (known once it listens). */
  self: () => string;
  /** The leading master's HTTP host:port, undefined while none leads; absent: this master leads. */
  leaderHttpAddress?: () => string | undefined;
  /** Where an agent's HTTP endpoint listens; default: what the agent registered with (AgentInfo.http_port). */
  agentHttpAddress?: AgentHttpResolver;
  /** Directory of the built assets; default dist/ui. */
  assetsDir?: string;
  clock?: Clock;
  historyIntervalMs?: number;
  logger?: Logger;
  /** Who may press the agent page's buttons (default: open, as a master without authentication). */
  security?: ServiceSecurity;
  /** Frameworks served under /service/<name>: name → the principal they must have (default DEFAULT_SERVICE_PROXY). */
  serviceProxy?: ReadonlyMap<string, string>;
}

/** dist/ui, from dist/src/ui/web-ui-routes.js. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL("../../ui/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
};

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dcos-node</title>
<link rel="stylesheet" href="/ui/assets/app.css">
</head>
<body>
<div id="app"><noscript>The dcos-node web UI needs JavaScript.</noscript></div>
<script type="module" src="/ui/assets/app.js"></script>
</body>
</html>
`;

type Query = Record<string, string | undefined>;
type Params = { frameworkId: string; taskId: string };

async function answer(reply: FastifyReply, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return await fn();
  } catch (err) {
    return sendError(reply, err);
  }
}

/**
 * The web UI as routes for the master's HTTP server (`MasterHttpOptions.routes`): it learns
 * the server's own address when it listens.
 */
export function webUiRoutes(o: Omit<WebUiOptions, "self">): (app: FastifyInstance, self: () => string) => void {
  return (app, self) => addWebUi(app, { ...o, self });
}

export function addWebUi(app: FastifyInstance, o: WebUiOptions): void {
  const assetsDir = o.assetsDir ?? DEFAULT_ASSETS_DIR;
  const history = new ResourceHistory({
    clock: o.clock ?? new SystemClock(),
    intervalMs: o.historyIntervalMs,
    sample: () => o.master.inspect(clusterResources),
    logger: o.logger,
  });
  history.start();
  const recent = new RecentEvents(o.master.master.events);
  app.addHook("onClose", async () => {
    history.stop();
    recent.close();
  });

  app.get("/", async (_req, reply) => {
    if (o.leaderHttpAddress) {
      const leader = o.leaderHttpAddress();
      if (leader === undefined) {
        return reply.code(503).header("retry-after", "2").type("text/plain").send("No master is leading right now; reload in a few seconds.\n");
      }
      if (leader !== o.self()) return reply.redirect(`http://${leader}/`, 307);
    }
    return reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(INDEX_HTML);
  });

  app.get("/favicon.ico", async (_req, reply) => reply.code(204).send());

  app.get("/ui/assets/:name", async (req, reply) =>
    answer(reply, async () => {
      const name = (req.params as { name: string }).name;
      const type = CONTENT_TYPES[extname(name)];
      if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$/.test(name) || !type) throw new DcosError(Code.NOT_FOUND, `No web UI asset '${name}'`);
      const body = await readFile(join(assetsDir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        throw new DcosError(Code.NOT_FOUND, `No web UI asset '${name}' in ${assetsDir} (is the UI built? run: npm run build)`);
      });
      return reply.type(type).header("cache-control", "no-cache").send(body);
    }),
  );

  app.get("/ui/resources", async () => ({ time: Date.now(), ...(await o.master.inspect(clusterResources)) }));
  app.get("/ui/resources/history", async () => ({ interval_ms: history.intervalMs, window_ms: history.windowMs, samples: history.values() }));
  app.get("/ui/events/recent", async () => ({ events: recent.values().map(eventJson) }));

  const sandboxRoute = (op: "browse" | "read") =>
    app.get(`/ui/sandbox/:frameworkId/:taskId/${op}`, async (req, reply) =>
      answer(reply, async () => {
        const { frameworkId, taskId } = req.params as Params;
        const q = { path: queryParam(req.query, "path"), offset: queryParam(req.query, "offset"), length: queryParam(req.query, "length") };
        const { sandbox, user } = await o.master.inspect((core) => ({
          sandbox: taskSandbox(core, frameworkId, taskId),
          user: core.frameworks.get(frameworkId)?.info.user ?? core.completedFrameworks.values().find((i) => i.id?.value === frameworkId)?.user,
        }));
        // access_sandboxes on the framework's user (the agent checks the same caller again).
        o.security?.authorizer.check(httpCallerOf(req), "access_sandboxes", user ?? EVERY, `read the sandbox of framework ${frameworkId} (user '${user ?? "unknown"}')`);
        const address = (o.agentHttpAddress ?? agentHttpFromInfo)(sandbox.agent);
        if (!address) throw new DcosError(Code.UNAVAILABLE, `This master does not know the HTTP endpoint of agent ${sandbox.agentId} (it registered without an HTTP port)`);
        const query: Record<string, string> = { path: sandboxPath(sandbox.directory, q.path) };
        if (op === "read") {
          if (q.offset !== undefined) query.offset = q.offset;
          if (q.length !== undefined) query.length = q.length;
        }
        // The agent checks the same caller again (access_sandboxes): its credentials go along.
        const got = await agentFiles(address, op, query, undefined, req.headers.authorization);
        const body = op === "browse" && Array.isArray(got.body) ? relativeEntries(got.body, sandbox.directory) : got.body;
        return reply.code(got.status).send(body);
      }),
    );
  sandboxRoute("browse");
  sandboxRoute("read");
  addAgentActions(app, o);
  addFrameworkProxy(app, o.serviceProxy ? { master: o.master, allowed: o.serviceProxy } : { master: o.master });
}

/**
 * The agent page's buttons: POST /ui/agents/:id/drain (JSON body {max_grace_period_seconds?,
 * mark_gone?}) and /ui/agents/:id/reactivate. The caller is the one the HTTP guard
 * authenticated; it is authorized (drain_agents / reactivate_agents ACLs) exactly as the
 * Operator API's calls.
 */
function addAgentActions(app: FastifyInstance, o: WebUiOptions): void {
  const security = o.security ?? openSecurity();
  const act = (action: "drain" | "reactivate") =>
    app.post(`/ui/agents/:agentId/${action}`, async (req, reply) =>
      answer(reply, async () => {
        const { agentId } = req.params as { agentId: string };
        const caller = httpCallerOf(req);
        if (action === "reactivate") {
          security.authorizer.check(caller, "reactivate_agents", agentId, `reactivate agent '${agentId}'`);
          await o.master.reactivateAgent(agentId);
        } else {
          const body = (req.body ?? {}) as { max_grace_period_seconds?: unknown; mark_gone?: unknown };
          const grace = body.max_grace_period_seconds;
          if (grace !== undefined && typeof grace !== "number") throw new DcosError(Code.INVALID_ARGUMENT, "max_grace_period_seconds must be a number of seconds");
          if (body.mark_gone !== undefined && typeof body.mark_gone !== "boolean") throw new DcosError(Code.INVALID_ARGUMENT, "mark_gone must be true or false");
          security.authorizer.check(caller, "drain_agents", agentId, `drain agent '${agentId}'`);
          await o.master.drainAgent(agentId, grace, body.mark_gone === true);
        }
        o.logger?.info({ agent: agentId, principal: caller.principal ?? "(anonymous)" }, `Web UI: ${action} agent ${agentId}`);
        return { agent_id: agentId, action };
      }),
    );
  act("drain");
  act("reactivate");
}

/** Browse entries with paths relative to the sandbox, as the UI asks for them. */
function relativeEntries(entries: Array<Record<string, unknown>>, directory: string): Array<Record<string, unknown>> {
  const prefix = directory.replace(/\/+$/, "") + "/";
  return entries.map((e) => ({ ...e, path: typeof e.path === "string" && e.path.startsWith(prefix) ? e.path.slice(prefix.length) : e.path }));
}
