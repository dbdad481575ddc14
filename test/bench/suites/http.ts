/**
 * Bench 'http': /state and /metrics/snapshot over HTTP on a master holding 10,000 agents
 * and 100,000 tasks (records put straight into the master's state). Before (the state
 * serialized for every request) and after (bytes kept per state version, gzip made once,
 * task JSON kept between builds) in the same run. Server time to first byte and to the
 * last byte are measured with node:http (no decoding); the client's gunzip + JSON.parse
 * separately. A rebuild after one task changed shows how long a build holds the master.
 * Args: --agents=N --tasks=N --runs=N.
 */
import { request } from "node:http";
import { gunzipSync } from "node:zlib";
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
import { median, type Reporter } from "../report.js";

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
    const req = request(url, { headers: gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
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
  const extra = { agents, tasks, frameworks };
  const old = await timeGet(`${before.url}/state`, runs);
  report.figure("state_before_build_ms", before.h.lastStateBuildMs(), "ms", "lower", { ...extra, note: "master actor held per request, no cache" });
  await timeGet(`${after.url}/state`, 1); // builds the bytes once
  const plain = await timeGet(`${after.url}/state`, runs * 2);
  const gz = await timeGet(`${after.url}/state`, runs * 2, true);
  report.compare("state_cached_ttfb_ms", plain.ttfbMs, "state_before_ttfb_ms", old.ttfbMs, "ms", "lower");
  report.compare("state_cached_total_ms", plain.totalMs, "state_before_total_ms", old.totalMs, "ms", "lower");
  report.compare("state_cached_gzip_total_ms", gz.totalMs, "state_before_total_ms", old.totalMs, "ms", "lower");
  report.figure("state_cached_gzip_ttfb_ms", gz.ttfbMs, "ms", "lower");
  report.compare("state_gzip_bytes", gz.bytes, "state_bytes", plain.bytes, "bytes", "lower");
  report.figure("client_parse_ms", plain.parseMs, "ms", "lower", { note: "JSON.parse of the identity body" });
  report.figure("client_gunzip_parse_ms", gz.parseMs, "ms", "lower");
  // One task changes: the next request rebuilds, reusing the other tasks' JSON.
  const rebuilt: number[] = [];
  const rebuiltTotal: number[] = [];
  for (let i = 0; i < runs; i++) {
    await arrange((core) => {
      const task = core.frameworks.get("fw-0")!.tasks.get("task-0")!;
      task.state = task.state === TaskState.RUNNING ? TaskState.KILLING : TaskState.RUNNING;
      core.changed();
    });
    rebuiltTotal.push((await get(`${after.url}/state`, true)).totalMs);
    rebuilt.push(after.h.lastStateBuildMs());
  }
  report.compare("state_incremental_build_ms", median(rebuilt), "state_full_build_ms", before.h.lastStateBuildMs(), "ms", "lower");
  report.figure("state_after_change_gzip_total_ms", median(rebuiltTotal), "ms", "lower");
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
  for (const s of servers) await s.close();
  allocator.stop();
  await system.stop();
}
