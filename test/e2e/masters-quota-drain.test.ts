/**
 * MasterQuotaTest.QuotaAfterFailover and MasterDrainingTest.DrainAfterFailover with real
 * processes: three `dcos-node --role=master` (one Raft group), two agents, frameworks as
 * `dcos-node run`, quota and drain set with the CLI. kill -9 of the leader while an agent
 * is DRAINING (its task ignores SIGTERM, so it outlives the old leader): the new leader
 * has the same quota and enforces it (a framework of the role asking for more than the
 * limit never launches although an agent has room for it), and it finishes the drain —
 * the task is killed, the agent becomes DRAINED.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { masterProcessesFixture } from "../support/master-processes.js";
import { runToEnd, type NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const HTTP = /Master HTTP on http:\/\/(\S+) /;

function httpAddress(p: NodeProcess): string {
  for (const line of p.lines) {
    const m = HTTP.exec(line);
    if (m) return m[1]!;
  }
  throw new Error(`${p.name} has not said where its HTTP endpoint is:\n${p.tail()}`);
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

const QUOTA = "allocator/mesos/quota/roles/eng/resources/cpus";

describe("Quota and drain across a master failover (separate processes)", () => {
  const fixture = masterProcessesFixture("dcos-masters-quota-drain-");

  it("QuotaAndDrainAfterFailover: the new leader enforces the same quota and takes the agent from DRAINING to DRAINED", async () => {
    const m = await fixture.startMasters(3);
    await waitFor(() => m.leader() >= 0, "a leading master", 30_000);
    for (const i of [1, 2]) await fixture.startAgent(`agent-${i}`, "cpus:2;mem:1024;disk:1024;ports:[31000-31100]", [`--hostname=quota-drain-${i}`]);
    const first = m.leader();
    const leaderGrpc = m.addresses[first]!;

    // Role eng: 0.5 cpus guaranteed, at most 1.
    const set = await runToEnd("quota", ["quota", `--master=${leaderGrpc}`, "set", "eng", "--guarantee=cpus:0.5", "--limit=cpus:1"]);
    assert.equal(set.code, 0, set.output);

    // A task of eng that ignores SIGTERM, on one agent; the drain's grace period lets it
    // outlive the leader.
    const holder = fixture.spawn("holder", ["run", `--master=${m.list}`, "--name=holder", "--role=eng", "--cpus=1", "--mem=64", "--", "trap '' TERM; sleep 600"]);
    const agentId = await holder.waitForLine(/Launching task \S+ on agent (\S+)/, "the eng task to launch", 60_000);
    await holder.waitForLine(/(TASK_RUNNING)/, "the eng task to run", 60_000);
    const drain = await runToEnd("drain", ["agent", `--master=${leaderGrpc}`, "drain", agentId, "--max-grace-period=8secs"]);
    assert.equal(drain.code, 0, drain.output);

    await m.kill9(first);
    assert.equal(holder.count(/TASK_KILLED/), 0, "the task still ran when the leader died");
    await waitFor(() => m.leader() >= 0 && m.leader() !== first, "a new leading master", 60_000);
    const leader = m.processes[m.leader()]!;
    const http = httpAddress(leader);

    // The same quota on the new leader (registry), in its metrics.
    const metrics = await waitFor(async () => {
      const snap = await getJson(`http://${http}/metrics/snapshot`);
      return snap[`${QUOTA}/limit`] !== undefined ? snap : undefined;
    }, "the new leader's quota gauges", 30_000);
    assert.equal(metrics[`${QUOTA}/guarantee`], 0.5);
    assert.equal(metrics[`${QUOTA}/limit`], 1);

    // The drain goes on: the task is killed, the agent is DRAINED.
    await holder.waitForLine(/(TASK_KILLED)/, "the drained task to be killed", 60_000);
    await waitFor(async () => {
      const state = await getJson(`http://${http}/state`);
      const slave = (state.slaves as { id: string; drain_info?: { state: string } }[]).find((s) => s.id === agentId);
      return slave?.drain_info?.state === "DRAINED";
    }, `agent ${agentId} to be DRAINED on the new leader`, 60_000);

    // Enforced: eng asks for 1.5 cpus; the other agent has 2 free, but eng may hold at most
    // 1, so through many allocation rounds it is never offered enough to launch.
    const greedy = fixture.spawn("greedy", ["run", `--master=${m.list}`, "--name=greedy", "--role=eng", "--cpus=1.5", "--mem=64", "--", "sleep 600"]);
    await greedy.waitForLine(/(Subscribed to master)/, "the greedy eng framework to subscribe", 60_000);
    const runs = async () => Number((await getJson(`http://${http}/metrics/snapshot`))["allocator/allocation_runs"] ?? 0);
    const from = await runs();
    await waitFor(async () => (await runs()) >= from + 30, "30 allocation rounds with the greedy framework subscribed", 60_000);
    const after = await getJson(`http://${http}/metrics/snapshot`);
    assert.ok(Number(after[`${QUOTA}/offered_or_allocated`] ?? 0) <= 1, `eng holds at most its limit: ${after[`${QUOTA}/offered_or_allocated`]}`);
    assert.equal(greedy.count(/Launching task/), 0, `eng was never offered more than its limit:\n${greedy.tail()}`);

    // A framework of another role gets the room eng may not take.
    const other = await runToEnd("other", ["run", `--master=${m.list}`, "--name=other", "--cpus=1.5", "--mem=64", "--", "true"], 60_000);
    assert.equal(other.code, 0, other.output);
  });
});
