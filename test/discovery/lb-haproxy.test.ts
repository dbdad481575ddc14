/**
 * The load balancer with Debian's real haproxy, driven through a stand-in services API
 * (Marathon's /v2/apps and /v2/events shapes) and real HTTP servers as instances: traffic
 * through the service port reaches every ready instance, scaling and killing change the
 * backends, 10 reloads under a request loop fail no request, VHOST routes by Host header,
 * and bad labels are reported with the app id without taking the balancer down.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LoadBalancer } from "../../src/discovery/lb/load-balancer.js";
import type { MarathonApp } from "../../src/discovery/lb/marathon-apps.js";
import { render } from "../../src/discovery/lb/render.js";
import { startLbHttp } from "../../src/operator/lb-http.js";
import type { RunningHttp } from "../../src/operator/http-server.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { testLogger } from "../../src/runtime/log.js";
import { freePort } from "../support/master-processes.js";
import { get, requestLoop, startInstance, type Instance } from "../support/instance-servers.js";
import { ServicesFixture } from "../support/services-fixture.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

/** GET over TLS to 127.0.0.1:port, trusting only `ca`; resolves with the body. */
function getTls(port: number, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: "close", ...(servername ? { host: servername } : {}) };
    const req = httpsRequest({ host: "127.0.0.1", port, path: "/", ca, servername, agent: false, timeout: 5000, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

function webApp(servicePort: number, instances: Instance[], labels: Record<string, string> = {}, id = "/shop/web"): MarathonApp {
  return {
    id,
    labels: { HAPROXY_GROUP: "external", ...labels },
    portDefinitions: [{ port: servicePort, protocol: "tcp" }],
    healthChecks: [{ protocol: "MESOS_HTTP", path: "/" }],
    tasks: instances.map((i) => ({
      id: `${id.slice(1).replace(/\//g, "_")}.${i.id}`,
      appId: id,
      host: "127.0.0.1",
      ports: [i.port],
      servicePorts: [servicePort],
      state: "TASK_RUNNING",
      startedAt: new Date().toISOString(),
      healthCheckResults: [{ alive: true }],
    })),
  };
}

describe("dcos-node lb with a real haproxy", () => {
  const fixture = new ServicesFixture();
  const instances: Instance[] = [];
  let dir = "";
  let lb: LoadBalancer;
  let http: RunningHttp;
  let webPort = 0;
  let vhostPort = 0;
  let sitePort = 0;
  let otherPort = 0;
  let tlsVhostPort = 0;

  const servers = (backendPrefix: string): string[] => lb.status().ports.find((p) => p.backend.startsWith(backendPrefix))?.servers ?? [];
  const lbGet = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://${http.address}${path}`);
    return { status: res.status, body: await res.text() };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-lb-"));
    await fixture.start();
    for (let i = 1; i <= 6; i++) instances.push(await startInstance(`web-${i}`));
    [webPort, vhostPort, sitePort, otherPort, tlsVhostPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    lb = new LoadBalancer({ urls: [fixture.url], group: "external", httpPort: vhostPort, httpsPort: tlsVhostPort, bindAddr: "127.0.0.1", dir, reloadIntervalMs: 100, logger: testLogger(), metrics: new Metrics() });
    await lb.start();
    http = await startLbHttp({ host: "127.0.0.1", port: 0, lb, metrics: new Metrics(), version: "test", flags: {}, logger: testLogger() });
    await waitFor(() => fixture.eventClients > 0, "the load balancer to follow /v2/events");
  });

  after(async () => {
    await http?.close();
    await lb?.stop();
    await fixture.stop();
    await Promise.all(instances.map((i) => i.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it("3 instances: every request through the service port is answered and all 3 are seen", async () => {
    fixture.set([webApp(webPort, instances.slice(0, 3))]);
    await waitFor(() => servers("shop_web_").length === 3, "3 backends");
    const r = await requestLoop(webPort, () => false, 60);
    assert.equal(r.failed, 0, r.errors.join("\n"));
    assert.deepEqual([...r.seen.keys()].sort(), ["web-1", "web-2", "web-3"]);
  });

  it("scaled to 5, the new instances receive traffic; a killed one leaves the backends before its replacement joins", async () => {
    const reloads = lb.haproxy.reloads;
    const runtimeUpdates = lb.status().runtimeUpdates;
    fixture.set([webApp(webPort, instances.slice(0, 5))]);
    await waitFor(() => servers("shop_web_").length === 5, "5 backends");
    const r = await requestLoop(webPort, () => false, 100);
    assert.equal(r.failed, 0, r.errors.join("\n"));
    assert.deepEqual([...r.seen.keys()].sort(), ["web-1", "web-2", "web-3", "web-4", "web-5"]);

    // web-5 is killed: its task goes (TASK_KILLED), then a replacement (web-6) starts.
    const killed = instances[4]!;
    await killed.close();
    fixture.set([webApp(webPort, instances.slice(0, 4))]);
    await waitFor(() => servers("shop_web_").length === 4, "the killed instance to leave the backends");
    assert.ok(!servers("shop_web_").includes(`127.0.0.1:${killed.port}`));
    // haproxy itself has it in maintenance (no new connections), without a reload.
    const stat = (await lb.haproxy.runtimeCommand("show stat")).split("\n").map((l) => l.split(","));
    assert.equal(stat.find((f) => f[0] === `shop_web_${webPort}` && f[1] === `127.0.0.1_${killed.port}`)?.[17], "MAINT");
    fixture.set([webApp(webPort, [...instances.slice(0, 4), instances[5]!])]);
    await waitFor(() => servers("shop_web_").includes(`127.0.0.1:${instances[5]!.port}`), "the replacement to join");
    const after = await requestLoop(webPort, () => false, 100);
    assert.equal(after.failed, 0, after.errors.join("\n"));
    assert.ok(after.seen.has("web-6") && !after.seen.has("web-5"), JSON.stringify([...after.seen]));
    assert.equal(lb.haproxy.reloads, reloads, "server changes need no reload");
    assert.ok(lb.status().runtimeUpdates >= runtimeUpdates + 3, "scale, kill and replacement went through the runtime API");
  });

  it("10 reloads under a bounded loop of requests: 0 failed requests", async () => {
    const live = [...instances.slice(0, 4), instances[5]!];
    const reloadsBefore = lb.haproxy.reloads;
    let done = false;
    const loop = requestLoop(webPort, () => done, 20_000, 4);
    for (let i = 0; i < 10; i++) {
      const target = reloadsBefore + i + 1;
      // Each change adds or removes another app's frontend: a real reload, not a no-op.
      const apps = i % 2 === 0 ? [webApp(webPort, live), webApp(otherPort, [instances[0]!], {}, "/other")] : [webApp(webPort, live)];
      fixture.set(apps);
      await waitFor(() => lb.haproxy.reloads >= target, `reload ${i + 1}`, 15_000);
    }
    done = true;
    const r = await loop;
    assert.equal(lb.haproxy.reloads - reloadsBefore, 10);
    assert.ok(r.ok > 0);
    assert.equal(r.failed, 0, `failed requests during reloads: ${r.failed} of ${r.ok + r.failed}\n${r.errors.join("\n")}`);
  });

  it("a HAPROXY_0_VHOST app is reached by its Host header on the HTTP frontend", async () => {
    const site = await startInstance("site-1");
    instances.push(site);
    fixture.set([webApp(webPort, instances.slice(0, 3)), webApp(sitePort, [site], { HAPROXY_0_VHOST: "site.example.com" }, "/site")]);
    await waitFor(() => servers("site_").length === 1, "the site's backend");
    assert.equal(await get(vhostPort, "/", { host: "site.example.com" }), "site-1");
    assert.equal(await get(vhostPort, "/", { host: "SITE.example.com:80" }), "site-1");
    await assert.rejects(get(vhostPort, "/", { host: "other.example.com" }), /HTTP 503/);
    assert.equal(await get(sitePort, "/"), "site-1", "and on its own service port");
  });

  it("a bad label is reported with the app id and leaves the others serving; so is a value haproxy -c rejects", async () => {
    const reloads = lb.haproxy.reloads;
    fixture.set([
      webApp(webPort, instances.slice(0, 3)),
      webApp(sitePort, [instances[3]!], { HAPROXY_0_BALANCE: "bogus" }, "/bad-label"),
      webApp(otherPort, [instances[3]!], { HAPROXY_0_BALANCE: "random(0)" }, "/rejected"),
    ]);
    await waitFor(() => lb.status().problems.some((p) => p.appId === "/rejected"), "the rejected app to be reported", 15_000);
    const problems = lb.status().problems;
    assert.ok(problems.some((p) => p.appId === "/bad-label" && p.label === "HAPROXY_0_BALANCE"), JSON.stringify(problems));
    assert.match(problems.find((p) => p.appId === "/rejected")!.message, /number of draws/);
    assert.ok(lb.haproxy.reloads > reloads, "the good part went live");
    assert.deepEqual(lb.status().ports.map((p) => p.appId), ["/shop/web"]);
    assert.doesNotMatch(lb.config, /bogus|random\(0\)/);
    assert.equal(lb.status().lastError, undefined);
    const r = await requestLoop(webPort, () => false, 20);
    assert.equal(r.failed, 0);
  });

  it("HAPROXY_0_SSL_CERT: the service port speaks TLS with that certificate, and the VHOST on the shared HTTPS frontend by SNI; per-port templates go live; a template haproxy rejects is reported by app id", async () => {
    const tls = await testTls("principal", "lb-site", { hosts: ["127.0.0.1", "localhost", "tls.example.com"] });
    const pem = join(dir, "site.pem");
    // haproxy reads the certificate and its key from one PEM file.
    await writeFile(pem, `${tls.cert.trimEnd()}\n${tls.key.trimEnd()}\n`, { mode: 0o600 });
    fixture.set([
      webApp(webPort, instances.slice(0, 3)),
      webApp(sitePort, [instances[3]!], { HAPROXY_0_SSL_CERT: pem, HAPROXY_0_VHOST: "tls.example.com", HAPROXY_0_BACKEND_HEAD: "backend {backend}\n  balance first\n  mode {mode}\n  timeout server 9s" }, "/tls"),
      webApp(otherPort, [instances[4]!], { HAPROXY_0_BACKEND_HEAD: "backend {backend}\n  mode {mode}\n  no_such_keyword 1" }, "/bad-template"),
    ]);
    await waitFor(() => servers("tls_").length === 1 && lb.status().problems.some((p) => p.appId === "/bad-template"), "the TLS app to serve and the bad template to be reported", 15_000);
    assert.equal(await getTls(sitePort, tls.ca), instances[3]!.id);
    assert.equal(await getTls(tlsVhostPort, tls.ca, "tls.example.com"), instances[3]!.id, "by SNI on the shared HTTPS frontend");
    await assert.rejects(getTls(tlsVhostPort, tls.ca, "localhost"), /HTTP 503/, "a name no app has: no backend");
    await assert.rejects(get(sitePort, "/"), "plain HTTP is not served on a TLS port");
    assert.match(lb.config, /bind 127\.0\.0\.1:\d+ ssl crt \S+site\.pem/);
    assert.match(lb.config, /balance first\n  mode http\n  timeout server 9s/);
    const bad = lb.status().problems.find((p) => p.appId === "/bad-template")!;
    assert.equal(bad.label, "(haproxy -c)");
    assert.match(bad.message, /no_such_keyword/);
    assert.doesNotMatch(lb.config, /no_such_keyword/);
    const r = await requestLoop(webPort, () => false, 20);
    assert.equal(r.failed, 0);
    fixture.set([webApp(webPort, instances.slice(0, 3))]);
    await waitFor(() => lb.status().ports.length === 1 && lb.status().problems.length === 0, "back to the web app alone");
  });

  it("serves marathon-lb's endpoints: health check, current config, stats page, status", async () => {
    assert.deepEqual(await lbGet("/_haproxy_health_check"), { status: 200, body: "OK\n" });
    const config = await lbGet("/_haproxy_getconfig");
    assert.equal(config.body, lb.config);
    assert.match(config.body, new RegExp(`frontend shop_web_${webPort}`));
    const stats = await lbGet("/haproxy?stats;csv");
    assert.equal(stats.status, 200);
    assert.match(stats.body, new RegExp(`^shop_web_${webPort},127\\.0\\.0\\.1_\\d+,`, "m"));
    const status = JSON.parse((await lbGet("/_lb/status")).body) as { reloads: number; ports: unknown[] };
    assert.ok(status.reloads > 10 && status.ports.length === 1);
  });

  it("follows the event stream again when it breaks, and catches up", async () => {
    const connections = lb.api.connections;
    fixture.dropStreams();
    fixture.apps = [webApp(webPort, instances.slice(0, 2))];
    await waitFor(() => lb.api.connections > connections, "the load balancer to reconnect to /v2/events", 10_000);
    await waitFor(() => servers("shop_web_").length === 2, "the change made while disconnected");
  });

  it("a read of the apps that fails is tried again until it succeeds, without another event", async () => {
    const reads = fixture.appsRequests;
    fixture.failApps = 2;
    fixture.set([webApp(webPort, instances.slice(0, 3))]);
    await waitFor(() => servers("shop_web_").length === 3, "the change whose reads failed twice", 15_000);
    assert.ok(fixture.appsRequests >= reads + 3, `read ${fixture.appsRequests - reads} times`);
    assert.equal(lb.status().lastError, undefined);
  });

  it("a task whose host does not resolve yet joins once it does, without another event", async () => {
    let failures = 2;
    const flakyDir = await mkdtemp(join(tmpdir(), "dcos-lb-flaky-"));
    const flaky = new LoadBalancer({
      urls: [fixture.url],
      group: "flaky",
      httpPort: 0,
      bindAddr: "127.0.0.1",
      dir: flakyDir,
      reloadIntervalMs: 100,
      logger: testLogger(),
      lookup: async (host) => {
        if (host === "flaky-agent" && failures-- > 0) throw new Error("EAI_AGAIN");
        return "127.0.0.1";
      },
    });
    try {
      await flaky.start();
      const flakyPort = await freePort();
      const base = webApp(flakyPort, [instances[0]!], { HAPROXY_GROUP: "flaky" }, "/flaky");
      fixture.set([webApp(webPort, instances.slice(0, 3)), { ...base, tasks: base.tasks!.map((t) => ({ ...t, host: "flaky-agent" })) }]);
      await waitFor(() => flaky.status().ports.find((p) => p.appId === "/flaky")?.servers.length === 1, "the task to join once its host resolves", 15_000);
      assert.ok(failures < 0, "the host was looked up again after failing twice");
      assert.equal(await get(flakyPort, "/"), instances[0]!.id);
    } finally {
      await flaky.stop();
      await rm(flakyDir, { recursive: true, force: true });
      fixture.set([webApp(webPort, instances.slice(0, 3))]);
    }
  });

  it("every label the renderer knows gives a configuration haproxy -c accepts", async () => {
    const all = render(
      [
        webApp(10000, instances.slice(0, 2), { HAPROXY_0_VHOST: "a.example.com,b.example.com", HAPROXY_0_PATH: "/api", HAPROXY_0_STICKY: "true", HAPROXY_0_REDIRECT_TO_HTTPS: "true", HAPROXY_0_BACKEND_WEIGHT: "3", HAPROXY_0_BALANCE: "leastconn" }, "/a"),
        webApp(10001, instances.slice(0, 2), { HAPROXY_0_MODE: "http", HAPROXY_0_BALANCE: "url_param user", HAPROXY_0_BIND_ADDR: "127.0.0.1" }, "/b"),
        webApp(10002, instances.slice(0, 2), { HAPROXY_0_BALANCE: "source", HAPROXY_0_PORT: "10500" }, "/c/d"),
        {
          ...webApp(
            10003,
            instances.slice(0, 2),
            {
              HAPROXY_0_VHOST: "t.example.com",
              HAPROXY_0_PATH: "/t",
              HAPROXY_0_REDIRECT_TO_HTTPS: "true",
              HAPROXY_0_SSL_CERT: join(dir, "site.pem"),
              HAPROXY_0_BIND_OPTIONS: "alpn http/1.1",
              HAPROXY_0_FRONTEND_HEAD: "frontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n  timeout client 20s",
              HAPROXY_0_FRONTEND_BACKEND_GLUE: "  default_backend {backend}",
              HAPROXY_0_BACKEND_HEAD: "backend {backend}\n  balance {balance}\n  mode {mode}\n  timeout server 20s",
              HAPROXY_0_BACKEND_HTTP_OPTIONS: "  option forwardfor\n  http-request add-header X-App {cleanedUpAppId}",
              HAPROXY_0_BACKEND_STICKY_OPTIONS: "  cookie srv insert indirect nocache",
              HAPROXY_0_STICKY: "true",
              HAPROXY_0_BACKEND_HTTP_HEALTHCHECK_OPTIONS: "  option httpchk GET {healthCheckPath}\n  timeout check {healthCheckTimeoutSeconds}s",
              HAPROXY_0_BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS: "  check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls}{healthCheckPortOptions}",
              HAPROXY_0_BACKEND_SERVER_OPTIONS: "  server {serverName} {host_ipv4}:{port}{cookieOptions}{healthCheckOptions} weight 10",
              HAPROXY_0_HTTP_FRONTEND_ACL_ONLY: "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}",
              HAPROXY_0_HTTP_FRONTEND_ACL_ONLY_WITH_PATH: "  acl path_{backend} path_beg {path}",
              HAPROXY_0_BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH: "  redirect scheme https code 301 if !{{ ssl_fc }} host_{cleanedUpHostname} path_{backend}",
              HAPROXY_0_HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH: "  use_backend {backend} if host_{cleanedUpHostname} path_{backend}",
            },
            "/t",
          ),
          healthChecks: [{ protocol: "MESOS_HTTP", path: "/", intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 3 }],
        },
        { ...webApp(10004, instances.slice(0, 2), { HAPROXY_0_BACKEND_TCP_HEALTHCHECK_OPTIONS: "  timeout check 2s", HAPROXY_0_BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS: "  check inter 2s" }, "/tcp"), healthChecks: [{ protocol: "TCP" }] },
      ],
      { group: "external", httpPort: 18080, adminSocket: join(dir, "x.sock"), statsBind: `unix@${join(dir, "y.sock")}` },
    );
    assert.deepEqual(all.problems, []);
    assert.deepEqual(await lb.haproxy.validate(all.config), { ok: true });
  });
});
