/**
 * The jobs framework as real processes: three masters, an agent, two `dcos-node jobs`
 * instances. Realistic Chronos job files are posted unchanged with `dcos-node job add`; a
 * job every 3 s (appending its due instant to a file) and a dependent job run while the
 * jobs leader is killed with SIGKILL mid-run, then the leading master. Afterwards every
 * due instant ran exactly once (the file has it once) or is recorded missed with a
 * reason, no run succeeded twice, and the dependent job kept following its parent.
 */
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { masterProcessesFixture } from "../support/master-processes.js";
import { runToEnd, type NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { checkHeartbeats, getJson as get, heartbeatJob, type Runs } from "./heartbeats.js";

const EXAMPLES = fileURLToPath(new URL("../../../deploy/examples/jobs/", import.meta.url));
const STATS = new Set(["successCount", "errorCount", "lastSuccess", "lastError"]);

describe("jobs framework: real processes through failovers", () => {
  const fx = masterProcessesFixture("dcos-jobs-failover-");

  it("runs each due instant once through kill -9 of the jobs leader and of the leading master; Chronos job files post unchanged", async () => {
    const masters = await fx.startMasters(3);
    const agent = fx.spawn("agent", ["--role=agent", `--master=${masters.list}`, "--port=0", "--http-port=0", `--work-dir=${join(fx.dir(), "agent")}`, "--resources=cpus:4;mem:4096;disk:20000"]);
    await agent.waitForLine(/Registered with master/, "the agent to register", 60_000);
    const instances: NodeProcess[] = [];
    const apis: string[] = [];
    for (const n of [1, 2]) {
      const p = fx.spawn(`jobs-${n}`, ["jobs", `--master=${masters.list}`, "--http-port=0", "--lease-ttl=3secs", "--log-level=info"]);
      apis.push(await p.waitForLine(/Jobs API \(Chronos\) on http:\/\/([\d.]+:\d+)/, "the jobs API", 60_000));
      instances.push(p);
    }
    const leaderOf = async () => (await get<{ leader: string }>(apis[0]!, "/leader")).leader;
    const leader = await waitFor(async () => (await get<{ jobs: unknown[] }>(apis[0]!, "/v1/scheduler/jobs/summary").then(() => leaderOf()).catch(() => undefined)), "a jobs leader", 60_000);
    const other = apis.find((a) => a !== leader)!;

    // Realistic Chronos files, posted unchanged through the other instance (it proxies to the leader).
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith(".json")).sort();
    const ordered = [...files.filter((f) => !f.includes("email")), ...files.filter((f) => f.includes("email"))];
    for (const f of ordered) {
      const r = await runToEnd("job add", ["job", `--url=http://${other}`, "add", join(EXAMPLES, f)]);
      assert.equal(r.code, 0, `${f}: ${r.output}`);
    }
    for (const f of files) {
      const posted = JSON.parse(await readFile(join(EXAMPLES, f), "utf8")) as Record<string, unknown>;
      const got = await get<Record<string, unknown>>(other, `/v1/scheduler/job/${encodeURIComponent(String(posted["name"]))}`);
      for (const [k, v] of Object.entries(posted)) {
        if (STATS.has(k)) continue;
        const want = (k === "cpus" || k === "mem") && typeof v === "string" ? Number(v) : v;
        assert.deepEqual(got[k], want, `${f}: field ${k} reads back as posted`);
      }
    }

    // A job every 3 s writing its due instant, and a job after it.
    const beats = join(fx.dir(), "beats.log");
    const start = new Date(Date.now() + 2_000).toISOString();
    const heartbeat = heartbeatJob(beats, start, 3_000);
    const follower = { name: "after-heartbeat", command: "echo parent done", parents: ["heartbeat"], cpus: 0.1, mem: 32, disk: 0 };
    for (const [path, job] of [["iso8601", heartbeat], ["dependency", follower]] as const) {
      const r = await fetch(`http://${leader}/v1/scheduler/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(job) });
      assert.equal(r.status, 204, await r.text());
    }
    const runs = (api: string) => get<Runs>(api, "/v1/scheduler/job/heartbeat/runs");
    await waitFor(async () => (await runs(leader)).summary.successCount >= 3, "three heartbeats", 60_000);

    // kill -9 of the jobs leader while a heartbeat runs.
    await waitFor(async () => (await runs(leader)).active.some((r) => r.state === "running"), "a heartbeat running", 30_000);
    const before = (await runs(leader)).summary.successCount;
    const killed = instances[apis.indexOf(leader)]!;
    killed.kill("SIGKILL");
    await killed.exited;
    await waitFor(async () => (await leaderOf2(other)) === other && (await runs(other)).summary.successCount >= before + 3, "the other instance to lead and run on", 60_000);

    // kill -9 of the leading master while a heartbeat runs.
    await waitFor(async () => (await runs(other)).active.some((r) => r.state === "running"), "a heartbeat running", 30_000);
    const after = (await runs(other)).summary.successCount;
    await masters.kill9(masters.leader());
    await waitFor(async () => (await runs(other)).summary.successCount >= after + 4, "heartbeats after the master failover", 90_000);

    // Every due instant from the first to the last covered one: once in the file, or missed with a reason.
    const h = await checkHeartbeats(await runs(other), beats, Date.parse(start), 3_000, 40_000);
    console.log(`heartbeat: ${h.executions.size} executions, ${h.scheduled} runs in history, ${h.missed.size} instants missed (${h.reasons.join("; ") || "none"})`);
    const dependent = await get<Runs>(other, "/v1/scheduler/job/after-heartbeat/runs");
    assert.ok(dependent.summary.successCount >= 3, "the dependent job ran after its parent across the failovers");
  });
});

/** Who the instance at `api` says leads (undefined while it cannot say). */
async function leaderOf2(api: string): Promise<string | undefined> {
  return get<{ leader: string }>(api, "/leader").then(
    (l) => l.leader,
    () => undefined,
  );
}
