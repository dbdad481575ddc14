/**
 * The load balancer when the services instance it follows goes away (a services leader
 * failover): it follows the next instance given in --marathon and picks up changes made
 * there; while no instance answers at all, haproxy keeps serving the last configuration.
 * Requests through haproxy are answered throughout. (Stand-ins for the services API;
 * the real services framework's failover is in the end-to-end tests.)
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LoadBalancer } from "../../src/discovery/lb/load-balancer.js";
import type { MarathonApp } from "../../src/discovery/lb/marathon-apps.js";
import { testLogger } from "../../src/runtime/log.js";
import { freePort } from "../support/master-processes.js";
import { requestLoop, startInstance, type Instance } from "../support/instance-servers.js";
import { ServicesFixture } from "../support/services-fixture.js";
import { waitFor } from "../support/wait.js";

function app(servicePort: number, instances: Instance[]): MarathonApp {
  return {
    id: "/web",
    labels: { HAPROXY_GROUP: "external" },
    portDefinitions: [{ port: servicePort }],
    tasks: instances.map((i) => ({ id: `web.${i.id}`, host: "127.0.0.1", ports: [i.port], state: "TASK_RUNNING" })),
  };
}

describe("dcos-node lb across a services failover", () => {
  const a = new ServicesFixture();
  const b = new ServicesFixture();
  const instances: Instance[] = [];
  let dir = "";
  let lb: LoadBalancer;
  let port = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-lb-failover-"));
    await a.start();
    await b.start();
    for (let i = 1; i <= 3; i++) instances.push(await startInstance(`web-${i}`));
    port = await freePort();
    a.apps = b.apps = [app(port, instances.slice(0, 2))];
    lb = new LoadBalancer({ urls: [a.url, b.url], group: "external", httpPort: 0, bindAddr: "127.0.0.1", dir, reloadIntervalMs: 100, logger: testLogger() });
    await lb.start();
  });

  after(async () => {
    await lb?.stop();
    await a.stop();
    await b.stop();
    await Promise.all(instances.map((i) => i.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it("follows the next instance when the one it follows goes away, and serves throughout", async () => {
    await waitFor(() => a.eventClients > 0, "the load balancer to follow the first instance");
    await waitFor(() => lb.status().ports[0]?.servers.length === 2, "2 backends");
    let done = false;
    const loop = requestLoop(port, () => done, 50_000, 4);
    await a.stop();
    await waitFor(() => b.eventClients > 0, "the load balancer to follow the second instance", 15_000);
    b.set([app(port, instances)]);
    await waitFor(() => lb.status().ports[0]?.servers.length === 3, "the change made on the second instance", 15_000);
    // Now no instance answers at all: the last configuration keeps serving.
    const reloads = lb.haproxy.reloads;
    await b.stop();
    const failures = lb.api.failures;
    await waitFor(() => lb.api.failures >= failures + 3, "the load balancer to try both instances again", 15_000);
    assert.equal(lb.haproxy.reloads, reloads, "no reload while the API is gone");
    assert.ok(lb.healthy);
    done = true;
    const r = await loop;
    assert.ok(r.ok > 0);
    assert.equal(r.failed, 0, r.errors.join("\n"));
    assert.deepEqual([...r.seen.keys()].sort(), ["web-1", "web-2", "web-3"]);
  });
});
