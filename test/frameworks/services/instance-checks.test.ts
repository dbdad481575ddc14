/**
 * The checks the services scheduler runs itself: readiness checks gate deployments
 * (results in /v2/deployments and embed=apps.readiness), and an app's several health
 * checks must all pass (the executor runs one, the scheduler the HTTP/HTTPS/TCP others;
 * per-check results in tasks' healthCheckResults; too many failures → killed, replaced).
 * On the manual clock with a scripted prober; one test of the real prober on loopback.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, it } from "node:test";
import { networkProber, type HttpAnswer, type Prober } from "../../../src/frameworks/services/instance-checks.js";
import { TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { World } from "../../support/services-world.js";

/** Answers probes from a table: HTTP status per port (default `httpDefault`), TCP ports that accept. */
class ScriptedProber implements Prober {
  readonly status = new Map<number, number>();
  httpDefault = 503;
  readonly tcpOpen = new Set<number>();
  readonly calls: string[] = [];
  async http(url: string): Promise<HttpAnswer> {
    this.calls.push(url);
    const status = this.status.get(Number(new URL(url).port)) ?? this.httpDefault;
    return { status, contentType: "text/plain", body: `answered ${status}` };
  }
  async tcp(host: string, port: number): Promise<void> {
    this.calls.push(`tcp://${host}:${port}`);
    if (!this.tcpOpen.has(port)) throw new Error(`TCP connection to ${host}:${port} failed: ECONNREFUSED`);
  }
}

const ready = (fields: Record<string, unknown> = {}) => ({
  id: "/web",
  cmd: "serve $PORT0",
  cpus: 0.1,
  mem: 16,
  instances: 2,
  portDefinitions: [{ port: 0, name: "http-api" }],
  readinessChecks: [{ name: "warm", path: "/ready", portName: "http-api", intervalSeconds: 3, timeoutSeconds: 1, httpStatusCodesForReady: [200, 204], preserveLastResponse: true }],
  ...fields,
});

