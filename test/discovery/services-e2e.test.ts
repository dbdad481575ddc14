/**
 * Discovery end to end with the real services framework: three master processes, two
 * agents, two `dcos-node services` instances, and the DNS server and load balancer
 * following them. Apps are written as Marathon users write them, without service ports:
 * the framework assigns them and the load balancer serves them. An app of HTTP servers
 * that answer with their own task id: through
 * haproxy every request is answered and every instance is seen; scaled to 5 the new ones
 * get traffic; a killed one leaves the backends before its replacement joins; a VHOST app
 * is reached by its Host header; dig resolves A and SRV records to the instances' ports;
 * kill -9 of the services leader and of the leading master change nothing for clients;
 * once the app is destroyed its names are NXDOMAIN.
 */
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDnsService, type RunningDns } from "../../src/discovery/dns/dns-service.js";
import { LoadBalancer } from "../../src/discovery/lb/load-balancer.js";
import { testLogger } from "../../src/runtime/log.js";
import { dig } from "../support/dig.js";
import { get, instanceProgram, requestLoop } from "../support/instance-servers.js";
import { freePort, freePortRange, masterProcessesFixture, type MasterProcesses } from "../support/master-processes.js";
import type { NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

interface Task {
  id: string;
  host: string;
  ports: number[];
  state: string;
  healthCheckResults?: { alive: boolean }[];
}

/** The pid of the process serving `taskId` (its environment names the task). */
async function instancePid(taskId: string): Promise<number | undefined> {
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, "utf8").catch(() => "");
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline.startsWith("python3") && environ.split("\0").includes(`MESOS_TASK_ID=${taskId}`)) return Number(name);
  }
  return undefined;
}

