/**
 * The services framework with real processes: three masters, two agents and two services
 * instances (`dcos-node services`), serving real HTTP servers (`python3 -m http.server
 * $PORT0`) with HTTP health checks run by the executors.
 */
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePortRange, MasterProcesses, masterProcessesFixture } from "../../support/master-processes.js";
import { NodeProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";

const EXAMPLES = fileURLToPath(new URL("../../../../deploy/examples/marathon/", import.meta.url));

interface Task {
  id: string;
  host: string;
  ports: number[];
  state: string;
  healthCheckResults?: { alive: boolean }[];
}

/** Processes of this test (their environment names the test's directory) running an HTTP server for `appId`. */
async function serverPids(dir: string, appId: string): Promise<Map<number, number>> {
  const out = new Map<number, number>(); // port -> pid
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const [cmdline, environ] = await Promise.all([readFile(`/proc/${name}/cmdline`, "utf8").catch(() => ""), readFile(`/proc/${name}/environ`, "utf8").catch(() => "")]);
    const argv = cmdline.split("\0");
    const at = argv.indexOf("http.server");
    if (at < 0 || !environ.includes(dir) || !environ.split("\0").includes(`MARATHON_APP_ID=${appId}`)) continue;
    out.set(Number(argv[at + 1]), Number(name));
  }
  return out;
}