describe("readiness checks (manual clock, scripted prober)", () => {
  it("a deployment finishes only when every new instance is ready; /v2/deployments shows the results with the last response", async () => {
    const prober = new ScriptedProber();
    const w = new World({ prober });
    try {
      await w.lead("a");
      const created = await w.api("POST", "/v2/apps", ready());
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await w.clock.advance(1000);
      await w.offers("h1");
      await w.runAll();
      await w.clock.advance(1000);
      const [a, b] = w.live("/web");
      assert.ok(prober.calls.includes(`http://h1:${a!.ports[0]}/ready`), prober.calls.join(" "));
      let deployments = (await w.api("GET", "/v2/deployments")).body;
      assert.equal(deployments.length, 1, "running but not ready: the deployment waits");
      const results = deployments[0].currentActions[0].readinessCheckResults;
      assert.equal(results.length, 2);
      assert.deepEqual(results[0].lastResponse, { status: 503, contentType: "text/plain", body: "answered 503" });
      assert.equal(results.every((r: { ready: boolean; name: string }) => !r.ready && r.name === "warm"), true);
      // One becomes ready: still waiting for the other; probes respect intervalSeconds.
      prober.status.set(a!.ports[0]!, 200);
      const before = prober.calls.length;
      await w.clock.advance(1000);
      assert.equal(prober.calls.length, before, "no probe before intervalSeconds");
      await w.clock.advance(2000);
      deployments = (await w.api("GET", "/v2/deployments")).body;
      assert.equal(deployments.length, 1);
      const byTask = Object.fromEntries(deployments[0].currentActions[0].readinessCheckResults.map((r: { taskId: string; ready: boolean }) => [r.taskId, r.ready]));
      assert.deepEqual(byTask, { [a!.id]: true, [b!.id]: false });
      const embedded = (await w.api("GET", "/v2/apps?embed=apps.readiness")).body.apps[0].readinessCheckResults;
      assert.equal(embedded.length, 2);
      prober.status.set(b!.ports[0]!, 204);
      await w.clock.advance(3000);
      await w.clock.advance(1000);
      assert.deepEqual((await w.api("GET", "/v2/deployments")).body, []);
      assert.ok(w.types().includes("deployment_success"));
      // After the deployment readiness is no longer checked.
      const after = prober.calls.length;
      await w.clock.advance(10_000);
      assert.equal(prober.calls.length, after);
    } finally {
      await w.close();
    }
  });

  it("a rolling restart kills no old instance until a new one is ready", async () => {
    const prober = new ScriptedProber();
    prober.httpDefault = 200;
    const w = new World({ prober });
    try {
      await w.lead("a");
      await w.api("POST", "/v2/apps", ready({ upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0.5 } }));
      await w.clock.advance(1000);
      await w.offers("h1");
      await w.runAll();
      await w.clock.advance(4000);
      assert.deepEqual((await w.api("GET", "/v2/deployments")).body, [], "started");
      const old = w.live("/web").map((i) => i.id);
      prober.httpDefault = 503;
      const r = await w.api("POST", "/v2/apps/web/restart");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      for (let k = 0; k < 5; k++) {
        await w.clock.advance(1000);
        await w.offers("h1");
        await w.runAll();
      }
      assert.equal(w.live("/web").length, 3, "one new instance (over-capacity 0.5 of 2)");
      assert.ok(
        old.every((id) => w.s.state.instances.get(id)?.goal === "running"),
        "running and healthy but not ready: no old instance is killed",
      );
      prober.httpDefault = 200;
      for (let k = 0; k < 12 && w.s.state.deployments.size > 0; k++) {
        await w.clock.advance(1000);
        await w.killAcked();
        await w.offers("h1");
        await w.runAll();
      }
      assert.equal(w.s.state.deployments.size, 0, "the restart completed once the new instances were ready");
      assert.ok(old.every((id) => !w.s.state.instances.has(id)));
    } finally {
      await w.close();
    }
  });

  it("invalid readiness checks and a second agent-run health check are refused with 422", async () => {
    const w = new World();
    try {
      await w.lead("a");
      const noPort = await w.api("POST", "/v2/apps", ready({ portDefinitions: [{ port: 0, name: "web" }] }));
      assert.equal(noPort.status, 422);
      assert.equal(noPort.body.details[0].path, "/readinessChecks(0)/portName");
      assert.match(noPort.body.details[0].errors[0], /portName 'http-api' is not the name of one of the app's ports \(web\)/);
      const slow = await w.api("POST", "/v2/apps", ready({ readinessChecks: [{ intervalSeconds: 5, timeoutSeconds: 5 }] }));
      assert.equal(slow.body.details[0].path, "/readinessChecks(0)/timeoutSeconds");
      const codes = await w.api("POST", "/v2/apps", ready({ readinessChecks: [{ httpStatusCodesForReady: [] }] }));
      assert.equal(codes.body.details[0].path, "/readinessChecks(0)/httpStatusCodesForReady");
      const two = await w.api("POST", "/v2/apps", { id: "/two", cmd: "x", healthChecks: [{ protocol: "MESOS_HTTP" }, { protocol: "COMMAND", command: { value: "true" } }] });
      assert.equal(two.status, 422);
      assert.match(two.body.details[0].errors[0], /at most one health check run by the agent/);
    } finally {
      await w.close();
    }
  });
});

