import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { EventStream } from "../../src/frameworks/common/event-stream.js";
import { installLeaderProxy } from "../../src/frameworks/common/leader-proxy.js";
import { SystemClock } from "../../src/runtime/clock.js";

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: "127.0.0.1", port: 0 });
  const a = app.server.address();
  if (!a || typeof a === "string") throw new Error("no address");
  return `127.0.0.1:${a.port}`;
}

describe("framework HTTP kit", () => {
  it("a non-leader proxies to the leader (body and status unchanged), redirects with 307 in redirect mode, and answers 503 with no leader", async () => {
    const leaderApp = Fastify();
    leaderApp.post("/v2/echo", async (req, reply) => reply.code(201).send({ got: req.body, by: "leader" }));
    const leader = await listen(leaderApp);
    let known: string | undefined = leader;
    const make = async (mode: "proxy" | "redirect") => {
      const app = Fastify();
      let self = "";
      installLeaderProxy(app, { isLeader: () => false, leaderAddress: () => known, selfAddress: () => self }, { mode, leaderHeader: "X-Marathon-Leader", local: (p) => p === "/ping" });
      app.get("/ping", async () => "pong");
      self = await listen(app);
      return { app, self };
    };
    const p = await make("proxy");
    const r = await make("redirect");
    try {
      const res = await fetch(`http://${p.self}/v2/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "/a" }) });
      assert.equal(res.status, 201);
      assert.deepEqual(await res.json(), { got: { id: "/a" }, by: "leader" });
      assert.equal((await fetch(`http://${p.self}/ping`)).status, 200);
      const red = await fetch(`http://${r.self}/v2/echo?x=1`, { method: "POST", redirect: "manual" });
      assert.equal(red.status, 307);
      assert.equal(red.headers.get("location"), `http://${leader}/v2/echo?x=1`);
      assert.equal(red.headers.get("x-marathon-leader"), `http://${leader}`);
      known = undefined;
      const none = await fetch(`http://${p.self}/v2/echo`, { method: "POST" });
      assert.equal(none.status, 503);
      assert.match(((await none.json()) as { message: string }).message, /No leader/);
      known = p.self; // a loop: proxying to itself is refused on the second hop
      const loop = await fetch(`http://${p.self}/v2/echo`, { method: "POST" });
      assert.equal(loop.status, 502);
    } finally {
      await p.app.close();
      await r.app.close();
      await leaderApp.close();
    }
  });

  it("event stream: clients get the events of the types they asked for, as SSE frames", async () => {
    const stream = new EventStream({ clock: new SystemClock(), heartbeatMs: 60_000 });
    const app = Fastify();
    app.get("/v2/events", (req, reply) => {
      const q = req.query as { event_type?: string | string[] };
      const types = q.event_type === undefined ? undefined : ([] as string[]).concat(q.event_type);
      stream.attach(req, reply, types, [{ type: "event_stream_attached", data: { remoteAddress: req.ip } }]);
    });
    const address = await listen(app);
    try {
      const ctl = new AbortController();
      const res = await fetch(`http://${address}/v2/events?event_type=deployment_success`, { signal: ctl.signal, headers: { accept: "text/event-stream" } });
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const reader = res.body!.getReader();
      let text = "";
      const until = async (s: string) => {
        while (!text.includes(s)) text += new TextDecoder().decode((await reader.read()).value);
      };
      await until("event_stream_attached");
      assert.equal(stream.size, 1);
      stream.publish("status_update_event", { taskId: "t1" });
      stream.publish("deployment_success", { id: "d1" });
      await until("d1");
      assert.ok(!text.includes("status_update_event"));
      assert.match(text, /event: deployment_success\ndata: \{"id":"d1"\}\n\n/);
      ctl.abort();
    } finally {
      stream.close();
      await app.close();
    }
  });
});
