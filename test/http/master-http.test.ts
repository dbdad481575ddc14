import assert from "node:assert/strict";
import { get as httpGet } from "node:http";
import { afterEach, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { startMasterHttp, type RunningMasterHttp } from "../../src/operator/master-http.js";
import { parseResources } from "../../src/resources/index.js";
import { Cluster, commandTask } from "../master/harness.js";
import { waitFor } from "../support/wait.js";

let cluster: Cluster | undefined;
let http: RunningMasterHttp | undefined;
afterEach(async () => {
  await http?.close();
  await cluster?.stop();
  http = undefined;
  cluster = undefined;
});

async function start(options: { agents?: number; minStateRebuildMs?: number } = {}): Promise<{ c: Cluster; h: RunningMasterHttp; url: string }> {
  const c = (cluster = await Cluster.start({ agents: options.agents ?? 2, agentResources: "cpus:4;mem:4096;disk:1000;ports:[31000-32000]" }));
  const h = (http = await startMasterHttp({
    host: "127.0.0.1",
    port: 0,
    master: c.facade,
    metrics: c.masterSystem.metrics,
    cluster: "test",
    version: "9.9.9",
    flags: { allocationInterval: 1000, hostname: "m1" },
    minStateRebuildMs: options.minStateRebuildMs,
  }));
  return { c, h, url: `http://${h.address}` };
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, any> }> {
  const r = await fetch(url, { redirect: "manual" });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

/** One framework with task t1 launched on the first offer and reported RUNNING. */
async function runningTask(c: Cluster): Promise<{ frameworkId: string }> {
  const s = await c.subscribe("fw");
  const offer = s.sink.offers()[0]!;
  await c.launch(s, [offer], [commandTask("t1", "cpus:1;mem:128")]);
  const agent = c.agents.find((a) => a.agentId === offer.agentId!.value)!;
  agent.update(s.frameworkId, "t1", TaskState.RUNNING);
  await c.clock.settle();
  return { frameworkId: s.frameworkId };
}

describe("master HTTP", () => {
  it("/state shows agents as slaves, frameworks with their tasks, resources total/used/offered and the leader", async () => {
    const { c, url } = await start();
    const { frameworkId } = await runningTask(c);
    const { status, body } = await getJson(`${url}/state`);
    assert.equal(status, 200);
    assert.equal(body.version, body.leader_info.version, "the master's version");
    assert.equal(body.cluster, "test");
    assert.equal(body.leader, body.pid, "a single master leads");
    assert.equal(body.activated_slaves, 2);
    assert.equal(body.slaves.length, 2);
    const slave = body.slaves.find((s: any) => s.used_resources.cpus === 1);
    assert.ok(slave, "the agent running t1 shows its used cpus");
    assert.deepEqual(slave.resources, { cpus: 4, mem: 4096, disk: 1000, gpus: 0, ports: "[31000-32000]" });
    assert.equal(slave.used_resources.mem, 128);
    assert.equal(body.frameworks.length, 1);
    const fw = body.frameworks[0];
    assert.equal(fw.id, frameworkId);
    assert.equal(fw.name, "fw");
    assert.equal(fw.active, true);
    assert.equal(fw.tasks.length, 1);
    assert.equal(fw.tasks[0].id, "t1");
    assert.equal(fw.tasks[0].state, "TASK_RUNNING");
    assert.equal(fw.tasks[0].slave_id, slave.id);
    assert.equal(fw.used_resources.cpus, 1);
    assert.equal(typeof body.start_time, "number");
    assert.equal(body.flags.allocation_interval, "1000");
  });

  it("/state-summary counts tasks per agent and framework without listing them, with the frameworks on each agent and what they use", async () => {
    const { c, url } = await start();
    const s = await c.subscribe("fw");
    const offer = s.sink.offers()[0]!;
    await c.launch(s, [offer], [commandTask("t1", "cpus:1;mem:128"), commandTask("t2", "cpus:0.5;mem:64")]);
    const agent = c.agents.find((a) => a.agentId === offer.agentId!.value)!;
    agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    agent.update(s.frameworkId, "t2", TaskState.FINISHED);
    await c.clock.settle();
    const { body } = await getJson(`${url}/state-summary`);
    const fw = body.frameworks[0];
    assert.equal(fw.id, s.frameworkId);
    assert.equal(fw.tasks, undefined, "no task lists");
    assert.deepEqual([fw.TASK_RUNNING, fw.TASK_FINISHED, fw.TASK_STAGING], [1, 1, 0]);
    assert.deepEqual(fw.slave_ids, [agent.agentId]);
    assert.equal(fw.used_resources.cpus, 1, "the finished task's resources are not in use");
    assert.equal(fw.used_resources.mem, 128);
    const slave = body.slaves.find((x: any) => x.id === agent.agentId);
    assert.deepEqual([slave.TASK_RUNNING, slave.TASK_FINISHED], [1, 1]);
    assert.deepEqual(slave.framework_ids, [s.frameworkId]);
    assert.equal(slave.used_resources.cpus, 1);
    assert.equal(slave.resources.cpus, 4);
    const other = body.slaves.find((x: any) => x.id !== agent.agentId);
    assert.deepEqual([other.TASK_RUNNING, other.framework_ids, other.used_resources.cpus], [0, [], 0], "the other agent runs nothing");
    assert.equal(body.leader_info.pid, body.pid);

    // The agent's kept JSON follows a new total (an operation or UpdateAgent).
    await c.masterSystem.dispatch(c.master, ({ core }) => {
      core.agents.get(agent.agentId)!.setTotalResources(parseResources("cpus:8;mem:4096;disk:1000").toProto());
      core.changed();
    });
    const again = (await getJson(`${url}/state-summary`)).body.slaves.find((x: any) => x.id === agent.agentId);
    assert.deepEqual([again.resources.cpus, again.used_resources.cpus, again.TASK_RUNNING], [8, 1, 1]);
  });

  it("/state is serialized once per change, not once per request", async () => {
    const { c, h, url } = await start();
    await getJson(`${url}/state`);
    await getJson(`${url}/state`);
    await getJson(`${url}/state`);
    assert.equal(h.stateBuilds(), 1, "three requests, no change: one build");
    await runningTask(c);
    const { body } = await getJson(`${url}/state`);
    assert.equal(h.stateBuilds(), 2, "a change makes the next request rebuild");
    assert.equal(body.frameworks[0].tasks[0].state, "TASK_RUNNING", "and it shows the change");
  });

  it("/state is gzip-compressed when the client accepts it, with the same JSON, and answers 304 to its ETag", async () => {
    const { c, url } = await start();
    await runningTask(c);
    const plain = await fetch(`${url}/state`, { headers: { "accept-encoding": "identity" } });
    assert.equal(plain.headers.get("content-encoding"), null);
    const plainBody = await plain.json();
    const zipped = await new Promise<{ encoding: string | undefined; body: Buffer; etag: string | undefined }>((resolve, reject) => {
      httpGet(`${url}/state`, { headers: { "accept-encoding": "gzip, br" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d)).on("end", () => resolve({ encoding: res.headers["content-encoding"], body: Buffer.concat(chunks), etag: res.headers.etag }));
      }).on("error", reject);
    });
    assert.equal(zipped.encoding, "gzip");
    assert.deepEqual(JSON.parse(gunzipSync(zipped.body).toString()), plainBody, "the compressed body is the same JSON");
    assert.equal(zipped.etag, plain.headers.get("etag"));
    const again = await fetch(`${url}/state`, { headers: { "if-none-match": zipped.etag! } });
    assert.equal(again.status, 304);
  });

  it("a task that changes after /state was built shows its new state and statuses (kept task JSON is remade)", async () => {
    const { c, url } = await start({ minStateRebuildMs: 0 });
    const { frameworkId } = await runningTask(c);
    const before = (await getJson(`${url}/state`)).body.frameworks[0].tasks[0];
    assert.equal(before.state, "TASK_RUNNING");
    const agent = c.agents.find((a) => a.agentId === before.slave_id)!;
    agent.update(frameworkId, "t1", TaskState.FINISHED);
    await c.clock.settle();
    const { body } = await getJson(`${url}/state`);
    const after = [...body.frameworks[0].tasks, ...body.frameworks[0].completed_tasks].find((t: any) => t.id === "t1");
    assert.equal(after.state, "TASK_FINISHED");
    assert.deepEqual(after.statuses.map((s: any) => s.state), ["TASK_RUNNING", "TASK_FINISHED"]);
  });

  it("requests that find /state stale share one rebuild, at most one per interval", async () => {
    const { c, h, url } = await start({ minStateRebuildMs: 300 });
    await getJson(`${url}/state`);
    assert.equal(h.stateBuilds(), 1);
    await runningTask(c);
    const bodies = await Promise.all([1, 2, 3, 4].map(() => getJson(`${url}/state`)));
    assert.equal(h.stateBuilds(), 2, "four requests after one change: one more build");
    for (const { body } of bodies) assert.equal(body.frameworks[0].tasks[0].state, "TASK_RUNNING", "every answer is as new as the state when asked");
  });

  it("/metrics/snapshot has the Mesos keys and /metrics the same values as Prometheus text", async () => {
    const { c, url } = await start();
    await runningTask(c);
    const { body } = await getJson(`${url}/metrics/snapshot`);
    assert.equal(body["master/tasks_running"], 1);
    assert.equal(body["master/slaves_active"], 2);
    assert.equal(body["master/frameworks_active"], 1);
    assert.equal(body["master/elected"], 1);
    const r = await fetch(`${url}/metrics`);
    assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
    const text = await r.text();
    assert.match(text, /^dcos_master_tasks_running 1$/m);
    assert.match(text, /^dcos_master_slaves_active 2$/m);
    // Latencies as histograms (they add up across nodes), percentiles only in the snapshot.
    const runs = body["allocator/allocation_run_ms/count"];
    assert.ok(runs >= 1, "an allocation round ran");
    assert.equal(typeof body["allocator/allocation_run_ms/p99"], "number");
    assert.match(text, /^# TYPE dcos_allocator_allocation_run_ms histogram$/m);
    assert.match(text, /^dcos_allocator_allocation_run_ms_bucket\{le="0\.1"\} \d+$/m);
    assert.match(text, new RegExp(`^dcos_allocator_allocation_run_ms_bucket\\{le="\\+Inf"\\} ${runs}$`, "m"));
    assert.match(text, new RegExp(`^dcos_allocator_allocation_run_ms_count ${runs}$`, "m"));
    assert.doesNotMatch(text, /_p99 /, "no percentile gauges");
    // The process's own metrics.
    for (const name of ["dcos_nodejs_eventloop_lag_seconds", "dcos_nodejs_heap_size_used_bytes", "dcos_process_cpu_user_seconds_total", "dcos_nodejs_eventloop_lag_p99_seconds"]) {
      assert.match(text, new RegExp(`^${name} [0-9.e+-]+$`, "m"), name);
    }
  });

  it("/health, /version, /flags; /redirect sends to the leader; unknown paths get a JSON 404", async () => {
    const { url, h } = await start({ agents: 0 });
    assert.deepEqual((await getJson(`${url}/health`)).body, { healthy: true });
    assert.deepEqual((await getJson(`${url}/version`)).body, { version: "9.9.9" });
    assert.equal((await getJson(`${url}/flags`)).body.flags.hostname, "m1");
    const r = await fetch(`${url}/redirect`, { redirect: "manual" });
    assert.equal(r.status, 307);
    assert.equal(r.headers.get("location"), `http://${h.address}/`);
    const missing = await getJson(`${url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "NOT_FOUND");
    assert.match(missing.body.message, /No endpoint GET \/nope/);
  });

  it("/events streams SUBSCRIBED with the state, then the cluster events as they happen", async () => {
    const { c, url } = await start({ agents: 1 });
    const controller = new AbortController();
    const r = await fetch(`${url}/events`, { signal: controller.signal });
    assert.equal(r.headers.get("content-type"), "text/event-stream");
    const reader = r.body!.getReader();
    let text = "";
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => undefined);
    await waitFor(() => text.includes("event: SUBSCRIBED"), "SUBSCRIBED");
    await runningTask(c);
    await waitFor(() => text.includes("event: STATUS_UPDATE"), "STATUS_UPDATE on /events");
    const types = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    assert.deepEqual(
      types.filter((t) => t !== "HEARTBEAT"),
      ["SUBSCRIBED", "FRAMEWORK_ADDED", "OFFERS_MADE", "TASK_ADDED", "TASK_UPDATED", "STATUS_UPDATE"],
    );
    const subscribed = JSON.parse(text.split("\n").find((l) => l.startsWith("data: {\"type\":\"SUBSCRIBED\""))!.slice(6));
    assert.equal(subscribed.state.slaves.length, 1);
    const updated = JSON.parse(text.split("\n").filter((l) => l.includes('"TASK_UPDATED"'))[0]!.slice(6));
    assert.equal(updated.taskUpdated.state, "TASK_STATE_RUNNING");
    const status = JSON.parse(text.split("\n").filter((l) => l.includes('"STATUS_UPDATE"'))[0]!.slice(6));
    assert.equal(status.statusUpdate.status.taskId.value, "t1", "the agent's status update, as the master received it");
    assert.equal(status.statusUpdate.status.state, "TASK_STATE_RUNNING");
    controller.abort();
    await pump;
  });
});
