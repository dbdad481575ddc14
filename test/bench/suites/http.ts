/**
 * Bench 'http': /state and /metrics/snapshot over HTTP on a master holding 10,000 agents
 * and 100,000 tasks (records put straight into the master's state). The whole build for
 * every request (the baseline) and /state from kept fragments (state-fragments.ts) in the
 * same run: the first build, the cached body, and the common case on a busy cluster — a
 * request after a change (one task update) — as p50/p99 with and without gzip, with how
 * long each build held the master actor and the event loop's longest stall meanwhile.
 * Times are to the last byte with node:http (no decoding); the client's gunzip +
 * JSON.parse separately. Args: --agents=N --tasks=N --runs=N.
 */
import { fork, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { AgentInfoSchema, FrameworkInfoSchema } from "../../../src/gen/dcos/v1/cluster_pb.js";
import { TaskSchema, TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { createAllocator } from "../../../src/actors/allocator/index.js";
import { AgentRecord, AgentState, taskKey } from "../../../src/actors/master/agent-record.js";
import { ids } from "../../../src/actors/master/master-state.js";
import { FrameworkRecord, FrameworkState } from "../../../src/actors/master/framework-record.js";
import { Master } from "../../../src/actors/master/master.js";
import { MasterFacade } from "../../../src/actors/master/master-facade.js";
import { InMemoryRegistrar } from "../../../src/actors/master/registry.js";
import { startMasterHttp, type RunningMasterHttp } from "../../../src/operator/master-http.js";
import { parseResources } from "../../../src/resources/index.js";
import { ManualClock } from "../../../src/runtime/clock.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { Pid } from "../../../src/runtime/pid.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import { InProcessNetwork } from "../../../src/runtime/transports/in-process.js";
import { median, percentile, type Reporter } from "../report.js";
import { GZIP_LEVEL } from "../../../src/operator/body-parts.js";

interface Timed {
  ttfbMs: number;
  totalMs: number;
  bytes: number;
  body: Buffer;
  gzip: boolean;
}

/** One GET: time to the response head and to the last byte, the raw body (not decoded). */
function get(url: string, gzip: boolean): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { agent: false, headers: gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
      const ttfbMs = performance.now() - t0;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ ttfbMs, totalMs: performance.now() - t0, bytes: body.length, body, gzip: res.headers["content-encoding"] === "gzip" });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** GETs made by a client in its own process (http-client-process.ts). */
class RemoteClient {
  private readonly child: ChildProcess = fork(fileURLToPath(new URL("../http-client-process.js", import.meta.url)));
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (t: Omit<Timed, "body" | "gzip">) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child.on("message", (m: { id: number; error?: string; ttfbMs: number; totalMs: number; bytes: number }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m);
    });
  }

  get(url: string, gzip: boolean): Promise<Omit<Timed, "body" | "gzip">> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, url, gzip });
    });
  }

  close(): void {
    this.child.disconnect();
  }
}

interface Medians {
  ttfbMs: number;
  totalMs: number;
  parseMs: number;
  bytes: number;
}

async function timeGet(url: string, runs: number, gzip = false): Promise<Medians> {
  const ttfb: number[] = [];
  const total: number[] = [];
  const parse: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const r = await get(url, gzip);
    ttfb.push(r.ttfbMs);
    total.push(r.totalMs);
    const t0 = performance.now();
    JSON.parse((r.gzip ? gunzipSync(r.body) : r.body).toString());
    parse.push(performance.now() - t0);
    bytes = r.bytes;
  }
  return { ttfbMs: median(ttfb), totalMs: median(total), parseMs: median(parse), bytes };
}