describe("services framework with real processes (3 masters, 2 agents, 2 services instances)", { timeout: 480_000 }, () => {
  const fx = masterProcessesFixture("services-real-");
  let masters: MasterProcesses;
  const agents: NodeProcess[] = [];
  const services: (NodeProcess | undefined)[] = [];
  const urls: string[] = [];
  let url = "";

  const api = async (method: string, path: string, body?: unknown, base = url): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  /** Any live services instance (non-leaders proxy). */
  const anyUrl = () => urls.find((_, i) => services[i] !== undefined)!;
  const tasks = async (id: string): Promise<Task[]> => ((await api("GET", `/v2/apps${id}/tasks`, undefined, anyUrl())).json?.tasks ?? []) as Task[];
  const healthy = (t: Task) => t.state === "TASK_RUNNING" && t.healthCheckResults?.[0]?.alive === true;
  const diag = () => services.map((p, i) => `--- services-${i + 1} ---\n${p?.tail(15) ?? "(killed)"}`).join("\n");
  let lastSeen = "";
  const waitHealthy = (id: string, n: number, what: string, ms = 60_000) =>
    explained(waitFor(async () => {
      const ts = await tasks(id).catch(() => []);
      lastSeen = ts.map((t) => `${t.id.slice(-20)} ${t.state} ${t.host} healthy=${t.healthCheckResults?.[0]?.alive}`).join("\n");
      const app = (await api("GET", `/v2/apps${id}`, undefined, anyUrl()).catch(() => ({ json: undefined }))).json?.app;
      return ts.length === n && ts.every(healthy) && app?.deployments?.length === 0 ? ts : undefined;
    }, what, ms));
  /** Adds what the API and the services processes showed last to a failure (evaluated when it fails). */
  const explained = <T,>(p: Promise<T>): Promise<T> =>
    p.catch((err: Error) => {
      err.message += `\n--- last tasks seen ---\n${lastSeen}\n${diag()}`;
      throw err;
    });
  const leaderIndex = async (): Promise<number> =>
    (await waitFor(async () => {
      const r = await api("GET", "/v2/leader", undefined, anyUrl()).catch(() => undefined);
      const i = r?.status === 200 ? urls.indexOf(`http://${r.json.leader}`) : -1;
      return i >= 0 && services[i] ? { i } : undefined;
    }, `a services leader\n${services.map((p) => p?.tail(8) ?? "(gone)").join("\n---\n")}`, 90_000)).i;

  before(async () => {
    masters = await fx.startMasters(3, ["--agent-ping-timeout=500ms", "--max-agent-ping-timeouts=3"]);
    // Ports free now for both agents (151 each, apart: their tasks share this host), not a
    // fixed range: another test's tasks on the host may hold 31xxx (a task that could not
    // bind exited 1 while the other test's server answered its health check).
    const portBase = await freePortRange(302);
    for (const i of [1, 2]) {
      const ports = portBase + (i - 1) * 151;
      const a = fx.spawn(`agent-${i}`, [
        "--role=agent",
        "--port=0",
        "--http-port=0",
        `--master=${masters.list}`,
        `--work-dir=${join(fx.dir(), `agent-${i}`)}`,
        `--resources=cpus:4;mem:4096;disk:1024;ports:[${ports}-${ports + 150}]`,
        `--attributes=rack:rack-${i}`,
        `--hostname=host-${i}`,
      ]);
      agents.push(a);
      await a.waitForLine(/(Registered with master)/, "the agent to register", 60_000);
    }
    for (const i of [0, 1]) {
      const s = fx.spawn(`services-${i + 1}`, ["services", `--master=${masters.list}`, "--http-port=0", "--lease-ttl=2s"]);
      services.push(s);
      urls.push(`http://${await s.waitForLine(/Services API listening on http:\/\/([\d.]+:\d+)/, "the services API to listen", 60_000)}`);
    }
    url = urls[await leaderIndex()]!;
    // The first test posts through the follower: one that has not read the lease yet answers
    // 503 "No leader" (seen once at load 12: its first lease read came after the POST).
    await waitFor(async () => {
      const seen = await Promise.all(urls.map((u) => api("GET", "/v2/leader", undefined, u).catch(() => undefined)));
      return seen.every((r) => r?.status === 200 && `http://${r.json.leader}` === url) ? true : undefined;
    }, "every services instance to name the leader", 60_000);
  });

  after(async () => {
    await masters?.stop();
  });

  it("runs 3 healthy HTTP servers that answer on their ports; kill -9 of one is replaced", async () => {
    const app = {
      id: "/it/web",
      cmd: "python3 -m http.server $PORT0 --bind 127.0.0.1",
      cpus: 0.1,
      mem: 64,
      instances: 3,
      healthChecks: [{ protocol: "MESOS_HTTP", path: "/", portIndex: 0, gracePeriodSeconds: 20, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 },
      backoffSeconds: 1,
    };
    const follower = urls.find((u) => u !== url)!;
    const created = await api("POST", "/v2/apps", app, follower); // through the non-leader: proxied
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.id, "/it/web");
    const ts = await waitHealthy("/it/web", 3, "3 healthy instances");
    for (const t of ts) assert.equal((await fetch(`http://127.0.0.1:${t.ports[0]}/`)).status, 200);
    const pids = await serverPids(fx.dir(), "/it/web");
    assert.equal(pids.size, 3);
    const victim = ts[0]!;
    process.kill(pids.get(victim.ports[0]!)!, "SIGKILL");
    const after = await waitFor(async () => {
      const now = await tasks("/it/web");
      return now.length === 3 && now.every(healthy) && !now.some((t) => t.id === victim.id) ? now : undefined;
    }, "the killed instance replaced", 60_000);
    assert.equal(after.length, 3);
  });

  it("a rolling restart under a loop of requests keeps at least the minimum healthy, every healthy instance answers", async () => {
    const r = await api("POST", "/v2/apps/it/web/restart");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    let minHealthy = Infinity;
    let ok = 0;
    let failed = 0;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const ts = await tasks("/it/web");
      const h = ts.filter(healthy);
      minHealthy = Math.min(minHealthy, h.length);
      for (const t of h) {
        const res = await fetch(`http://127.0.0.1:${t.ports[0]}/`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        if (res?.status === 200) ok++;
        else failed++;
      }
      const app = (await api("GET", "/v2/apps/it/web")).json.app;
      if (app.deployments.length === 0 && h.length === 3) break;
      assert.ok(Date.now() < deadline, "the restart finishes");
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(minHealthy >= 2, `healthy instances dropped to ${minHealthy} (minimumHealthCapacity 0.5 of 3 → 2)`);
    assert.ok(ok > 0);
    // A request may race the kill of an instance that was healthy when listed; nearly all must succeed.
    assert.ok(failed <= 3, `${failed} failed requests, ${ok} answered`);
  });

  it("kill -9 of the services leader mid-deployment: the other instance finishes it, no duplicate instance", async () => {
    const i = await leaderIndex();
    const r = await api("PUT", "/v2/apps/it/web", { instances: 5 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    services[i]!.kill("SIGKILL");
    await services[i]!.exited;
    services[i] = undefined;
    url = urls[await leaderIndex()]!;
    await waitHealthy("/it/web", 5, "5 healthy instances after the services failover", 90_000);
    const pids = await serverPids(fx.dir(), "/it/web");
    assert.equal(pids.size, 5, "exactly 5 server processes run: none duplicated");
  });

  it("kill -9 of the leading master mid-deployment: the deployment completes, no duplicate instance", async () => {
    const r = await api("POST", "/v2/apps/it/web/restart");
    assert.equal(r.status, 200);
    await masters.kill9(masters.leader());
    await waitHealthy("/it/web", 5, "5 healthy instances after the master failover", 120_000);
    await waitFor(async () => ((await serverPids(fx.dir(), "/it/web")).size === 5 ? true : undefined), "the old instances' processes gone", 30_000);
  });

  it("accepts realistic Marathon JSON files unchanged (Docker app, constraints, a group with dependencies)", async () => {
    const docker = await readFile(`${EXAMPLES}docker-nginx.json`, "utf8");
    const d = await api("POST", "/v2/apps", docker);
    assert.equal(d.status, 201, JSON.stringify(d.json));
    assert.equal(d.json.container.docker.portMappings[0].servicePort, 10080, "unknown/extra fields are echoed");
    assert.equal((await api("DELETE", "/v2/apps/frontend/nginx?force=true")).status, 200);
    const cmd = await api("POST", "/v2/apps", await readFile(`${EXAMPLES}cmd-with-constraints.json`, "utf8"));
    assert.equal(cmd.status, 201, JSON.stringify(cmd.json));
    const placed = await waitHealthy("/ops/echo-server", 2, "the constrained app on both racks", 60_000);
    assert.deepEqual(new Set(placed.map((t) => t.host)).size, 2, "hostname UNIQUE");
    const group = await api("POST", "/v2/groups", await readFile(`${EXAMPLES}group-with-dependencies.json`, "utf8"));
    assert.equal(group.status, 201, JSON.stringify(group.json));
    await waitFor(async () => {
      const g = (await api("GET", "/v2/groups/shop")).json;
      const apps = [...g.apps, ...g.groups.flatMap((x: { apps: unknown[] }) => x.apps)] as { id: string; tasksRunning: number; instances: number }[];
      return apps.length === 3 && apps.every((a) => a.tasksRunning === a.instances) ? true : undefined;
    }, "the group's apps running in dependency order", 90_000);
    const bad = await api("POST", "/v2/apps", { id: "/bad", cmd: "x", cpus: -1 });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.json.details, [{ path: "/cpus", errors: ["cpus must be at least 0"] }]);
    const dup = await api("POST", "/v2/apps", { id: "/it/web", cmd: "x" });
    assert.equal(dup.status, 409);
  });

  it("an agent stopped: its instances are replaced on the other agent, and the extras killed when it comes back", async () => {
    const r = await api("PUT", "/v2/apps/it/web", { unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 3600 }, instances: 2, constraints: [] });
    assert.equal(r.status, 200);
    await waitHealthy("/it/web", 2, "2 instances", 90_000);
    const ts = await tasks("/it/web");
    const host = ts[0]!.host;
    const index = Number(host.split("-")[1]) - 1;
    agents[index]!.kill("SIGTERM");
    await agents[index]!.exited;
    await waitFor(async () => {
      const now = await tasks("/it/web");
      return now.filter((t) => healthy(t) && t.host !== host).length >= 2 ? true : undefined;
    }, "replacements on the other agent", 60_000);
    const back = fx.spawn(`agent-${index + 1}-again`, [...agents[index]!.args]);
    agents[index] = back;
    await back.waitForLine(/(Registered with master|Reregistered with master)/, "the agent to come back", 60_000);
    await waitHealthy("/it/web", 2, "back to exactly 2 instances after the agent returned", 60_000);
  });
});
