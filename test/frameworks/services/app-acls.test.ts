/**
 * Per-app ACLs on the services API: two principals, each limited to its own app id prefix,
 * and an admin, against the leader on the manual clock (recording driver) behind the
 * real HTTP guard on a loopback socket: lists filtered, writes refused with a 403 JSON body
 * and nothing changed, group bodies that reach outside refused, /v2/events filtered,
 * anonymous callers refused when authentication is required.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { EventStream } from "../../../src/frameworks/common/event-stream.js";
import { appEventFilter, installAppAcls } from "../../../src/frameworks/services/app-acls.js";
import { installServicesApi } from "../../../src/frameworks/services/services-api.js";
import { Acls } from "../../../src/security/auth/acls.js";
import { addHttpGuard } from "../../../src/security/auth/http-guard.js";
import { serviceSecurity } from "../../../src/security/auth/security-config.js";
import { SystemClock } from "../../../src/runtime/clock.js";
import { World } from "../../support/services-world.js";

const SECRETS: Record<string, string> = { alice: "alice-secret-1", bob: "bob-secret-22", admin: "admin-secret-333" };
const rules = (action: string) => [
  { principals: { values: ["alice"] }, app_ids: { values: ["/team-a"] } },
  { principals: { values: ["bob"] }, app_ids: { values: ["/team-b"] } },
  { principals: { values: ["admin"] }, app_ids: { type: "ANY" } },
  ...(action === "view_apps" ? [] : [{ principals: { type: "ANY" }, app_ids: { type: "NONE" } }]),
];
const ACLS = { permissive: false, view_apps: rules("view_apps"), create_apps: rules("create_apps"), update_apps: rules("update_apps"), delete_apps: rules("delete_apps") };

const app = (id: string) => ({ id, cmd: "sleep 1000", cpus: 0.1, mem: 32, instances: 1 });

describe("services API: per-app ACLs (view/create/update/delete_apps by app id prefix)", () => {
  const w = new World();
  const events = new EventStream({ clock: new SystemClock() });
  let http: FastifyInstance;
  let url = "";

  const call = async (who: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    if (who) headers["authorization"] = `Bearer ${SECRETS[who]}`;
    const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    await w.clock.settle();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const ids = (list: { id: string }[]) => list.map((a) => a.id).sort();
  const groupAppIds = (g: any): string[] => [...(g.apps ?? []).map((a: { id: string }) => a.id), ...(g.groups ?? []).flatMap(groupAppIds)].sort();

  before(async () => {
    await w.lead("a");
    const security = serviceSecurity({ credentials: Object.entries(SECRETS).map(([principal, secret]) => ({ principal, secret })), acls: Acls.parse(ACLS) });
    http = Fastify({ logger: false });
    addHttpGuard(http, security);
    installAppAcls(http, { authorizer: security.authorizer, scheduler: () => w.s });
    installServicesApi(http, { scheduler: () => w.s, events, role: "*", eventFilter: (req) => appEventFilter(req, security.authorizer) });
    await http.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
  });

  after(async () => {
    events.close();
    await http.close();
    await w.close();
  });

  it("anonymous callers are refused (401) when authentication is required", async () => {
    assert.equal((await call(undefined, "GET", "/v2/apps")).status, 401);
    assert.equal((await call(undefined, "POST", "/v2/apps", app("/team-a/x"))).status, 401);
    assert.equal(w.s.state.apps.size, 0);
  });

  it("each principal creates only under its own prefix; a refusal is 403 JSON and changes nothing", async () => {
    assert.equal((await call("alice", "POST", "/v2/apps", app("/team-a/web"))).status, 201);
    assert.equal((await call("bob", "POST", "/v2/apps", app("/team-b/db"))).status, 201);
    const refused = await call("alice", "POST", "/v2/apps", app("/team-b/evil"));
    assert.equal(refused.status, 403);
    assert.match(refused.json.message, /principal 'alice' may not create app '\/team-b\/evil' \(ACL create_apps\)/);
    assert.equal((await call("alice", "POST", "/v2/apps", app("/team-ab/x"))).status, 403, "/team-a is not a prefix of /team-ab");
    assert.equal((await call("alice", "PUT", "/v2/apps/team-b/new", app("/team-b/new"))).status, 403, "PUT that would create");
    assert.equal((await call("alice", "PUT", "/v2/apps", [app("/team-a/two"), app("/team-b/three")])).status, 403, "a list with one foreign app");
    const groupOut = await call("alice", "POST", "/v2/groups", { id: "/team-a", apps: [{ ...app("/team-b/escape") }] });
    assert.equal(groupOut.status, 403, "a group body whose absolute app id leaves the prefix");
    assert.equal((await call("alice", "POST", "/v2/groups", { id: "/team-a/g", apps: [{ ...app("inner") }] })).status, 201);
    assert.deepEqual([...w.s.state.apps.keys()].sort(), ["/team-a/g/inner", "/team-a/web", "/team-b/db"]);
  });

  it("reads are filtered: apps, tasks, deployments, queue, groups; one foreign app is 403", async () => {
    await w.offers("h1");
    assert.deepEqual(ids((await call("alice", "GET", "/v2/apps")).json.apps), ["/team-a/g/inner", "/team-a/web"]);
    assert.deepEqual(ids((await call("bob", "GET", "/v2/apps?embed=apps.tasks")).json.apps), ["/team-b/db"]);
    assert.deepEqual(ids((await call("admin", "GET", "/v2/apps")).json.apps), ["/team-a/g/inner", "/team-a/web", "/team-b/db"]);
    assert.equal((await call("alice", "GET", "/v2/apps/team-b/db")).status, 403);
    assert.equal((await call("alice", "GET", "/v2/apps/team-b/db/tasks")).status, 403);
    assert.equal((await call("bob", "GET", "/v2/apps/team-b/db")).status, 200);
    const aliceTasks = (await call("alice", "GET", "/v2/tasks")).json.tasks as { appId: string }[];
    assert.equal(aliceTasks.length, 2);
    assert.ok(aliceTasks.every((t) => t.appId.startsWith("/team-a/")));
    assert.equal((await call("admin", "GET", "/v2/tasks")).json.tasks.length, 3);
    const deployments = (await call("bob", "GET", "/v2/deployments")).json as { affectedApps: string[] }[];
    assert.deepEqual(deployments.flatMap((d) => d.affectedApps), ["/team-b/db"]);
    assert.deepEqual(groupAppIds((await call("alice", "GET", "/v2/groups")).json), ["/team-a/g/inner", "/team-a/web"]);
    assert.deepEqual(groupAppIds((await call("bob", "GET", "/v2/groups")).json), ["/team-b/db"]);
    assert.equal((await call("alice", "GET", "/v2/queue")).status, 200);
  });

  it("changes to another principal's apps are refused: update, restart, scale, kill tasks, cancel deployments, delete", async () => {
    const bobTask = w.live("/team-b/db")[0]!.id;
    const bobDeployment = [...w.s.state.deployments.values()].find((d) => d.appId === "/team-b/db")!;
    const before = JSON.stringify(w.s.state.apps.get("/team-b/db"));
    for (const [method, path, body] of [
      ["PUT", "/v2/apps/team-b/db", { instances: 5 }],
      ["PATCH", "/v2/apps/team-b/db", { instances: 5 }],
      ["POST", "/v2/apps/team-b/db/restart", undefined],
      ["DELETE", `/v2/apps/team-b/db/tasks/${bobTask}`, undefined],
      ["POST", "/v2/tasks/delete?scale=true", { ids: [bobTask] }],
      ["DELETE", `/v2/deployments/${bobDeployment.id}`, undefined],
      ["DELETE", "/v2/queue/team-b/db/delay", undefined],
      ["DELETE", "/v2/apps/team-b/db", undefined],
      ["DELETE", "/v2/groups/team-b", undefined],
    ] as const) {
      const r = await call("alice", method, path, body);
      assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.message, "string");
    }
    assert.equal(JSON.stringify(w.s.state.apps.get("/team-b/db")), before, "bob's app unchanged");
    assert.ok(w.s.state.deployments.has(bobDeployment.id));
    assert.deepEqual(w.driver.killed, [], "nothing killed");
    // Their own: allowed.
    assert.equal((await call("alice", "PUT", "/v2/apps/team-a/web?force=true", { instances: 2 })).status, 200);
    assert.equal((await call("bob", "DELETE", `/v2/apps/team-b/db/tasks/${bobTask}`)).status, 200);
    assert.equal((await call("admin", "PATCH", "/v2/apps/team-b/db?force=true", { instances: 2 })).status, 200);
  });

  it("/v2/events carries only the events of apps the caller may view", async () => {
    const received: string[] = [];
    const ac = new AbortController();
    const res = await fetch(`${url}/v2/events`, { headers: { authorization: `Bearer ${SECRETS["alice"]}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const reading = (async () => {
      let text = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += Buffer.from(value!).toString();
        for (;;) {
          const end = text.indexOf("\n\n");
          if (end < 0) break;
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data) received.push(JSON.stringify(JSON.parse(data)));
        }
      }
    })();
    await call("bob", "POST", "/v2/apps", app("/team-b/second"));
    await call("alice", "POST", "/v2/apps", app("/team-a/second"));
    const deadline = Date.now() + 10_000;
    while (!received.some((e) => e.includes("/team-a/second")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await reading;
    assert.ok(received.some((e) => e.includes('"eventType":"event_stream_attached"')));
    assert.ok(received.some((e) => e.includes('"eventType":"api_post_event"') && e.includes("/team-a/second")), "alice's own app");
    assert.ok(!received.some((e) => e.includes("/team-b")), `no event of bob's apps: ${received.join("\n")}`);
  });
});
