/**
 * MasterDrainingTest with a services app, real processes (issue 16): a master, three
 * agents and a services instance run an app of 3 HTTP servers (minimumHealthCapacity 1,
 * each server ignores SIGTERM and has a 20 s kill grace period). The operator drains the
 * agent holding some of them (`dcos-node agent drain`). Expected: the instances are
 * replaced on the other agents, the agent becomes DRAINED, and at no moment do fewer than
 * minimumHealthCapacity × instances servers answer — the services scheduler starts the
 * replacements while the drained ones still serve out their grace period.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { masterProcessesFixture } from "../../support/master-processes.js";
import { runToEnd } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";

interface Task {
  id: string;
  host: string;
  slaveId: string;
  ports: number[];
  state: string;
}

const INSTANCES = 3;
const MIN_HEALTH_CAPACITY = 1;

describe("services app on a drained agent (real processes)", { timeout: 300_000 }, () => {
  const fx = masterProcessesFixture("services-drain-");

  it("DrainWithServicesApp: instances replaced elsewhere, the agent DRAINED, never fewer than minimumHealthCapacity serving", async () => {
    const masters = await fx.startMasters(1);
    await waitFor(() => masters.leader() >= 0, "the master to lead", 30_000);
    const master = masters.processes[0]!;
    const masterHttp = await master.waitForLine(/Master HTTP on http:\/\/(\S+) /, "the master's HTTP address", 10_000);
    for (const i of [1, 2, 3]) await fx.startAgent(`agent-${i}`, `cpus:2;mem:2048;disk:1024;ports:[${32000 + i * 100}-${32000 + i * 100 + 50}]`, [`--hostname=drain-host-${i}`]);
    const services = fx.spawn("services", ["services", `--master=${masters.list}`, "--http-port=0", "--lease-ttl=2s"]);
    const url = `http://${await services.waitForLine(/Services API listening on http:\/\/([\d.]+:\d+)/, "the services API to listen", 60_000)}`;
    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    const tasks = async (): Promise<Task[]> => ((await api("GET", "/v2/apps/drain/web/tasks")).json?.tasks ?? []) as Task[];
    const answers = async (port: number): Promise<boolean> => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) })).status === 200;
      } catch {
        return false;
      }
    };
    /** The instances the API lists as running (or being killed) whose server answers. */
    const serving = async (): Promise<Task[]> => {
      const ts = (await tasks()).filter((t) => t.state === "TASK_RUNNING" || t.state === "TASK_KILLING");
      const ok = await Promise.all(ts.map((t) => answers(t.ports[0]!)));
      return ts.filter((_, i) => ok[i]);
    };

    const app = {
      id: "/drain/web",
      // The server ignores SIGTERM: killed, it serves on until its grace period ends (SIGKILL).
      cmd: "trap '' TERM; exec python3 -m http.server $PORT0 --bind 127.0.0.1",
      cpus: 0.1,
      mem: 64,
      instances: INSTANCES,
      taskKillGracePeriodSeconds: 20,
      healthChecks: [{ protocol: "MESOS_HTTP", path: "/", portIndex: 0, gracePeriodSeconds: 20, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
      upgradeStrategy: { minimumHealthCapacity: MIN_HEALTH_CAPACITY, maximumOverCapacity: 1 },
      backoffSeconds: 1,
    };
    // 503 until the services instance holds the leader lease.
    const created = await waitFor(async () => {
      const r = await api("POST", "/v2/apps", app).catch(() => undefined);
      return r && r.status !== 503 ? r : undefined;
    }, `the services instance to lead and take the app\n${services.tail(10)}`, 60_000);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const before = await waitFor(async () => {
      const s = await serving().catch(() => []);
      const app = (await api("GET", "/v2/apps/drain/web").catch(() => ({ json: undefined }))).json?.app;
      return s.length === INSTANCES && app?.deployments?.length === 0 ? s : undefined;
    }, `${INSTANCES} instances serving\n${services.tail(20)}`, 120_000);

    // Drain the agent holding the most instances.
    const perAgent = new Map<string, number>();
    for (const t of before) perAgent.set(t.slaveId, (perAgent.get(t.slaveId) ?? 0) + 1);
    const [drained, held] = [...perAgent].sort((a, b) => b[1] - a[1])[0]!;
    const onDrained = new Set(before.filter((t) => t.slaveId === drained).map((t) => t.id));
    assert.ok(held >= 1);

    // Sample how many servers answer, from the drain until the app is whole elsewhere.
    const samples: { at: number; serving: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await serving().catch(() => undefined);
        if (s) samples.push({ at: Date.now(), serving: s.length });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const drain = await runToEnd("drain", ["agent", `--master=${masters.addresses[0]}`, "drain", drained, "--max-grace-period=20secs"]);
    assert.equal(drain.code, 0, drain.output);
    const drainedAt = Date.now();

    try {
      await waitFor(async () => {
        const state = (await (await fetch(`http://${masterHttp}/state`)).json()) as { slaves: { id: string; drain_info?: { state: string } }[] };
        return state.slaves.find((s) => s.id === drained)?.drain_info?.state === "DRAINED";
      }, `agent ${drained} to be DRAINED\n${services.tail(20)}`, 120_000);
      const afterDrain = await waitFor(async () => {
        const s = await serving().catch(() => []);
        return s.length === INSTANCES && s.every((t) => t.slaveId !== drained) ? s : undefined;
      }, `${INSTANCES} instances serving off the drained agent\n${services.tail(20)}`, 120_000);
      assert.equal(afterDrain.filter((t) => onDrained.has(t.id)).length, 0, "the drained instances are gone");
    } finally {
      sampling = false;
      await sampler;
    }
    const during = samples.filter((s) => s.at >= drainedAt);
    assert.ok(during.length >= 10, `enough samples during the drain: ${during.length}`);
    const least = Math.min(...during.map((s) => s.serving));
    assert.ok(
      least >= Math.ceil(MIN_HEALTH_CAPACITY * INSTANCES),
      `at least minimumHealthCapacity × instances = ${Math.ceil(MIN_HEALTH_CAPACITY * INSTANCES)} serving throughout the drain; least seen ${least} (${held} of ${INSTANCES} were on the drained agent)\nsamples: ${during.map((s) => s.serving).join(",")}`,
    );
  });
});
