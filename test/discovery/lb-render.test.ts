import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { portConfigs } from "../../src/discovery/lb/labels.js";
import { isReady, servicePorts, type MarathonApp, type MarathonTask } from "../../src/discovery/lb/marathon-apps.js";
import { backendName, render, type RenderOptions } from "../../src/discovery/lb/render.js";

const options: RenderOptions = { group: "external", httpPort: 18080, adminSocket: "/tmp/x/admin.sock", statsBind: "unix@/tmp/x/stats.sock" };

function running(host: string, port: number, extra: Partial<MarathonTask> = {}): MarathonTask {
  return { id: `t-${host}-${port}`, host, ports: [port], state: "TASK_RUNNING", ...extra };
}

function app(id: string, labels: Record<string, string>, tasks: MarathonTask[] = [running("10.0.0.1", 31000)], servicePort = 10000): MarathonApp {
  return { id, labels: { HAPROXY_GROUP: "external", ...labels }, portDefinitions: [{ port: servicePort }], tasks };
}

/** The lines of one section (`frontend x`, `backend x`), trimmed. */
function section(config: string, header: string): string[] {
  const lines = config.split("\n");
  const start = lines.indexOf(header);
  assert.notEqual(start, -1, `no '${header}' in:\n${config}`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith("  ")) break;
    out.push(l.trim());
  }
  return out;
}