export async function run(report: Reporter, args: Record<string, string>): Promise<void> {
  const agents = Number(args.agents ?? 10_000);
  const tasks = Number(args.tasks ?? 100_000);
  const runs = Number(args.runs ?? 5);
  const frameworks = 100;
  const system = new ActorSystem({ clock: new ManualClock(), transport: new InProcessNetwork().transport("master:5050"), logger: silentLogger() });
  await system.start();
  const allocator = createAllocator("hierarchical-drf", system, { allocationIntervalMs: 3_600_000 });
  const master = system.spawn(new Master({ masterId: "bench", allocator, registrar: new InMemoryRegistrar() }));
  const facade = new MasterFacade(master);
  const agentResources = parseResources("cpus:32;mem:131072;disk:1000000;ports:[31000-32000]").toProto();
  const taskResources = parseResources("cpus:0.1;mem:128").toProto();
  // The bench arranges the master's state directly: inside the actor, on its writable state.
  const arrange = (fn: (core: Master["core"]) => void): Promise<void> => system.dispatch(master, (m) => fn(m.core));
  await arrange((core) => {
    for (let f = 0; f < frameworks; f++) {
      const id = `fw-${f}`;
      core.frameworks.set(id, new FrameworkRecord(id, create(FrameworkInfoSchema, { id: ids.framework(id), name: `framework ${f}`, user: "nobody", roles: ["*"] }), FrameworkState.CONNECTED));
    }
    const records: AgentRecord[] = [];
    for (let a = 0; a < agents; a++) {
      const id = `bench-S${a}`;
      const info = create(AgentInfoSchema, { id: ids.agent(id), hostname: `host-${a}`, port: 5051, resources: agentResources, pid: `agent@10.0.${a >> 8}.${a & 255}:5051` });
      const record = new AgentRecord(id, info, Pid.parse(info.pid), AgentState.ACTIVE);
      core.agents.set(id, record);
      records.push(record);
    }
    for (let t = 0; t < tasks; t++) {
      const agent = records[t % agents]!;
      const framework = core.frameworks.get(`fw-${t % frameworks}`)!;
      const task = create(TaskSchema, {
        name: `task ${t}`,
        taskId: ids.task(`task-${t}`),
        frameworkId: ids.framework(framework.id),
        agentId: ids.agent(agent.id),
        state: TaskState.RUNNING,
        resources: taskResources,
        role: "*",
      });
      framework.tasks.set(`task-${t}`, task);
      agent.tasks.set(taskKey(framework.id, `task-${t}`), task);
    }
    core.changed();
  });
  const servers: RunningMasterHttp[] = [];
  const serve = async (cacheState: boolean): Promise<{ url: string; h: RunningMasterHttp }> => {
    const h = await startMasterHttp({ host: "127.0.0.1", port: 0, master: facade, metrics: system.metrics, cluster: "bench", version: "bench", flags: {}, cacheState, minStateRebuildMs: 0 });
    servers.push(h);
    return { url: `http://${h.address}`, h };
  };
  const after = await serve(true);
  const before = await serve(false);
  const load = () => ({ load: Math.round(loadavg()[0]! * 10) / 10 });
  const extra = { agents, tasks, frameworks };
  // Requests timed from another process, except where the client's own work is measured.
  const client = new RemoteClient();
  // The whole build, for every request (the baseline): the master actor serializes everything.
  const fullBuilds: number[] = [];
  const fullTotal: number[] = [];
  const fullGzipTotal: number[] = [];
  for (let i = 0; i < runs; i++) {
    fullTotal.push((await client.get(`${before.url}/state`, false)).totalMs);
    fullBuilds.push(before.h.lastStateBuildMs());
    fullGzipTotal.push((await client.get(`${before.url}/state`, true)).totalMs);
  }
  const fullBuild = median(fullBuilds);
  report.figure("state_full_build_ms", fullBuild, "ms", "lower", { ...extra, ...load(), note: "the whole build: how long the master actor is held per build (median)" });
  report.figure("state_full_total_ms", median(fullTotal), "ms", "lower", { note: "GET /state built whole for the request, identity" });
  report.figure("state_full_gzip_total_ms", median(fullGzipTotal), "ms", "lower", { note: "GET /state built whole and gzipped for the request" });
  // From kept fragments: the first build makes every fragment.
  const coldLag = monitorEventLoopDelay({ resolution: 5 });
  coldLag.enable();
  const cold = await get(`${after.url}/state`, true);
  coldLag.disable();
  report.figure("state_cold_build_ms", after.h.lastStateBuildMs(), "ms", "lower", { ...load(), note: "first build from fragments: the last turn, after the fragments were made ahead in 20 ms turns" });
  report.figure("state_cold_gzip_total_ms", cold.totalMs, "ms", "lower", { note: "first GET /state with gzip: every fragment made, every part compressed" });
  report.figure("state_cold_event_loop_delay_max_ms", coldLag.max / 1e6, "ms", "lower", { note: "longest event-loop stall during that first request" });
  const plain = await timeGet(`${after.url}/state`, runs * 2);
  const gz = await timeGet(`${after.url}/state`, runs * 2, true);
  report.compare("state_cached_total_ms", plain.totalMs, "state_full_total_ms", median(fullTotal), "ms", "lower");
  report.compare("state_cached_gzip_total_ms", gz.totalMs, "state_full_gzip_total_ms", median(fullGzipTotal), "ms", "lower");
  report.figure("state_cached_gzip_ttfb_ms", gz.ttfbMs, "ms", "lower");
  const wholeGzip = gzipSync(gunzipSync(cold.body), { level: GZIP_LEVEL }).length;
  report.compare("state_gzip_bytes", gz.bytes, "state_whole_gzip_bytes", wholeGzip, "bytes", "lower");
  report.figure("state_bytes", plain.bytes, "bytes", "lower");
  report.figure("client_parse_ms", plain.parseMs, "ms", "lower", { note: "JSON.parse of the identity body" });
  report.figure("client_gunzip_parse_ms", gz.parseMs, "ms", "lower");
  // After a change (one task update each time), the common case on a busy cluster.
  const changes = Math.max(10, runs * 4);
  const builds: number[] = [];
  const gzipTotal: number[] = [];
  const plainTotal: number[] = [];
  const lag = monitorEventLoopDelay({ resolution: 5 });
  const change = (i: number) =>
    arrange((core) => {
      const task = core.frameworks.get(`fw-${i % frameworks}`)!.tasks.get(`task-${i % tasks}`)!;
      core.setTaskState(task, task.state === TaskState.RUNNING ? TaskState.KILLING : TaskState.RUNNING);
    });
  lag.enable();
  for (let i = 0; i < changes; i++) {
    await change(i);
    gzipTotal.push((await client.get(`${after.url}/state`, true)).totalMs);
    builds.push(after.h.lastStateBuildMs());
    await change(i);
    plainTotal.push((await client.get(`${after.url}/state`, false)).totalMs);
    builds.push(after.h.lastStateBuildMs());
  }
  lag.disable();
  const remade = after.h.lastStateFragments();
  report.compare("state_after_change_build_ms", median(builds), "state_full_build_ms", fullBuild, "ms", "lower");
  report.figure("state_after_change_build_p99_ms", percentile(builds, 99), "ms", "lower", { ...load(), remade, note: "master actor held per build after one task update" });
  report.compare("state_after_change_gzip_total_ms", median(gzipTotal), "state_full_gzip_total_ms", median(fullGzipTotal), "ms", "lower");
  report.figure("state_after_change_gzip_total_p99_ms", percentile(gzipTotal, 99), "ms", "lower", { ...load(), changes, goal: 300 });
  report.compare("state_after_change_total_ms", median(plainTotal), "state_full_total_ms", median(fullTotal), "ms", "lower");
  report.figure("state_after_change_total_p99_ms", percentile(plainTotal, 99), "ms", "lower", { changes });
  report.figure("event_loop_delay_max_ms", lag.max / 1e6, "ms", "lower", { note: "longest stall of the master's event loop while changes were made and /state rebuilt and sent (the client is another process)" });
  report.figure("event_loop_delay_p99_ms", lag.percentile(99) / 1e6, "ms", "lower");
  const summaries: number[] = [];
  const summaryBuilds: number[] = [];
  for (let i = 0; i < runs; i++) {
    await arrange((core) => core.changed());
    summaries.push((await get(`${after.url}/state-summary`, false)).totalMs);
    summaryBuilds.push(after.h.lastSummaryBuildMs());
  }
  report.figure("state_summary_total_ms", median(summaries), "ms", "lower", { ...extra, note: "GET /state-summary after a change (rebuilt each time), median" });
  report.figure("state_summary_build_ms", median(summaryBuilds), "ms", "lower", { note: "how long each of those builds held the master actor (JSON text included)" });
  report.figure("metrics_snapshot_ms", (await timeGet(`${after.url}/metrics/snapshot`, runs)).totalMs, "ms", "lower", extra);
  client.close();
  for (const s of servers) await s.close();
  allocator.stop();
  await system.stop();
}
