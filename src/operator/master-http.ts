/**
 * The master's HTTP endpoint for operators and the web UI: the shared routes, /state and
 * /state-summary (Mesos shapes, serialized once per state version), /redirect to the
 * leading master, and /events: Server-Sent Events of the cluster events, starting with a
 * SUBSCRIBED event that carries /state (taken in the same master turn as the subscription,
 * so applying the events to it gives the current state).
 */
import type { FastifyInstance } from "fastify";
import type { MasterInfo } from "../gen/dcos/v1/cluster_pb.js";
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { MasterCore } from "../actors/master/core.js";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { stateResponse } from "../actors/master/state-view.js";
import { BusSubscription } from "../events/subscription.js";
import { eventJson } from "../events/kinds.js";
import { createHttpServer, flagStrings, listen, type CommonHttpOptions, type RunningHttp } from "./http-server.js";
import { masterStateJson, masterStateSummaryJson, type MasterJsonContext } from "./master-state-json.js";
import { VersionedCache } from "./state-cache.js";
import { addWebUi, type WebUiOptions } from "../ui/web-ui-routes.js";

export interface MasterHttpOptions extends CommonHttpOptions {
  master: MasterFacade;
  cluster: string;
  /** The leader's HTTP host:port for /redirect; default: this server (a single master leads). */
  leaderHttpAddress?: () => string | undefined;
  /** Cache serialized state per version (default true; the bench turns it off to compare). */
  cacheState?: boolean;
  /** Seconds between HEARTBEAT events on /events (default 15). */
  heartbeatSeconds?: number;
  /** The web UI at `/` (src/ui): where agents' HTTP endpoints are, for task sandboxes. */
  ui?: Pick<WebUiOptions, "agentHttpAddress" | "assetsDir" | "clock" | "historyIntervalMs">;
}

export interface RunningMasterHttp extends RunningHttp {
  /** How many times /state or /state-summary was serialized (not served from the cache). */
  readonly stateBuilds: () => number;
}

type View = "state" | "summary";

/** Serializes one view, from the cache when the state version did not change. */
export function stateText(core: MasterCore, startedAtMs: number, cache: VersionedCache, view: View, ctx: Omit<MasterJsonContext, "leader" | "electedTime">): string {
  return cache.get(view, core.stateVersion, () => {
    const state = stateResponse(core, startedAtMs);
    const leader: MasterInfo | undefined = state.masterInfo;
    const full: MasterJsonContext = { ...ctx, leader, electedTime: startedAtMs / 1000 };
    return JSON.stringify(view === "state" ? masterStateJson(state, full) : masterStateSummaryJson(state, full));
  });
}

function sse(type: string, data: string): string {
  return `event: ${type}\ndata: ${data}\n\n`;
}

function addEventStream(app: FastifyInstance, o: MasterHttpOptions, snapshot: (core: MasterCore) => string): void {
  app.get("/events", async (req, reply) => {
    const master = o.master;
    const { subscription, state } = await master.inspect((core) => ({ subscription: new BusSubscription(master.master.events), state: snapshot(core) }));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    raw.write(sse("SUBSCRIBED", `{"type":"SUBSCRIBED","state":${state}}`));
    const heartbeat = setInterval(() => raw.write(sse("HEARTBEAT", '{"type":"HEARTBEAT"}')), (o.heartbeatSeconds ?? 15) * 1000);
    const end = (): void => {
      clearInterval(heartbeat);
      subscription.close();
      raw.end();
    };
    subscription.start({
      deliver: (e: ClusterEvent) => {
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
  const cache = new VersionedCache(o.cacheState ?? true);
  const ctx = { cluster: o.cluster, flags: flagStrings(o.flags) };
  const startedAt = (): number => o.master.master.startedAt;
  const view = (v: View) => (core: MasterCore) => stateText(core, startedAt(), cache, v, ctx);
  const serve = (v: View) => async (_req: unknown, reply: { type(t: string): { send(s: string): unknown } }) =>
    reply.type("application/json").send(await o.master.inspect(view(v)));
  app.get("/state", serve("state"));
  app.get("/state.json", serve("state"));
  app.get("/state-summary", serve("summary"));
  let self = "";
  app.get("/redirect", async (_req, reply) => {
    const leader = o.leaderHttpAddress?.() ?? self;
    if (!leader) return reply.code(503).send({ error: "UNAVAILABLE", message: "No master is leading right now" });
    return reply.redirect(`http://${leader}/`, 307);
  });
  addEventStream(app, o, view("state"));
  addWebUi(app, { ...o.ui, master: o.master, self: () => self, leaderHttpAddress: o.leaderHttpAddress, logger: o.logger });
  const running = await listen(app, o.host, o.port);
  self = running.address;
  return { ...running, stateBuilds: () => cache.builds };
}