describe("several health checks per app (manual clock, scripted prober)", () => {
  const multi = {
    id: "/multi",
    cmd: "serve $PORT0 $PORT1",
    cpus: 0.1,
    mem: 16,
    instances: 1,
    portDefinitions: [{ port: 0 }, { port: 0 }],
    healthChecks: [
      { protocol: "HTTP", portIndex: 1, path: "/health", intervalSeconds: 2, timeoutSeconds: 1, gracePeriodSeconds: 0, maxConsecutiveFailures: 3 },
      { protocol: "MESOS_HTTP", portIndex: 0, path: "/", intervalSeconds: 2, timeoutSeconds: 1 },
      { protocol: "TCP", portIndex: 1, intervalSeconds: 2, timeoutSeconds: 1, gracePeriodSeconds: 0, maxConsecutiveFailures: 3 },
    ],
  };

  it("the executor runs the MESOS_* check, the scheduler the others; all must pass; per-check results; failures past the limit kill and replace", async () => {
    const prober = new ScriptedProber();
    prober.httpDefault = 200;
    const w = new World({ prober });
    try {
      await w.lead("a");
      assert.equal((await w.api("POST", "/v2/apps", multi)).status, 201);
      await w.clock.advance(1000);
      await w.offers("h1");
      const task = w.driver.launched[0]!;
      const [p0, p1] = w.live("/multi")[0]!.ports;
      assert.equal(task.healthCheck?.http?.port, p0, "the MESOS_HTTP check is the TaskInfo's");
      await w.runAll(true);
      await w.clock.advance(1000);
      const i = w.live("/multi")[0]!;
      assert.ok(prober.calls.includes(`http://h1:${p1}/health`) && prober.calls.includes(`tcp://h1:${p1}`), prober.calls.join(" "));
      let app = (await w.api("GET", "/v2/apps/multi?embed=app.tasks")).body.app;
      assert.deepEqual(
        app.tasks[0].healthCheckResults.map((r: { alive: boolean }) => r.alive),
        [true, true, false],
      );
      assert.match(app.tasks[0].healthCheckResults[2].lastFailureCause, /ECONNREFUSED/);
      assert.equal(app.tasksHealthy, 0);
      assert.equal(app.tasksUnhealthy, 1);
      assert.equal(w.s.state.deployments.size, 1, "not every check passes: the deployment waits");
      prober.tcpOpen.add(p1!);
      await w.clock.advance(2000);
      await w.clock.advance(1000);
      app = (await w.api("GET", "/v2/apps/multi?embed=app.tasks")).body.app;
      assert.deepEqual(
        app.tasks[0].healthCheckResults.map((r: { alive: boolean }) => r.alive),
        [true, true, true],
      );
      assert.equal(app.tasksHealthy, 1);
      assert.equal(w.s.state.deployments.size, 0, "all pass: done");
      // The HTTP check fails three times in a row: the scheduler kills the instance, then replaces it.
      prober.status.set(p1!, 500);
      for (let k = 0; k < 3; k++) await w.clock.advance(2000);
      assert.ok(w.driver.killed.includes(i.id), "killed after maxConsecutiveFailures");
      assert.ok(w.types().includes("unhealthy_instance_kill_event"));
      assert.ok(w.types().includes("failed_health_check_event"));
      await w.status(i.id, TaskState.KILLED);
      await w.clock.advance(2000);
      await w.offers("h2");
      assert.equal(w.live("/multi").length, 1);
      assert.notEqual(w.live("/multi")[0]!.id, i.id, "replaced");
    } finally {
      await w.close();
    }
  });
});

describe("the network prober (real sockets on loopback)", () => {
  it("returns status, content type and body; refuses a closed port; times out", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/slow") return; // never answers
      res.writeHead(req.url === "/ready" ? 200 : 503, { "content-type": "text/plain" });
      res.end(`path ${req.url}`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      assert.deepEqual(await networkProber.http(`http://127.0.0.1:${port}/ready`, 2000), { status: 200, contentType: "text/plain", body: "path /ready" });
      assert.equal((await networkProber.http(`http://127.0.0.1:${port}/x`, 2000)).status, 503);
      await networkProber.tcp("127.0.0.1", port, 2000);
      await assert.rejects(networkProber.http(`http://127.0.0.1:${port}/slow`, 200), /no answer within 200 ms/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await assert.rejects(networkProber.tcp("127.0.0.1", port, 2000), /ECONNREFUSED/);
    await assert.rejects(networkProber.http(`http://127.0.0.1:${port}/`, 2000), /failed: .*ECONNREFUSED/);
  });
});
