/**
 * The jobs framework through a network partition, with real processes on separate "hosts"
 * (network namespaces): three masters (hosts 1-3), an agent (host 4) and two `dcos-node
 * jobs` instances (hosts 5 and 6). A heartbeat job runs every 2 s, appending its due instant
 * to a file. The leading master and the leading jobs instance are cut off from everything
 * else (they still hear each other: a minority with no quorum). On the side with the
 * masters' quorum a new master leads, the other jobs instance takes the lease, replays the
 * ledger and keeps the heartbeat running; the cut-off jobs instance cannot commit a launch,
 * so it launches nothing. After the heal the old instance is a standby, the old master a
 * follower, and across the whole run every due instant ran exactly once (once in the
 * file) or is recorded missed with a reason.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkHeartbeats, getJson, heartbeatJob, type Runs } from "../jobs/heartbeats.js";
import type { NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { SystemCluster } from "./system-cluster.js";

/** Cluster ids 85-89 are the jobs tests'. */
const CLUSTER = 85;
const MASTERS = 3;
const AGENT_HOST = 4;
const JOBS_HOSTS = [5, 6];
const PERIOD_MS = 2_000;
/** An election among the two masters left, the lease's 3 s and a replay, on a loaded machine. */
const TAKEOVER_WITHIN_MS = 45_000;

describe("Jobs through a partition (3 masters, an agent, 2 jobs instances; real processes in network namespaces)", () => {
  let c: SystemCluster;
  const apis = new Map<number, string>();
  const jobs = new Map<number, NodeProcess>();
  let beats = "";
  let start = 0;

  const leaderSaidBy = (host: number) => getJson<{ leader: string }>(apis.get(host)!, "/leader").then((l) => l.leader, () => undefined);
  const runsAt = (api: string) => getJson<Runs>(api, "/v1/scheduler/job/heartbeat/runs");
  const lines = async () => (await readFile(beats, "utf8").catch(() => "")).split("\n").filter(Boolean);

  before(async () => {
    c = await SystemCluster.start(CLUSTER, MASTERS + 1 + JOBS_HOSTS.length, "jobs-partition", MASTERS, { framework: false, agents: 1 });
    await waitFor(() => c.leader() >= 0, "a leading master", 30_000);
    // The first instance leads (it starts alone), the second is its standby.
    for (const host of JOBS_HOSTS) {
      const p = c.net.spawn(host, `jobs-${host}`, ["jobs", `--master=${c.masterAddress}`, `--ip=${c.net.ip(host)}`, "--http-port=0", "--lease-ttl=3secs", "--log-level=info"]);
      jobs.set(host, p);
      apis.set(host, await p.waitForLine(/Jobs API \(Chronos\) on http:\/\/([\d.]+:\d+)/, "the jobs API", 60_000));
      if (host === JOBS_HOSTS[0]) await waitFor(async () => (await leaderSaidBy(host)) === apis.get(host), "the first jobs instance to lead", 60_000);
    }
    beats = join(c.dir, "beats.log");
    const first = new Date(Math.ceil((Date.now() + 3_000) / 1000) * 1000).toISOString();
    start = Date.parse(first);
    const r = await fetch(`http://${apis.get(JOBS_HOSTS[0]!)}/v1/scheduler/iso8601`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(heartbeatJob(beats, first, PERIOD_MS, { cpus: 0.05 })) });
    assert.equal(r.status, 204, await r.text());
    await waitFor(async () => (await runsAt(apis.get(JOBS_HOSTS[0]!)!)).summary.successCount >= 3, "three heartbeats before the partition", 60_000);
  });

  after(async () => {
    await c?.stop();
  });

  it("the side with the masters' quorum takes over and keeps the jobs running; across the heal each instant runs once", async () => {
    try {
      await partitionAndHeal();
    } catch (err) {
      const runs = await Promise.all(JOBS_HOSTS.map((h) => runsAt(apis.get(h)!).then((r) => JSON.stringify(r).slice(0, 3000), (e: Error) => e.message)));
      console.log(`--- heartbeat runs per instance ---\n${runs.join("\n")}\n--- processes ---\n${c.net.logs(60)}`);
      throw err;
    }
  });

  async function partitionAndHeal(): Promise<void> {
    const [oldJobs, newJobs] = JOBS_HOSTS as [number, number];
    assert.equal(await leaderSaidBy(newJobs), apis.get(oldJobs), "the first instance leads before the partition");
    const oldMasterHost = c.leader() + 1;
    const minority = [oldMasterHost, oldJobs];
    const majority = [1, 2, 3, AGENT_HOST, newJobs].filter((h) => !minority.includes(h));
    for (const a of minority) for (const b of majority) await c.net.partition(a, b);
    const cutAt = Date.now();
    const linesAtCut = (await lines()).length;

    // A new master leads among the two left, the standby takes the lease over and resumes.
    await waitFor(() => c.leader() >= 0 && c.leader() + 1 !== oldMasterHost, "a new leading master on the majority side", TAKEOVER_WITHIN_MS);
    await waitFor(async () => ((await leaderSaidBy(newJobs)) === apis.get(newJobs) ? true : undefined), "the standby jobs instance to take the lease over", TAKEOVER_WITHIN_MS);
    const tookOverAfterMs = Date.now() - cutAt;
    // The heartbeat runs on, on the quorum side: instants due after the cut are executed.
    await waitFor(async () => ((await lines()).filter((l) => Date.parse(l) > cutAt).length >= 4 ? true : undefined), "four heartbeats due after the cut, run during the partition", TAKEOVER_WITHIN_MS);
    const during = await runsAt(apis.get(newJobs)!);
    assert.ok(during.summary.successCount > 3, "the new leader's ledger counts the runs before and during the partition");

    for (const a of minority) for (const b of majority) await c.net.heal(a, b);
    const healedAt = Date.now();
    // The old instance hears of the new leader and proxies to it; the heartbeat runs on.
    await waitFor(async () => ((await leaderSaidBy(oldJobs)) === apis.get(newJobs) ? true : undefined), "the cut-off instance to name the new leader after the heal", TAKEOVER_WITHIN_MS);
    await waitFor(async () => ((await lines()).filter((l) => Date.parse(l) > healedAt).length >= 3 ? true : undefined), "three heartbeats after the heal", TAKEOVER_WITHIN_MS);
    assert.equal(await leaderSaidBy(newJobs), apis.get(newJobs), "the majority side's instance still leads");

    const h = await checkHeartbeats(await runsAt(apis.get(newJobs)!), beats, start, PERIOD_MS, 30_000);
    const partitioned = [...h.executions.keys()].filter((t) => t > cutAt && t < healedAt).length;
    console.log(
      `jobs partition: took over ${tookOverAfterMs} ms after the cut; ${linesAtCut} heartbeats before it, ${partitioned} instants due during it ran, ` +
        `${h.executions.size} executions in all, ${h.missed.size} instants missed (${h.reasons.join("; ") || "none"})`,
    );
  }
});
