/**
 * A resident app with real processes: one master, two agents, `dcos-node services
 * --mesos-role=services`. The app counts its launches in a file on its persistent volume;
 * kill -9 of its process → the relaunched instance, on the same agent, reads the previous
 * count. Destroying the app leaves no reservation and no volume in the master's /state or
 * on the agent's disk. The API runs with --credentials and --acls: the app's owner
 * (alice, `/st`) is the only one who sees or changes it.
 */
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MasterProcesses, masterProcessesFixture } from "../../support/master-processes.js";
import type { NodeProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";

interface Task {
  id: string;
  host: string;
  slaveId: string;
  state: string;
  localVolumes?: { containerPath: string; persistenceId: string }[];
}

interface AgentJson {
  id: string;
  hostname: string;
  reserved_resources: Record<string, { disk: number; cpus: number }>;
  reserved_resources_full?: Record<string, { disk?: { persistence?: { id: string } } }[]>;
}

const APP = "/st/counter";

/** Pids of this test's processes (their environment names the test's directory) of the app's task. */
async function taskPids(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const [cmdline, environ] = await Promise.all([readFile(`/proc/${name}/cmdline`, "utf8").catch(() => ""), readFile(`/proc/${name}/environ`, "utf8").catch(() => "")]);
    if (!cmdline.startsWith("sleep") || !environ.includes(dir) || !environ.split("\0").includes(`MARATHON_APP_ID=${APP}`)) continue;
    out.push(Number(name));
  }
  return out;
}