/** Whether the process runs (exists and is not a zombie). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && !/^\d+ \(.*\) Z/.test(stat);
}

describe("discovery with the real services framework", { timeout: 420_000 }, () => {
  const fx = masterProcessesFixture("discovery-e2e-");
  let masters: MasterProcesses;
  const services: (NodeProcess | undefined)[] = [];
  const urls: string[] = [];
  let dns: RunningDns;
  let lb: LoadBalancer;
  let webPort = 0;
  let sitePort = 0;
  let vhostPort = 0;
  /** The service ports the services framework assigns (its --local-port-min/max; 10000-20000 by default, free ones here). */
  let portMin = 0;
  const PORT_RANGE = 20;

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    for (const [i, base] of urls.entries()) {
      if (!services[i]) continue;
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      }).catch(() => undefined);
      if (!res) continue;
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    }
    throw new Error("no services instance answers");
  };
  /** The service port the services framework assigned to the app's port 0. */
  const assignedPort = async (id: string): Promise<number> => {
    const app = (await api("GET", `/v2/apps${id}`)).json.app as { portDefinitions: { port: number }[]; ports: number[] };
    const port = app.portDefinitions[0]!.port;
    assert.ok(port >= portMin && port < portMin + PORT_RANGE, `${id}: service port ${port} is in --local-port-min/max ${portMin}-${portMin + PORT_RANGE}`);
    assert.deepEqual(app.ports, [port]);
    return port;
  };
  const tasks = async (id: string): Promise<Task[]> => ((await api("GET", `/v2/apps${id}/tasks`)).json?.tasks ?? []) as Task[];
  const backends = (id: string): string[] => lb.status().ports.find((p) => p.appId === id)?.servers ?? [];
  const aRecords = async (name: string): Promise<string[]> => (await dig(dns.port, name)).answers.filter((r) => r.type === "A").map((r) => r.data);

  before(async () => {
    masters = await fx.startMasters(3);
    await waitFor(() => masters.leader() >= 0, "a leading master", 30_000);
    for (const i of [1, 2]) {
      const a = fx.spawn(`agent-${i}`, [
        "--role=agent",
        "--port=0",
        "--http-port=0",
        `--master=${masters.list}`,
        `--work-dir=${join(fx.dir(), `agent-${i}`)}`,
        `--resources=cpus:4;mem:4096;disk:1024;ports:[${33000 + i * 200}-${33000 + i * 200 + 150}]`,
      ]);
      await a.waitForLine(/(Registered with master)/, "the agent to register", 60_000);
    }
    portMin = await freePortRange(PORT_RANGE);
    for (const i of [0, 1]) {
      const s = fx.spawn(`services-${i + 1}`, ["services", `--master=${masters.list}`, "--http-port=0", "--lease-ttl=2s", `--local-port-min=${portMin}`, `--local-port-max=${portMin + PORT_RANGE}`]);
      services.push(s);
      urls.push(`http://${await s.waitForLine(/Services API listening on http:\/\/([\d.]+:\d+)/, "the services API to listen", 60_000)}`);
    }
    await waitFor(async () => (await api("GET", "/v2/leader").catch(() => undefined))?.status === 200, "a services leader", 90_000);
    vhostPort = await freePort();
    dns = await startDnsService({ masters: masters.addresses, host: "127.0.0.1", port: 0, logger: testLogger() });
    lb = new LoadBalancer({ urls, group: "external", httpPort: vhostPort, bindAddr: "127.0.0.1", dir: fx.dir(), reloadIntervalMs: 200, logger: testLogger() });
    await lb.start();
    // Told to stop, instances serve 2 s more: what they still get then comes from a balancer that has not drained them.
    await writeFile(join(fx.dir(), "instance.py"), instanceProgram({ lameDuckSeconds: 2 }));
  });

  after(async () => {
    await lb?.stop();
    await dns?.stop();
  });

  it("3 instances, no service port given: the one assigned serves every request through haproxy, all 3 seen; dig resolves A and SRV to their ports", async () => {
    // As a Marathon user writes it: no ports at all; the framework assigns a service port.
    const app = {
      id: "/disco/web",
      cmd: `exec python3 ${join(fx.dir(), "instance.py")}`,
      cpus: 0.1,
      mem: 32,
      instances: 3,
      taskKillGracePeriodSeconds: 5,
      labels: { HAPROXY_GROUP: "external" },
      healthChecks: [{ protocol: "MESOS_HTTP", path: "/", portIndex: 0, gracePeriodSeconds: 20, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 },
    };
    const created = await api("POST", "/v2/apps", app);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    webPort = await assignedPort("/disco/web");
    await waitFor(() => backends("/disco/web").length === 3, "3 backends in haproxy", 90_000);
    assert.equal(lb.status().ports.find((p) => p.appId === "/disco/web")?.servicePort, webPort);
    const ts = await tasks("/disco/web");
    for (const t of ts) assert.deepEqual((t as Task & { servicePorts: number[] }).servicePorts, [webPort]);
    const r = await requestLoop(webPort, () => false, 60);
    assert.equal(r.failed, 0, r.errors.join("\n"));
    assert.deepEqual([...r.seen.keys()].sort(), ts.map((t) => t.id).sort());

    await waitFor(async () => (await aRecords("web.disco.services.dcos")).length > 0, "the app's DNS name", 10_000);
    assert.deepEqual(await aRecords("web.disco.services.dcos"), ["127.0.0.1"]);
    assert.deepEqual(await aRecords("web-disco.marathon.dcos"), ["127.0.0.1"]);
    const srv = await dig(dns.port, "_web-disco._tcp.marathon.dcos", "SRV");
    assert.deepEqual(srv.answers.map((a) => Number(a.data.split(" ")[2])).sort(), ts.map((t) => t.ports[0]!).sort(), srv.output);
  });

  it("scaled to 5 the new instances get traffic; a killed one leaves the backends before any replacement joins", async () => {
    const scaled = await api("PUT", "/v2/apps/disco/web", { instances: 5 });
    assert.ok(scaled.status === 200 || scaled.status === 201, JSON.stringify(scaled.json));
    await waitFor(() => backends("/disco/web").length === 5, "5 backends", 90_000);
    const five = await tasks("/disco/web");
    const r = await requestLoop(webPort, () => false, 200);
    assert.equal(r.failed, 0, r.errors.join("\n"));
    assert.deepEqual([...r.seen.keys()].sort(), five.map((t) => t.id).sort());

    const victim = five[0]!;
    // The load balancer names servers by address (it resolves the agent's hostname); ports are unique on this machine.
    const isVictim = (server: string): boolean => server.endsWith(`:${victim.ports[0]}`);
    const pid = await waitFor(() => instancePid(victim.id), "the victim's process");
    const seen: string[][] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        seen.push(backends("/disco/web"));
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    process.kill(pid, "SIGKILL");
    try {
      // The sample that ends the wait is recorded too: the watch loop may be asleep when it comes.
      const sample = (): boolean => {
        const now = backends("/disco/web");
        seen.push(now);
        return !now.some(isVictim);
      };
      await waitFor(sample, "the killed instance to leave the backends", 60_000);
    } finally {
      watching = false;
      await watch;
    }
    assert.ok(seen[0]!.some(isVictim), "the victim was a backend when it was killed");
    const left = seen.findIndex((s) => !s.some(isVictim));
    assert.ok(left >= 0, "the killed instance left the backends");
    assert.ok(seen.slice(left).every((s) => !s.some(isVictim)), "and did not come back");
    assert.equal(seen[left]!.length, 4, `it left before any replacement joined: ${JSON.stringify(seen[left])}`);
    assert.ok(seen[left]!.every((s) => seen[0]!.includes(s)), "the others stayed");
  });

  it("scale down under a request loop: 0 failed requests; each killed instance leaves the backends while it still runs (drained, then killed)", async () => {
    await waitFor(() => backends("/disco/web").length === 5, "the replacement to join (5 backends)", 90_000);
    const five = await tasks("/disco/web");
    const pids = new Map<string, number>();
    for (const t of five) pids.set(`:${t.ports[0]}`, await waitFor(() => instancePid(t.id), `the process of ${t.id}`));
    const pidOf = (server: string): number | undefined => pids.get(server.slice(server.lastIndexOf(":")));
    const left: { server: string; running: boolean }[] = [];
    let previous = backends("/disco/web");
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const now = backends("/disco/web");
        for (const server of previous.filter((s) => !now.includes(s))) {
          const pid = pidOf(server);
          left.push({ server, running: pid !== undefined && (await alive(pid)) });
        }
        previous = now;
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    let done = false;
    const loop = requestLoop(webPort, () => done, 100_000, 2);
    try {
      const scaled = await api("PUT", "/v2/apps/disco/web", { instances: 3 });
      assert.ok(scaled.status === 200 || scaled.status === 201, JSON.stringify(scaled.json));
      await waitFor(async () => backends("/disco/web").length === 3 && (await tasks("/disco/web")).length === 3, "the scale-down to 3 to finish", 90_000);
      // Requests keep going a little after the killed processes are gone.
      await new Promise((res) => setTimeout(res, 300));
    } finally {
      done = true;
      watching = false;
      await watch;
    }
    const r = await loop;
    assert.ok(r.ok > 0);
    assert.equal(r.failed, 0, `failed requests: ${r.failed} of ${r.ok + r.failed}\n${r.errors.join("\n")}`);
    assert.equal(left.length, 2, JSON.stringify(left));
    for (const l of left) assert.ok(l.running, `${l.server} left the backends while its process still ran: ${JSON.stringify(left)}`);
  });

  it("a HAPROXY_0_VHOST app is reached by its Host header", async () => {
    const site = {
      id: "/disco/site",
      cmd: `exec python3 ${join(fx.dir(), "instance.py")}`,
      cpus: 0.1,
      mem: 32,
      instances: 1,
      labels: { HAPROXY_GROUP: "external", HAPROXY_0_VHOST: "site.example.com" },
    };
    assert.equal((await api("POST", "/v2/apps", site)).status, 201);
    sitePort = await assignedPort("/disco/site");
    assert.notEqual(sitePort, webPort, "service ports are cluster-unique");
    await waitFor(() => backends("/disco/site").length === 1, "the site's backend", 90_000);
    const [task] = await tasks("/disco/site");
    assert.equal(await get(vhostPort, "/", { host: "site.example.com" }), task!.id);
    assert.equal(await get(sitePort, "/"), task!.id, "and on its own assigned service port");
    await assert.rejects(get(vhostPort, "/", { host: "elsewhere.example.com" }), /HTTP 503/);
  });

  it("kill -9 of the services leader and of the leading master: requests keep being answered, names keep resolving, changes still arrive", async () => {
    let done = false;
    const loop = requestLoop(webPort, () => done, 100_000, 2);
    const leader = (await api("GET", "/v2/leader")).json.leader as string;
    const index = urls.indexOf(`http://${leader}`);
    assert.ok(index >= 0, `the leader ${leader} is one of ${urls.join(", ")}`);
    const connections = lb.api.connections;
    services[index]!.kill("SIGKILL");
    await services[index]!.exited;
    services[index] = undefined;
    await waitFor(() => lb.api.connections > connections, "the load balancer to follow the other services instance", 60_000);
    await waitFor(async () => (await api("GET", "/v2/leader").catch(() => undefined))?.status === 200, "a new services leader", 90_000);

    const subscriptions = dns.follower.subscriptions;
    const old = masters.leader();
    await masters.kill9(old);
    await waitFor(() => dns.follower.subscriptions > subscriptions, "DNS to follow the new leading master", 60_000);
    assert.deepEqual(await aRecords("web.disco.services.dcos"), ["127.0.0.1"]);
    done = true;
    const r = await loop;
    assert.ok(r.ok > 0);
    assert.equal(r.failed, 0, `failed requests: ${r.failed} of ${r.ok + r.failed}\n${r.errors.join("\n")}`);

    // Changes made now reach both through the new leaders.
    await waitFor(async () => [200, 201].includes((await api("PUT", "/v2/apps/disco/web", { instances: 2 })).status), "the scale-down to be accepted", 60_000);
    await waitFor(() => backends("/disco/web").length === 2, "2 backends", 120_000);
    await waitFor(async () => (await dig(dns.port, "_web-disco._tcp.marathon.dcos", "SRV")).answers.length === 2, "SRV records of the 2 left", 30_000);
  });

  it("once the app is destroyed its names are NXDOMAIN and its backends gone", async () => {
    await waitFor(async () => [200, 202].includes((await api("DELETE", "/v2/apps/disco/web")).status), "the app to be destroyed", 60_000);
    await waitFor(async () => (await dig(dns.port, "web.disco.services.dcos")).status === "NXDOMAIN", "NXDOMAIN for the app", 60_000);
    assert.equal((await dig(dns.port, "_web-disco._tcp.marathon.dcos", "SRV")).status, "NXDOMAIN");
    await waitFor(() => !lb.status().ports.some((p) => p.appId === "/disco/web"), "the app's frontend to go", 30_000);
  });
});
