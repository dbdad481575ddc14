/**
 * The master's and agents' HTTP endpoints: authentication (401 with WWW-Authenticate),
 * ACLs per path (403 JSON), connection limits (slow headers, idle sockets, a cap), and a
 * seeded fuzz of paths, queries and headers (every answer a precise 4xx, never a 5xx).
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { afterEach, describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { startMasterHttp, type RunningMasterHttp } from "../../src/operator/master-http.js";
import { webUiRoutes } from "../../src/ui/web-ui-routes.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { createHttpServer, listen, type RunningHttp } from "../../src/operator/http-server.js";
import { Random } from "../../src/runtime/random.js";
import { Acls } from "../../src/security/auth/acls.js";
import { authorizationHeader } from "../../src/security/auth/client-credential.js";
import { serviceSecurity } from "../../src/security/auth/security-config.js";
import { Cluster } from "../master/harness.js";
import { waitFor } from "../support/wait.js";
import { CREDENTIALS } from "./secured-master.js";
import { testSeed } from "../support/seed.js";

let cluster: Cluster | undefined;
let http: RunningMasterHttp | RunningHttp | undefined;
afterEach(async () => {
  await http?.close();
  await cluster?.stop();
  http = cluster = undefined;
});

const ACLS = {
  view_frameworks: [{ principals: { values: ["ops"] }, users: { type: "ANY" } }, { principals: { type: "NONE" }, users: { type: "ANY" } }],
  get_endpoints: [{ principals: { values: ["ops"] }, paths: { type: "ANY" } }, { principals: { type: "NONE" }, paths: { values: ["/flags"] } }],
};

async function startMaster(): Promise<{ url: string; metrics: Metrics }> {
  cluster = await Cluster.start({ agents: 1 });
  const metrics = cluster.masterSystem.metrics;
  http = await startMasterHttp({
    host: "127.0.0.1",
    port: 0,
    master: cluster.facade,
    metrics,
    cluster: "test",
    version: "t",
    flags: {},
    security: serviceSecurity({ credentials: CREDENTIALS, acls: Acls.parse(ACLS) }, metrics),
    routes: [webUiRoutes({ master: cluster.facade })],
  });
  return { url: `http://${http.address}`, metrics };
}

const as = (principal: string) => ({ authorization: authorizationHeader(CREDENTIALS.find((c) => c.principal === principal)!) });

describe("HTTP authentication and authorization", () => {
  it("anonymous operator calls: /state, /metrics/snapshot, /events are 401 with a JSON body; /health stays open", async () => {
    const { url, metrics } = await startMaster();
    for (const path of ["/state", "/state-summary", "/metrics/snapshot", "/flags", "/events", "/ui/resources", "/"]) {
      const r = await fetch(url + path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic realm="dcos-node"/);
      const body = (await r.json()) as { error: string; message: string };
      assert.equal(body.error, "UNAUTHENTICATED");
      assert.match(body.message, /Authentication required/);
    }
    const wrong = await fetch(`${url}/state`, { headers: { authorization: "Bearer not-a-secret" } });
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { message: string }).message, /Invalid bearer token/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.ok((metrics.snapshot()["authentication/failed"] ?? 0) >= 8);
  });

  it("ACLs per path: bob may not read /ui/resources (403 JSON saying what) and sees no framework in /state, ops sees it; Bearer works as well as Basic", async () => {
    const { url, metrics } = await startMaster();
    await cluster!.subscribe("some-framework");
    const denied = await fetch(`${url}/ui/resources`, { headers: as("bob") });
    assert.equal(denied.status, 403);
    const body = (await denied.json()) as { error: string; message: string };
    assert.equal(body.error, "PERMISSION_DENIED");
    assert.match(body.message, /principal 'bob' may not read \/ui\/resources \(ACL view_frameworks\)/);
    assert.equal((await fetch(`${url}/flags`, { headers: as("bob") })).status, 403);
    // /state is filtered per caller (view_frameworks on each framework's user), as in Mesos.
    const filtered = await fetch(`${url}/state`, { headers: as("bob") });
    assert.equal(filtered.status, 200);
    assert.deepEqual(((await filtered.json()) as { frameworks: unknown[] }).frameworks, []);
    const full = await fetch(`${url}/state`, { headers: as("ops") });
    assert.equal(full.status, 200);
    assert.deepEqual(((await full.json()) as { frameworks: { name: string }[] }).frameworks.map((f) => f.name), ["some-framework"]);
    assert.equal((await fetch(`${url}/metrics/snapshot`, { headers: { authorization: `Bearer ${CREDENTIALS[2]!.secret}` } })).status, 200);
    // The UI's page itself needs only authentication.
    assert.equal((await fetch(`${url}/`, { headers: as("bob") })).status, 200);
    assert.equal(metrics.snapshot()["authorization/denied/view_frameworks"], 1);
  });
});

function rawSocket(address: string): Promise<Socket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => resolve(s));
    s.resume(); // flowing, so the server closing it is seen
    s.on("error", reject);
  });
}

describe("HTTP connection limits", () => {
  it("slow headers and idle sockets are closed, connections beyond the cap are refused", async () => {
    const app = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics(), limits: { headersTimeoutMs: 300, idleTimeoutMs: 800, maxConnections: 4 } });
    const running = (http = await listen(app, "127.0.0.1", 0));
    const slow = await rawSocket(running.address);
    let slowClosed = false;
    slow.on("close", () => (slowClosed = true));
    slow.on("error", () => undefined);
    slow.write("GET /health HTTP/1.1\r\nHost: x\r\n"); // never finishes its headers
    const idle = await rawSocket(running.address);
    let idleClosed = false;
    idle.on("close", () => (idleClosed = true));
    idle.on("error", () => undefined);
    await waitFor(() => slowClosed && idleClosed, "the slow and the idle connection closed by the server", 10_000);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => rawSocket(running.address)));
    const closed = new Set<number>();
    sockets.forEach((s, i) => {
      s.on("close", () => closed.add(i));
      s.on("error", () => undefined);
    });
    await waitFor(() => closed.size >= 4, "connections beyond the cap of 4 closed", 5_000);
    for (const s of sockets) s.destroy();
  });
});

describe("Fuzzing the HTTP endpoints", () => {
  const SEED = testSeed(11);
  const chars = "abc/._-%?&=#~:;@!$'()*+, \u00e9\u65e5\u0000";

  it(`random paths, queries and headers on the master and the agent files get a precise 4xx, never a 5xx (seed ${SEED})`, async () => {
    const { url } = await startMaster();
    const random = new Random(SEED);
    const agentApp = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics() });
    addSandboxFileRoutes(agentApp, "/nonexistent-work-dir");
    await agentApp.ready();
    const word = () => Array.from({ length: random.int(12) }, () => random.pick([...chars])).join("");
    const paths = ["/state", "/files/read", "/files/browse", "/files/download", "/ui/sandbox/f/t/read", "/ui/sandbox/f/t/browse", "/redirect", "/metrics/snapshot", "/events-x"];
    try {
      for (let i = 0; i < 150; i++) {
        const path = random.chance(0.2) ? `/${word()}` : random.pick(paths);
        const query = Array.from({ length: random.int(4) }, () => `${random.pick(["path", "offset", "length", word()])}=${encodeURIComponent(word())}`).join("&");
        const target = `${path}?${query}`;
        const headers: Record<string, string> = random.chance(0.5) ? as("ops") : { authorization: random.pick(["Basic", "Bearer", "Basic %%%", `Basic ${Buffer.from(word()).toString("base64")}`, word().replace(/[^\x20-\x7e]/g, "")]) };
        const agent = await agentApp.inject({ method: "GET", url: target.replace(/^\/(state|ui\/sandbox\/f\/t)/, "/files"), headers });
        assert.ok(agent.statusCode < 500, `seed ${SEED} case ${i} agent ${target}: ${agent.statusCode} ${agent.body.slice(0, 200)}`);
        if (agent.statusCode >= 400) assert.ok(typeof JSON.parse(agent.body).message === "string", `a JSON body: ${agent.body.slice(0, 100)}`);
        if (path.startsWith("/events")) continue;
        const r = await fetch(url + target, { headers, redirect: "manual" }).catch((err: Error) => ({ status: 400, text: async () => `{"message":"client refused: ${err.message}"}` }));
        const text = await r.text();
        assert.ok(r.status < 500 || r.status === 503, `seed ${SEED} case ${i} master ${target}: ${r.status} ${text.slice(0, 200)}`);
      }
    } finally {
      await agentApp.close();
    }
  });
});