describe("services: a resident app's data survives relaunches (real processes)", { timeout: 240_000 }, () => {
  const fx = masterProcessesFixture("services-resident-");
  let masters: MasterProcesses;
  let services: NodeProcess;
  let url = "";
  let masterHttp = "";
  const agentDirs = new Map<string, string>(); // hostname -> work dir

  const SECRETS: Record<string, string> = { alice: "alice-secret-1", bob: "bob-secret-22" };
  const api = async (method: string, path: string, body?: unknown, who: "alice" | "bob" | "anonymous" = "alice"): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(who === "anonymous" ? {} : { authorization: `Bearer ${SECRETS[who]}` }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const tasks = async (): Promise<Task[]> => ((await api("GET", `/v2/apps${APP}/tasks`).catch(() => undefined))?.json?.tasks ?? []) as Task[];
  const agentsState = async (): Promise<AgentJson[]> => ((await (await fetch(`${masterHttp}/state`)).json()) as { slaves: AgentJson[] }).slaves;
  /** The count the app wrote on its volume, on the agent named. */
  const count = async (host: string): Promise<string | undefined> => {
    const root = join(agentDirs.get(host)!, "volumes", "roles", "services");
    for (const v of await readdir(root).catch(() => [] as string[])) {
      const text = await readFile(join(root, v, "n"), "utf8").catch(() => undefined);
      if (text !== undefined) return text.trim();
    }
    return undefined;
  };
  const diag = () => `--- services ---\n${services.tail(20)}`;

  before(async () => {
    masters = await fx.startMasters(1);
    masterHttp = `http://${await masters.processes[0]!.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address", 30_000)}`;
    for (const i of [1, 2]) {
      const dir = join(fx.dir(), `agent-${i}`);
      agentDirs.set(`host-${i}`, dir);
      const a = fx.spawn(`agent-${i}`, [
        "--role=agent",
        "--port=0",
        "--http-port=0",
        `--master=${masters.list}`,
        `--work-dir=${dir}`,
        `--resources=cpus:2;mem:2048;disk:1024;ports:[${32000 + i * 100}-${32000 + i * 100 + 50}]`,
        `--hostname=host-${i}`,
      ]);
      await a.waitForLine(/(Registered with master)/, "the agent to register", 60_000);
    }
    const credentials = join(fx.dir(), "api-credentials.json");
    await writeFile(credentials, JSON.stringify({ credentials: Object.entries(SECRETS).map(([principal, secret]) => ({ principal, secret })) }), { mode: 0o600 });
    const acls = join(fx.dir(), "api-acls.json");
    const own = [
      { principals: { values: ["alice"] }, app_ids: { values: ["/st"] } },
      { principals: { values: ["bob"] }, app_ids: { values: ["/other"] } },
    ];
    await writeFile(acls, JSON.stringify({ permissive: false, view_apps: own, create_apps: own, update_apps: own, delete_apps: own }));
    services = fx.spawn("services", ["services", `--master=${masters.list}`, "--http-port=0", "--mesos-role=services", "--lease-ttl=2s", `--credentials=${credentials}`, `--acls=${acls}`]);
    url = `http://${await services.waitForLine(/Services API listening on http:\/\/([\d.]+:\d+)/, "the services API to listen", 60_000)}`;
    await waitFor(async () => ((await api("GET", "/v2/info").catch(() => undefined))?.json?.elected ? true : undefined), "the services instance to lead", 60_000);
  });

  after(async () => {
    await masters?.stop();
  });

  it("kill -9 of the instance: relaunched on the same agent with its volume, it reads the previous count; destroy leaves nothing reserved", async () => {
    const created = await api("POST", "/v2/apps", {
      id: APP,
      cmd: "n=$(cat data/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > data/n; echo count $n; exec sleep 600",
      cpus: 0.1,
      mem: 32,
      instances: 1,
      backoffSeconds: 1,
      container: { type: "MESOS", volumes: [{ containerPath: "data", mode: "RW", persistent: { size: 50 } }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const [first] = await waitFor(async () => {
      const ts = await tasks();
      return ts.length === 1 && ts[0]!.state === "TASK_RUNNING" ? ts : undefined;
    }, `the instance running\n${diag()}`, 60_000);
    const host = first!.host;
    assert.equal(await waitFor(async () => ((await count(host)) === "1" ? "1" : undefined), "the first launch writes 1 on the volume", 20_000), "1");
    const reserved = (await agentsState()).find((a) => a.hostname === host)!;
    assert.ok((reserved.reserved_resources["services"]?.disk ?? 0) >= 50, `the master shows the reservation: ${JSON.stringify(reserved.reserved_resources)}`);
    assert.ok(
      (reserved.reserved_resources_full?.["services"] ?? []).some((r) => r.disk?.persistence?.id),
      `the master shows the volume: ${JSON.stringify(reserved.reserved_resources_full)}`,
    );

    const pids = await taskPids(fx.dir());
    assert.equal(pids.length, 1, "one process of the app");
    process.kill(pids[0]!, "SIGKILL");
    const [second] = await waitFor(async () => {
      const ts = await tasks();
      return ts.length === 1 && ts[0]!.id !== first!.id && ts[0]!.state === "TASK_RUNNING" ? ts : undefined;
    }, `the instance relaunched\n${diag()}`, 60_000);
    assert.equal(second!.host, host, "relaunched on the same agent");
    assert.equal(second!.slaveId, first!.slaveId);
    assert.deepEqual(second!.localVolumes, first!.localVolumes, "the same volume");
    assert.equal(second!.localVolumes?.[0]?.containerPath, "data");
    assert.equal(await waitFor(async () => ((await count(host)) === "2" ? "2" : undefined), "the relaunched instance reads 1 and writes 2", 20_000), "2");

    // The API's ACLs, through the CLI's --credentials and --acls: only alice sees and changes her app.
    assert.equal((await api("GET", "/v2/apps", undefined, "anonymous")).status, 401, "anonymous");
    assert.deepEqual((await api("GET", "/v2/apps", undefined, "bob")).json.apps, [], "bob sees none of alice's apps");
    assert.equal((await api("GET", `/v2/apps${APP}`, undefined, "bob")).status, 403);
    assert.equal((await api("DELETE", `/v2/apps${APP}`, undefined, "bob")).status, 403);
    assert.deepEqual((await api("GET", "/v2/apps")).json.apps.map((a: { id: string }) => a.id), [APP]);

    const removed = await api("DELETE", `/v2/apps${APP}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.json));
    await waitFor(async () => {
      const agents = await agentsState();
      return agents.every((a) => a.reserved_resources["services"] === undefined && (a.reserved_resources_full?.["services"] ?? []).length === 0) ? true : undefined;
    }, `no reservation or volume left in /state\n${diag()}`, 60_000);
    // The master drops them at once; the agent removes the directory when it applies the checkpoint.
    await waitFor(async () => ((await count(host)) === undefined ? true : undefined), "the volume's directory gone from the agent", 30_000);
    assert.equal((await api("GET", `/v2/apps${APP}`)).status, 404);
  });
});