describe("haproxy.cfg from apps and marathon-lb labels", () => {
  it("a frontend on the service port and a backend named like marathon-lb's, one server per running task", () => {
    const r = render([app("/shop/web", {}, [running("10.0.0.1", 31000), running("10.0.0.2", 31005)])], options);
    assert.deepEqual(r.problems, []);
    assert.equal(backendName("/shop/web", 10000), "shop_web_10000");
    assert.deepEqual(section(r.config, "frontend shop_web_10000"), ["bind *:10000", "mode tcp", "use_backend shop_web_10000"]);
    assert.deepEqual(section(r.config, "backend shop_web_10000"), [
      "balance roundrobin",
      "mode tcp",
      "server 10.0.0.1_31000 10.0.0.1:31000",
      "server 10.0.0.2_31005 10.0.0.2:31005",
    ]);
    assert.deepEqual(r.ports, [
      {
        appId: "/shop/web",
        servicePort: 10000,
        backend: "shop_web_10000",
        servers: ["10.0.0.1:31000", "10.0.0.2:31005"],
        named: [
          { name: "10.0.0.1_31000", address: "10.0.0.1:31000" },
          { name: "10.0.0.2_31005", address: "10.0.0.2:31005" },
        ],
        sticky: false,
        customServers: false,
      },
    ]);
    assert.match(r.config, /stats socket \/tmp\/x\/admin\.sock mode 600 level admin expose-fd listeners/);
  });

  it("only running tasks, and only healthy ones when the app has health checks", () => {
    const web: MarathonApp = {
      ...app("/web", {}, [
        running("10.0.0.1", 31000, { healthCheckResults: [{ alive: true }] }),
        running("10.0.0.2", 31000, { healthCheckResults: [{ alive: false }] }),
        running("10.0.0.3", 31000, { healthCheckResults: [] }),
        running("10.0.0.4", 31000, { state: "TASK_STAGING" }),
        running("10.0.0.5", 31000, { healthCheckResults: [{ alive: true }, { alive: false }] }),
      ]),
      healthChecks: [{ protocol: "HTTP" }],
    };
    assert.deepEqual(render([web], options).ports[0]!.servers, ["10.0.0.1:31000"]);
    assert.equal(isReady({ id: "/a" }, { id: "t", host: "h", startedAt: "2026-01-01T00:00:00Z" }), true, "no state field: started means running");
    assert.equal(isReady({ id: "/a" }, { id: "t", host: "h", startedAt: null }), false);
  });

  it("HAPROXY_GROUP and HAPROXY_{n}_GROUP choose the balancer; '*' serves every app", () => {
    const apps = [
      app("/ext", {}, undefined, 10000),
      app("/int", { HAPROXY_GROUP: "internal" }, undefined, 10001),
      app("/both", { HAPROXY_GROUP: "internal,external" }, undefined, 10002),
      app("/override", { HAPROXY_GROUP: "internal", HAPROXY_0_GROUP: "external" }, undefined, 10003),
      { id: "/none", portDefinitions: [{ port: 10004 }], tasks: [] },
    ];
    assert.deepEqual(render(apps, options).ports.map((p) => p.appId), ["/both", "/ext", "/override"]);
    assert.deepEqual(render(apps, { ...options, group: "internal" }).ports.map((p) => p.appId), ["/both", "/int"]);
    assert.deepEqual(render(apps, { ...options, group: "*" }).ports.map((p) => p.appId), ["/both", "/ext", "/int", "/none", "/override"]);
  });

  it("HAPROXY_{n}_VHOST: HTTP mode, routed by Host header from the shared HTTP frontend and still on its service port", () => {
    const r = render([app("/web", { HAPROXY_0_VHOST: "Web.Example.com, www.example.com" })], options);
    assert.deepEqual(section(r.config, "frontend marathon_http_in"), [
      "bind *:18080",
      "mode http",
      "acl host_web_example_com hdr(host),field(1,:) -i web.example.com",
      "use_backend web_10000 if host_web_example_com",
      "acl host_www_example_com hdr(host),field(1,:) -i www.example.com",
      "use_backend web_10000 if host_www_example_com",
    ]);
    assert.deepEqual(section(r.config, "frontend web_10000").slice(0, 2), ["bind *:10000", "mode http"]);
    assert.ok(section(r.config, "backend web_10000").includes("option forwardfor"));
  });

  it("HAPROXY_{n}_PATH adds a path condition and weight 1; HAPROXY_{n}_BACKEND_WEIGHT orders the rules, largest first", () => {
    const r = render(
      [
        app("/site", { HAPROXY_0_VHOST: "example.com" }, undefined, 10000),
        app("/api", { HAPROXY_0_VHOST: "example.com", HAPROXY_0_PATH: "/api" }, undefined, 10001),
        app("/admin", { HAPROXY_0_VHOST: "example.com", HAPROXY_0_PATH: "/api/admin", HAPROXY_0_BACKEND_WEIGHT: "5" }, undefined, 10002),
      ],
      options,
    );
    const rules = section(r.config, "frontend marathon_http_in").filter((l) => l.startsWith("use_backend"));
    assert.deepEqual(rules, [
      "use_backend admin_10002 if host_example_com path_admin_10002",
      "use_backend api_10001 if host_example_com path_api_10001",
      "use_backend site_10000 if host_example_com",
    ]);
    assert.ok(section(r.config, "frontend marathon_http_in").includes("acl path_api_10001 path_beg /api"));
  });

  it("HAPROXY_{n}_BALANCE, _STICKY and _REDIRECT_TO_HTTPS", () => {
    const r = render(
      [
        app("/lc", { HAPROXY_0_BALANCE: "leastconn" }, undefined, 10000),
        app("/sticky", { HAPROXY_0_STICKY: "true", HAPROXY_0_MODE: "http" }, undefined, 10001),
        app("/secure", { HAPROXY_0_VHOST: "secure.example.com", HAPROXY_0_REDIRECT_TO_HTTPS: "true" }, undefined, 10002),
        app("/hash", { HAPROXY_0_BALANCE: "hdr(X-User)", HAPROXY_0_MODE: "http" }, undefined, 10003),
      ],
      options,
    );
    assert.deepEqual(r.problems, []);
    assert.equal(section(r.config, "backend lc_10000")[0], "balance leastconn");
    assert.equal(section(r.config, "backend hash_10003")[0], "balance hdr(X-User)");
    const sticky = section(r.config, "backend sticky_10001");
    assert.ok(sticky.includes("cookie mesosphere_server_id insert indirect nocache"));
    assert.ok(sticky.includes("server 10.0.0.1_31000 10.0.0.1:31000 cookie 10.0.0.1_31000"));
    assert.deepEqual(section(r.config, "frontend marathon_http_in").slice(2), [
      "acl host_secure_example_com hdr(host),field(1,:) -i secure.example.com",
      "redirect scheme https code 301 if !{ ssl_fc } host_secure_example_com",
      "use_backend secure_10002 if host_secure_example_com",
    ]);
    assert.ok(section(r.config, "frontend secure_10002").includes("redirect scheme https code 301 if !{ ssl_fc }"));
  });

  it("HAPROXY_{n}_PORT and _BIND_ADDR override the service port and the address bound", () => {
    const r = render([app("/p", { HAPROXY_0_PORT: "10500", HAPROXY_0_BIND_ADDR: "127.0.0.2" })], options);
    assert.deepEqual(section(r.config, "frontend p_10500")[0], "bind 127.0.0.2:10500");
  });

  it("service ports come from portDefinitions, else the container's port mappings, else ports", () => {
    assert.deepEqual(servicePorts({ id: "/a", portDefinitions: [{ port: 10000 }, { port: 10001 }] }), [10000, 10001]);
    assert.deepEqual(servicePorts({ id: "/a", container: { type: "DOCKER", portMappings: [{ containerPort: 80, servicePort: 10002 }] } }), [10002]);
    assert.deepEqual(servicePorts({ id: "/a", container: { type: "DOCKER", docker: { portMappings: [{ containerPort: 80, servicePort: 10003 }] } } }), [10003]);
    assert.deepEqual(servicePorts({ id: "/a", ports: [10004] }), [10004]);
    const two: MarathonApp = { id: "/two", labels: { HAPROXY_GROUP: "external", HAPROXY_1_VHOST: "two.example.com" }, portDefinitions: [{ port: 10010 }, { port: 10011 }], tasks: [{ id: "t", host: "10.0.0.9", ports: [31000, 31001], state: "TASK_RUNNING" }] };
    const r = render([two], options);
    assert.deepEqual(r.ports.map((p) => [p.backend, p.servers]), [["two_10010", ["10.0.0.9:31000"]], ["two_10011", ["10.0.0.9:31001"]]]);
    assert.deepEqual(section(r.config, "frontend two_10010")[1], "mode tcp");
    assert.deepEqual(section(r.config, "frontend two_10011")[1], "mode http");
  });

  it("bad labels are reported with the app id and leave only that port out; nothing of them reaches the configuration", () => {
    const bad = {
      HAPROXY_0_BALANCE: "roundrobin\n  server evil 1.2.3.4:22",
      HAPROXY_0_VHOST: "ok.example.com; evil",
      HAPROXY_0_PATH: "no-slash",
      HAPROXY_0_STICKY: "maybe",
      HAPROXY_0_REDIRECT_TO_HTTPS: "sure",
      HAPROXY_0_BACKEND_WEIGHT: "heavy",
      HAPROXY_0_MODE: "udp",
      HAPROXY_0_PORT: "70000",
      HAPROXY_0_BIND_ADDR: "somewhere",
    };
    const { ports, problems } = portConfigs(app("/bad", bad));
    assert.deepEqual(ports, []);
    assert.deepEqual(problems.map((p) => p.label).sort(), Object.keys(bad).sort());
    assert.ok(problems.every((p) => p.appId === "/bad" && p.severity === "error"));
    const r = render([app("/bad", bad, undefined, 10000), app("/good", {}, undefined, 10001)], options);
    assert.deepEqual(r.ports.map((p) => p.appId), ["/good"]);
    assert.doesNotMatch(r.config, /evil|bad_10000/);
  });

  it("tcp mode with HTTP-only labels, a duplicate service port, a missing one and unknown labels are reported", () => {
    const r = render(
      [
        app("/a", { HAPROXY_0_MODE: "tcp", HAPROXY_0_VHOST: "a.example.com" }, undefined, 10000),
        app("/b", {}, undefined, 10001),
        app("/c", {}, undefined, 10001),
        app("/d", {}, undefined, 0),
        app("/e", { HAPROXY_0_AUTH: "realm:user:pass", HAPROXY_3_VHOST: "x.example.com" }, undefined, 10002),
        app("/f", {}, undefined, 18080),
      ],
      options,
    );
    const by = (id: string) => r.problems.filter((p) => p.appId === id).map((p) => `${p.severity}: ${p.label} ${p.message}`);
    assert.match(by("/a")[0]!, /error: HAPROXY_0_MODE tcp cannot route by VHOST/);
    assert.match(by("/c")[0]!, /error: servicePort 0 port 10001 is already served for \/b/);
    assert.match(by("/d")[0]!, /error: servicePort 0 has no service port assigned/);
    assert.deepEqual(by("/e").map((s) => s.split(" ")[0]), ["ignored:", "ignored:"]);
    assert.match(by("/f")[0]!, /already served for the HTTP frontend/);
    assert.deepEqual(r.ports.map((p) => p.appId), ["/b", "/e"]);
  });

  it("HAPROXY_{n}_SSL_CERT terminates TLS on the frontend with that PEM file; _BIND_OPTIONS add to the bind line; bad values are errors", () => {
    const r = render(
      [
        app("/tls", { HAPROXY_0_SSL_CERT: "/etc/ssl/site.pem", HAPROXY_0_BIND_OPTIONS: "alpn h2,http/1.1" }, undefined, 10000),
        app("/bad", { HAPROXY_0_SSL_CERT: "site.pem" }, undefined, 10001),
        app("/evil", { HAPROXY_0_BIND_OPTIONS: "ssl\n  server x 1.2.3.4:80" }, undefined, 10002),
      ],
      options,
    );
    assert.equal(section(r.config, "frontend tls_10000")[0], "bind *:10000 ssl crt /etc/ssl/site.pem alpn h2,http/1.1");
    const by = (id: string) => r.problems.filter((p) => p.appId === id).map((p) => `${p.label} ${p.message}`);
    assert.match(by("/bad")[0]!, /HAPROXY_0_SSL_CERT 'site.pem' is not an absolute path/);
    assert.match(by("/evil")[0]!, /HAPROXY_0_BIND_OPTIONS [\s\S]* is not one line of bind options/);
    assert.deepEqual(r.ports.map((p) => p.appId), ["/tls"]);
    assert.doesNotMatch(r.config, /1\.2\.3\.4/);
  });

  it("VHOST apps with an SSL_CERT are also routed by SNI from the shared HTTPS frontend, which loads every such certificate", () => {
    const r = render(
      [
        app("/a", { HAPROXY_0_VHOST: "a.example.com", HAPROXY_0_SSL_CERT: "/etc/ssl/a.pem" }, undefined, 10000),
        app("/b", { HAPROXY_0_VHOST: "b.example.com", HAPROXY_0_PATH: "/api", HAPROXY_0_SSL_CERT: "/etc/ssl/b.pem" }, undefined, 10001),
        app("/plain", { HAPROXY_0_VHOST: "plain.example.com" }, undefined, 10002),
        app("/taken", {}, undefined, 18443),
      ],
      { ...options, httpsPort: 18443 },
    );
    assert.deepEqual(section(r.config, "frontend marathon_https_in"), [
      "bind *:18443 ssl crt /etc/ssl/a.pem crt /etc/ssl/b.pem",
      "mode http",
      "acl path_b_10001 path_beg /api",
      "use_backend b_10001 if { ssl_fc_sni b.example.com } path_b_10001",
      "use_backend a_10000 if { ssl_fc_sni a.example.com }",
    ]);
    assert.match(r.problems.find((p) => p.appId === "/taken")!.message, /already served for the HTTPS frontend/);
    assert.doesNotMatch(render([app("/a", { HAPROXY_0_VHOST: "a.example.com", HAPROXY_0_SSL_CERT: "/etc/ssl/a.pem" })], options).config, /marathon_https_in/, "no HTTPS frontend without its port");
  });

  it("marathon-lb's per-port templates (HAPROXY_{n}_BACKEND_HEAD, _FRONTEND_HEAD, _BACKEND_SERVER_OPTIONS, health check options, HTTP frontend ACLs) replace the defaults with their fields filled", () => {
    const hc = { protocol: "MESOS_HTTP", path: "/health", intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 2 };
    const r = render(
      [
        {
          ...app(
            "/t/web",
            {
              HAPROXY_0_MODE: "http",
              HAPROXY_0_VHOST: "t.example.com",
              HAPROXY_0_FRONTEND_HEAD: "frontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}\n  mode {mode}\n  timeout client 10s",
              HAPROXY_0_BACKEND_HEAD: "backend {backend}\n  balance leastconn\n  mode {mode}\n  timeout server 7s\n",
              HAPROXY_0_BACKEND_HTTP_HEALTHCHECK_OPTIONS: "  option httpchk GET {healthCheckPath}\n  timeout check {healthCheckTimeoutSeconds}s\n",
              HAPROXY_0_BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS: "  check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls}",
              HAPROXY_0_HTTP_FRONTEND_ACL: "  acl host_{cleanedUpHostname} hdr_beg(host) -i {hostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n",
            },
            [running("10.0.0.1", 31000, { healthCheckResults: [{ alive: true }] })],
          ),
          healthChecks: [hc],
        },
      ],
      options,
    );
    assert.deepEqual(r.problems, []);
    assert.deepEqual(section(r.config, "frontend t_web_10000"), ["bind *:10000", "mode http", "timeout client 10s", "use_backend t_web_10000"]);
    assert.deepEqual(section(r.config, "backend t_web_10000"), [
      "balance leastconn",
      "mode http",
      "timeout server 7s",
      "option forwardfor",
      "http-request set-header X-Forwarded-Port %[dst_port]",
      "option httpchk GET /health",
      "timeout check 1s",
      "server 10.0.0.1_31000 10.0.0.1:31000 check inter 2s fall 3",
    ]);
    assert.ok(section(r.config, "frontend marathon_http_in").includes("acl host_t_example_com hdr_beg(host) -i t.example.com"));
    assert.equal(r.ports[0]!.customServers, true, "custom server lines: the runtime API cannot add such servers");
  });

  it("templates with fields their place does not have, lone braces or too much text are errors; {{ }} are braces", () => {
    const r = render(
      [
        app("/a", { HAPROXY_0_BACKEND_HEAD: "backend {backend}\n  balance {hostname}\n" }, undefined, 10000),
        app("/b", { HAPROXY_0_FRONTEND_BACKEND_GLUE: "  use_backend {backend if x" }, undefined, 10001),
        app("/c", { HAPROXY_0_BACKEND_HEAD: `backend {backend}\n${"#".repeat(17_000)}` }, undefined, 10002),
        app("/d", { HAPROXY_0_FRONTEND_BACKEND_GLUE: "  use_backend {backend} if {{ always_true }}" }, undefined, 10003),
        app("/e", { HAPROXY_HTTP_FRONTEND_HEAD: "frontend x" }, undefined, 10004),
      ],
      options,
    );
    const by = (id: string) => r.problems.filter((p) => p.appId === id).map((p) => `${p.severity} ${p.label} ${p.message}`);
    assert.match(by("/a")[0]!, /error HAPROXY_0_BACKEND_HEAD uses \{hostname\}, which BACKEND_HEAD does not have/);
    assert.match(by("/b")[0]!, /error HAPROXY_0_FRONTEND_BACKEND_GLUE has/);
    assert.match(by("/c")[0]!, /error HAPROXY_0_BACKEND_HEAD is longer than 16384 bytes/);
    assert.deepEqual(by("/d"), []);
    assert.ok(section(r.config, "frontend d_10003").includes("use_backend d_10003 if { always_true }"));
    assert.match(by("/e")[0]!, /ignored HAPROXY_HTTP_FRONTEND_HEAD is not a label this load balancer implements/);
    assert.deepEqual(r.ports.map((p) => p.appId), ["/d", "/e"]);
  });

  it("task hosts that could break a server line are skipped", () => {
    const r = render([app("/x", {}, [running("10.0.0.1 backup", 31000), running("host.example.com", 31001), running("10.0.0.3", 99999)])], options);
    assert.deepEqual(r.ports[0]!.servers, ["host.example.com:31001"]);
  });
});
