/**
 * Service ports: Marathon's cluster-unique ports per app port (assigned from 10000 when
 * 0, explicit ones kept and checked), stored with the app, kept across updates and a
 * leader takeover, shown in /v2/apps (ports, portDefinitions, tasks' servicePorts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidApp, normalizeApp, type AppJson } from "../../../src/frameworks/services/app-definition.js";
import { assignServicePorts, servicePortOwners, servicePortsOf } from "../../../src/frameworks/services/service-ports.js";
import { Code, DcosError } from "../../../src/runtime/error.js";
import { World } from "../../support/services-world.js";

const app = (fields: Record<string, unknown>): AppJson => normalizeApp({ cmd: "serve", ...fields });

describe("service ports (pure)", () => {
  it("assigns the lowest free ports from 10000, keeps explicit ones, and reuses the previous version's", () => {
    const a = app({ id: "/a", ports: [0, 0] });
    assignServicePorts(a, undefined, new Map());
    assert.deepEqual(servicePortsOf(a), [10000, 10001]);
    const b = app({ id: "/b", portDefinitions: [{ port: 0 }, { port: 10003 }, { port: 0 }] });
    assignServicePorts(b, undefined, servicePortOwners([a]));
    assert.deepEqual(servicePortsOf(b), [10002, 10003, 10004]);
    // An update of /a with one dynamic port keeps its first assigned port; the second is freed.
    const a2 = app({ id: "/a", portDefinitions: [{ port: 0, name: "http" }] });
    assignServicePorts(a2, a, servicePortOwners([a, b], "/a"));
    assert.deepEqual(servicePortsOf(a2), [10000]);
    // An explicit port of the previous version named again is not reused for a dynamic one.
    const a3 = app({ id: "/a", portDefinitions: [{ port: 0 }, { port: 10000 }] });
    assignServicePorts(a3, a2, servicePortOwners([a2, b], "/a"));
    assert.deepEqual(servicePortsOf(a3), [10001, 10000]);
  });

  it("refuses a port another app holds (409), a port given twice (422), and an exhausted range", () => {
    const a = app({ id: "/a", ports: [12000] });
    assignServicePorts(a, undefined, new Map());
    const taken = servicePortOwners([a]);
    assert.throws(
      () => assignServicePorts(app({ id: "/b", ports: [12000] }), undefined, taken),
      (e: unknown) => DcosError.is(e, Code.ALREADY_EXISTS) && /service port 12000 conflicts .* app \/a/.test((e as Error).message),
    );
    assert.throws(
      () => assignServicePorts(app({ id: "/b", portDefinitions: [{ port: 13000 }, { port: 13000 }] }), undefined, taken),
      (e: unknown) => e instanceof InvalidApp && e.details[0]!.path === "/portDefinitions(1)/port",
    );
    const range = { min: 11000, max: 11002 };
    const full = app({ id: "/c", ports: [0, 0] });
    assignServicePorts(full, undefined, taken, range);
    assert.deepEqual(servicePortsOf(full), [11000, 11001]);
    assert.throws(
      () => assignServicePorts(app({ id: "/d", ports: [0] }), undefined, servicePortOwners([a, full]), range),
      (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION) && /No free service port left in 11000..11001/.test((e as Error).message),
    );
  });

  it("Docker bridge apps get their service ports in portMappings[].servicePort", () => {
    const d = app({ id: "/d", cmd: undefined, container: { type: "DOCKER", docker: { image: "nginx", network: "BRIDGE", portMappings: [{ containerPort: 80, hostPort: 0 }, { containerPort: 443, servicePort: 10500 }] } } });
    assignServicePorts(d, undefined, new Map());
    assert.deepEqual(servicePortsOf(d), [10000, 10500]);
    const mappings = ((d["container"] as AppJson)["docker"] as AppJson)["portMappings"] as AppJson[];
    assert.equal(mappings[0]!["servicePort"], 10000);
    // Marathon 1.5's networks + container.portMappings.
    const n = app({ id: "/n", cmd: undefined, networks: [{ mode: "container/bridge" }], container: { type: "DOCKER", docker: { image: "nginx" }, portMappings: [{ containerPort: 80 }] } });
    assignServicePorts(n, undefined, servicePortOwners([d]));
    assert.deepEqual(servicePortsOf(n), [10001]);
  });
});

describe("service ports through the HTTP API", () => {
  it("POST assigns, GET shows them (ports, portDefinitions, tasks' servicePorts), 409/422 on conflicts, updates and a takeover keep them", async () => {
    const w = new World();
    try {
      await w.lead("a");
      const created = await w.api("POST", "/v2/apps", { id: "/web", cmd: "serve $PORT0", instances: 2, cpus: 0.1, mem: 16, ports: [0, 0] });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.ports, [10000, 10001]);
      assert.deepEqual(
        created.body.portDefinitions.map((p: { port: number }) => p.port),
        [10000, 10001],
      );
      const second = await w.api("POST", "/v2/apps", { id: "/api", cmd: "serve", cpus: 0.1, mem: 16, portDefinitions: [{ port: 0, name: "http" }] });
      assert.deepEqual(second.body.ports, [10002]);
      const conflict = await w.api("POST", "/v2/apps", { id: "/other", cmd: "serve", portDefinitions: [{ port: 10001 }] });
      assert.equal(conflict.status, 409);
      assert.match(conflict.body.message, /Requested service port 10001 conflicts with a service port in use by app \/web/);
      const twice = await w.api("POST", "/v2/apps", { id: "/other", cmd: "serve", ports: [15000, 15000] });
      assert.equal(twice.status, 422);
      assert.equal(twice.body.details[0].path, "/portDefinitions(1)/port");
      assert.equal((await w.api("GET", "/v2/apps/other")).status, 404, "nothing stored for a refused app");

      // Tasks carry the app's service ports; their host ports come from the offer.
      await w.clock.advance(1000);
      await w.offers("h1", "h2");
      await w.runAll();
      const listed = await w.api("GET", "/v2/apps?embed=apps.tasks");
      const webApp = listed.body.apps.find((a: { id: string }) => a.id === "/web");
      assert.equal(webApp.tasks.length, 2);
      for (const t of webApp.tasks) {
        assert.deepEqual(t.servicePorts, [10000, 10001]);
        assert.ok(t.ports.every((p: number) => p >= 31000 && p <= 31100), `host ports from the offer: ${t.ports}`);
      }
      const env = Object.fromEntries(w.driver.launched[0]!.command!.environment!.variables.map((v) => [v.name, v.value]));
      assert.equal(env["PORT_10000"], env["PORT0"], "PORT_<servicePort> names the host port");
      const tasks = await w.api("GET", "/v2/apps/web/tasks");
      assert.deepEqual(tasks.body.tasks[0].servicePorts, [10000, 10001]);

      // A partial update keeps them; a full update with dynamic ports gets the same ones back.
      const put = await w.api("PUT", "/v2/apps/web?force=true", { cmd: "serve --v2 $PORT0" });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual((await w.api("GET", "/v2/apps/web")).body.app.ports, [10000, 10001]);
      const full = await w.api("PUT", "/v2/apps/web?force=true&partialUpdate=false", { cmd: "serve --v3", ports: [0, 0] });
      assert.equal(full.status, 200, JSON.stringify(full.body));
      assert.deepEqual((await w.api("GET", "/v2/apps/web")).body.app.ports, [10000, 10001]);
      // `ports` in a partial update replaces the port definitions.
      await w.api("PATCH", "/v2/apps/web?force=true", { ports: [0] });
      assert.deepEqual((await w.api("GET", "/v2/apps/web")).body.app.ports, [10000]);

      // A new leader replays them from the replicated state: same ports, and no reuse by a new app.
      await w.lead("b");
      assert.deepEqual((await w.api("GET", "/v2/apps/web")).body.app.ports, [10000]);
      assert.deepEqual((await w.api("GET", "/v2/apps/api")).body.app.ports, [10002]);
      const third = await w.api("POST", "/v2/apps", { id: "/third", cmd: "serve", ports: [0, 0] });
      assert.deepEqual(third.body.ports, [10001, 10003], "10001 was freed by /web's update");
    } finally {
      await w.close();
    }
  });

  it("a new leader assigns service ports to apps stored without them, in place (same version, no deployment)", async () => {
    const w = new World();
    try {
      await w.lead("a");
      assert.equal((await w.api("POST", "/v2/apps", { id: "/new", cmd: "serve", ports: [0] })).body.ports[0], 10000);
      // An app as a leader from before service ports stored it: port 0 in its definition.
      const old = { ...normalizeApp({ id: "/old", cmd: "serve", ports: [0, 0] }), version: "2026-01-01T00:00:00.000Z", versionInfo: { lastScalingAt: "2026-01-01T00:00:00.000Z", lastConfigChangeAt: "2026-01-01T00:00:00.000Z" } };
      await w.store.write([{ t: "putApp", app: old }]);
      await w.lead("b");
      const app = (await w.api("GET", "/v2/apps/old")).body.app;
      assert.deepEqual(app.ports, [10001, 10002]);
      assert.equal(app.version, "2026-01-01T00:00:00.000Z");
      assert.equal(w.s.deploymentsOf("/old").length, 0);
    } finally {
      await w.close();
    }
  });

  it("requirePorts uses the service ports as host ports", async () => {
    const w = new World();
    try {
      await w.lead("a");
      const r = await w.api("POST", "/v2/apps", { id: "/fixed", cmd: "serve", cpus: 0.1, mem: 16, requirePorts: true, portDefinitions: [{ port: 31050 }] });
      assert.equal(r.status, 201);
      await w.clock.advance(1000);
      await w.offers("h1");
      assert.equal(w.driver.launched.length, 1);
      const t = (await w.api("GET", "/v2/apps/fixed/tasks")).body.tasks[0];
      assert.deepEqual(t.ports, [31050]);
      assert.deepEqual(t.servicePorts, [31050]);
    } finally {
      await w.close();
    }
  });
});
