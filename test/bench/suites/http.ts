/**
 * Bench 'http': /state and /metrics/snapshot over HTTP on a master holding 10,000 agents
 * and 100,000 tasks (records put straight into the master's state). The whole build for
 * every request (the baseline) and /state from kept fragments (state-fragments.ts) in the
 * same run: the first build, the cached body, and the common case on a busy cluster — a
 * request after a change (one task update) — as p50/p99 with and without gzip, with how
 * long each build held the master actor and the event loop's longest stall meanwhile.
 * Times are to the last byte with node:http (no decoding); the client's gunzip +
 * JSON.parse separately. Then per endpoint (endpointSeries below). Args: --agents=N --tasks=N --runs=N --changes=N.
 */
import { fork, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { loadavg } from "node:os";
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
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
import { stateResponse } from "../../../src/actors/master/state-response.js";
import { taskGroups } from "../../../src/actors/master/state-view.js";
import { masterStateJson, taskJson } from "../../../src/operator/master-state-json.js";
import { StateFragments, type StateBody } from "../../../src/operator/state-fragments.js";
import { filterState, visibleIn } from "../../../src/actors/master/state-filter.js";
import { SummaryFragments, type SummaryBody } from "../../../src/operator/summary-fragments.js";
import { masterSummaryJson } from "../../../src/operator/master-summary-json.js";
import type { ViewPermissions } from "../../../src/security/auth/view-acls.js";
import { taskPage } from "../../../src/operator/task-page.js";

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

export async function run(report: Reporter, given: Record<string, string> | string[]): Promise<void> {
  const args = Array.isArray(given) ? Object.fromEntries(given.map((a) => a.replace(/^--/, "").split("=") as [string, string])) : given;
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
      core.frameworks.set(id, new FrameworkRecord(id, create(FrameworkInfoSchema, { id: ids.framework(id), name: `framework ${f}`, user: `user-${f % 2}`, roles: ["*"] }), FrameworkState.CONNECTED));
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
  // The allocator knows the agents too (its resource gauges sum over them in /metrics/snapshot).
  for (let a = 0; a < agents; a++) allocator.addAgent(`bench-S${a}`, { hostname: `host-${a}`, total: agentResources, active: true }, new Map());
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
  await endpointSeries(report, { client, after, before, arrange, runs, changes: Number(args.changes ?? 40), frameworks, tasks, extra, load });
  const snapshotGets = await timesOf(client, `${after.url}/metrics/snapshot`, runs * 4, false);
  const snapshotCalls: number[] = [];
  for (let i = 0; i < runs * 4; i++) {
    // One snapshot per turn, as requests make them (the allocator's sums are kept for one turn).
    await new Promise((resolve) => setImmediate(resolve));
    const t0 = performance.now();
    system.metrics.snapshot();
    snapshotCalls.push(performance.now() - t0);
  }
  report.figure("metrics_snapshot_ms", median(snapshotGets), "ms", "lower", { ...extra, ...load(), p99: Math.round(percentile(snapshotGets, 99) * 10) / 10, note: "GET /metrics/snapshot, median (the allocator holds the agents)" });
  report.figure("metrics_snapshot_call_ms", median(snapshotCalls), "ms", "lower", { note: "Metrics.snapshot() in the master's process, median: the gauges and the samples' percentiles" });
  client.close();
  for (const s of servers) await s.close();
  allocator.stop();
  await system.stop();
}

async function timesOf(client: RemoteClient, url: string, n: number, gzip: boolean): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await client.get(url, gzip)).totalMs);
  return out;
}

/** Major GCs (their count and longest pause) while something runs. */
function watchGc(): { stop: () => { majors: number; maxMs: number; totalMs: number } } {
  let majors = 0;
  let maxMs = 0;
  let totalMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      totalMs += e.duration;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        majors++;
        maxMs = Math.max(maxMs, e.duration);
      }
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    stop: () => {
      obs.disconnect();
      return { majors, maxMs: Math.round(maxMs), totalMs: Math.round(totalMs) };
    },
  };
}

interface SeriesContext {
  client: RemoteClient;
  after: { url: string; h: RunningMasterHttp };
  before: { url: string; h: RunningMasterHttp };
  arrange: (fn: (core: Master["core"]) => void) => Promise<void>;
  runs: number;
  changes: number;
  frameworks: number;
  tasks: number;
  extra: Record<string, number>;
  load: () => { load: number };
}

/**
 * Per endpoint (/state, /state-summary, /frameworks, /tasks): the whole build for every
 * request (the server without the cache: the baseline), the unchanged body, and GETs after
 * a change — one task's status (RUNNING <-> KILLING: the task's text) and, for /state, a
 * task ending and starting again (RUNNING <-> FINISHED: its agent's and framework's used
 * resources too) — p50/p99 with and without gzip, with the master's event-loop delay and
 * major GCs during each series, and ratios to the whole build in the same run.
 */
async function endpointSeries(report: Reporter, x: SeriesContext): Promise<void> {
  const { client, after, before, arrange, runs, changes, frameworks, tasks } = x;
  const kinds: Record<string, (i: number) => Promise<void>> = {
    status: (i) =>
      arrange((core) => {
        const t = (i * 7919) % tasks;
        const task = core.frameworks.get(`fw-${t % frameworks}`)!.tasks.get(`task-${t}`)!;
        core.setTaskState(task, task.state === TaskState.RUNNING ? TaskState.KILLING : TaskState.RUNNING);
      }),
    ends: (i) =>
      arrange((core) => {
        const t = (i * 7919) % tasks;
        const task = core.frameworks.get(`fw-${t % frameworks}`)!.tasks.get(`task-${t}`)!;
        core.setTaskState(task, task.state === TaskState.FINISHED ? TaskState.RUNNING : TaskState.FINISHED);
      }),
  };
  const endpoints: Array<{ path: string; name: string; kinds: string[] }> = [
    { path: "/state", name: "state", kinds: ["status", "ends"] },
    { path: "/state-summary", name: "summary", kinds: ["ends"] },
    { path: "/frameworks", name: "frameworks", kinds: ["status"] },
    { path: "/tasks", name: "tasks", kinds: ["status"] },
  ];
  for (const e of endpoints) {
    // The whole build for every request (the server without the cache), identity and gzip.
    const full = await timesOf(client, `${before.url}${e.path}`, runs, false);
    const fullGzip = await timesOf(client, `${before.url}${e.path}`, runs, true);
    const fullP50 = median(full);
    const fullGzipP50 = median(fullGzip);
    report.figure(`${e.name}_full_total_ms`, fullP50, "ms", "lower", { ...x.extra, ...x.load(), note: `GET ${e.path} built whole for each request (no cache), identity, median` });
    report.figure(`${e.name}_full_gzip_total_ms`, fullGzipP50, "ms", "lower", { note: `GET ${e.path} built whole and gzipped for each request, median` });
    await client.get(`${after.url}${e.path}`, true);
    const unchanged = await timesOf(client, `${after.url}${e.path}`, runs * 2, true);
    report.figure(`${e.name}_unchanged_gzip_total_ms`, median(unchanged), "ms", "lower", { note: `GET ${e.path} with gzip, nothing changed (kept bytes), median` });
    for (const kind of e.kinds) {
      const gzip: number[] = [];
      const plain: number[] = [];
      const held: number[] = [];
      const lag = monitorEventLoopDelay({ resolution: 5 });
      const gc = watchGc();
      const heldMs = () => (e.name === "state" ? after.h.lastStateBuildMs() : e.name === "summary" ? after.h.lastSummaryBuildMs() : e.name === "frameworks" ? after.h.lastFrameworksBuildMs() : 0);
      lag.enable();
      for (let i = 0; i < changes; i++) {
        await kinds[kind]!(i);
        gzip.push((await client.get(`${after.url}${e.path}`, true)).totalMs);
        held.push(heldMs());
        await kinds[kind]!(i);
        plain.push((await client.get(`${after.url}${e.path}`, false)).totalMs);
        held.push(heldMs());
      }
      lag.disable();
      const gcs = gc.stop();
      const tag = `${e.name}_after_${kind}`;
      report.compare(`${tag}_gzip_total_ms`, median(gzip), `${e.name}_full_gzip_total_ms`, fullGzipP50, "ms", "lower");
      report.figure(`${tag}_gzip_total_p99_ms`, percentile(gzip, 99), "ms", "lower", { ...x.load(), changes, ...(e.name === "state" ? { goal: 300 } : {}) });
      report.compare(`${tag}_total_ms`, median(plain), `${e.name}_full_total_ms`, fullP50, "ms", "lower");
      report.figure(`${tag}_total_p99_ms`, percentile(plain, 99), "ms", "lower", { changes });
      if (e.name !== "tasks") report.figure(`${tag}_actor_held_ms`, median(held), "ms", "lower", { p99: Math.round(percentile(held, 99) * 10) / 10, note: "how long each build held the master actor, median" });
      report.figure(`${tag}_event_loop_delay_max_ms`, lag.max / 1e6, "ms", "lower", { p99: Math.round(lag.percentile(99) / 1e5) / 10, majorGcs: gcs.majors, majorGcMaxMs: gcs.maxMs, gcTotalMs: gcs.totalMs, note: "the master's event loop while changes were made and the view rebuilt and sent" });
    }
  }
  // /tasks in the master actor: the page picked in one pass (task-page.ts) against what the
  // route did before: /state's GetStateResponse made, every task sorted, the page sliced.
  const sortAll: number[] = [];
  const page: number[] = [];
  for (let i = 0; i < runs * 2; i++) {
    let t0 = performance.now();
    await arrange((core) => {
      const t = stateResponse(core, 0).getTasks!;
      const all = [...t.tasks, ...t.unreachableTasks, ...t.completedTasks];
      const at = (x: (typeof all)[number]) => x.statuses[0]?.timestamp ?? 0;
      all.sort((a, b) => at(b) - at(a));
      all.slice(0, 100).map(taskJson);
    });
    sortAll.push(performance.now() - t0);
    t0 = performance.now();
    await arrange((core) => {
      const g = taskGroups(core);
      taskPage([g.tasks, g.unreachable, g.completed], "desc", 0, 100).map(taskJson);
    });
    page.push(performance.now() - t0);
  }
  report.compare("tasks_page_actor_ms", median(page), "tasks_sort_all_actor_ms", median(sortAll), "ms", "lower");
  // A caller whose ACLs show half the frameworks: /state assembled from the build's layout
  // (outside the master actor) against the whole filtered build in the actor (before).
  const view: ViewPermissions = { all: false, framework: (user) => user === "user-0", task: () => true, executor: () => true };
  const kept = new StateFragments({ cluster: "bench", flags: {} });
  let body: StateBody | undefined;
  await arrange((core) => void (body = kept.build(core, 0)));
  await body!.gzipped();
  const fromLayout: number[] = [];
  const wholeFiltered: number[] = [];
  for (let i = 0; i < runs * 2; i++) {
    let t0 = performance.now();
    const filtered = kept.filtered(body!, view);
    await filtered.gzipped();
    fromLayout.push(performance.now() - t0);
    t0 = performance.now();
    await arrange((core) => {
      const state = filterState(stateResponse(core, 0), view);
      gzipSync(JSON.stringify(masterStateJson(state, { cluster: "bench", flags: {}, leader: state.masterInfo, electedTime: 0 })), { level: GZIP_LEVEL });
    });
    wholeFiltered.push(performance.now() - t0);
  }
  report.compare("state_filtered_gzip_ms", median(fromLayout), "state_filtered_whole_gzip_ms", median(wholeFiltered), "ms", "lower");
  // The same caller's /state-summary: cut from the shared summary build against the whole filtered summary build.
  const keptSummary = new SummaryFragments({ cluster: "bench", flags: {} });
  let summaryBody: SummaryBody | undefined;
  await arrange((core) => void (summaryBody = keptSummary.build(core, 0)));
  await summaryBody!.gzipped();
  const summaryFromLayout: number[] = [];
  const summaryWhole: number[] = [];
  for (let i = 0; i < runs * 2; i++) {
    let t0 = performance.now();
    await keptSummary.filtered(summaryBody!, view).gzipped();
    summaryFromLayout.push(performance.now() - t0);
    t0 = performance.now();
    await arrange((core) => {
      const visible = visibleIn(stateResponse(core, 0), view);
      gzipSync(JSON.stringify(masterSummaryJson(core, 0, { cluster: "bench", flags: {}, leader: core.masterInfo(), electedTime: 0 }, (id) => visible.framework(id))), { level: GZIP_LEVEL });
    });
    summaryWhole.push(performance.now() - t0);
  }
  report.compare("summary_filtered_gzip_ms", median(summaryFromLayout), "summary_filtered_whole_gzip_ms", median(summaryWhole), "ms", "lower");
  const remade = after.h.lastStateFragments();
  if (remade) report.figure("state_last_build_remade_tasks", remade.tasks, "count", "lower", { remade });
  const summaryRemade = after.h.lastSummaryFragments();
  if (summaryRemade) report.figure("summary_last_build_remade_agents", summaryRemade.agents, "count", "lower", { remade: summaryRemade });
}
