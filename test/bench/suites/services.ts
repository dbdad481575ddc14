/**
 * `npm run bench -- services [-- --agents=100 --instances=1000 --apps=1000 --per-app=10 --gets=40]`:
 * the services framework (in this process, on the real SchedulerDriver and the masters'
 * replicated log over gRPC) against one real master process and `--agents` simulated agents
 * in their own process (sim-agents-process.ts; tasks RUNNING at once, healthy if they have
 * a health check).
 *
 * Figures:
 * - POST of one app with `--instances` instances (MESOS_HTTP health check) → all running and
 *   healthy with the deployment done (Marathon 0.15 on 189 nodes: 14 s for 500, 6 s for 50);
 * - scale that app to 0 (all killed, deployment done), then back to `--instances`;
 * - `--apps` apps of `--per-app` instances each: GET /v2/apps?embed=apps.tasks p50/p99
 *   over `--gets` requests (answered from the view cache), beside GET /v2/apps (no embeds)
 *   and the views built and serialized afresh (no cache) as same-run baselines;
 * - heap per instance (from the one big app) and per app with its `--per-app` instances
 *   (from the many small ones), after a forced GC.
 */
import { spawn } from "node:child_process";
import { get as httpGet } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ServicesServer } from "../../../src/frameworks/services/services-server.js";
import { createLogger } from "../../../src/runtime/log.js";
import { MasterProcesses } from "../../support/master-processes.js";
import { waitFor } from "../../support/wait.js";
import { median, percentile, type Reporter } from "../report.js";

const SIM_AGENTS = fileURLToPath(new URL("../sim-agents-process.js", import.meta.url));

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const get = (name: string, dflt: string): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
  const agents = get("agents", "100");
  const instances = get("instances", "1000");
  const apps = get("apps", "1000");
  const perApp = get("per-app", "10");
  const gets = get("gets", "100");
  const dir = await mkdtemp(join(tmpdir(), "bench-services-"));
  const masters = await MasterProcesses.start(1, dir);
  const sim = spawn(process.execPath, [SIM_AGENTS, `--masters=${masters.list}`, `--agents=${agents}`, "--resources=cpus:64;mem:65536;ports:[20000-32000]"], { stdio: ["ignore", "pipe", "inherit"] });
  let simOut = "";
  sim.stdout.on("data", (d) => (simOut += String(d)));
  const services = await ServicesServer.start({ masters: masters.addresses, httpPort: 0, logger: createLogger({ level: "warn" }), leaseTtlMs: 10_000 });
  const url = `http://${services.address}`;
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${url}${path}`, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const converged = (id: string, n: number) => async () => {
    const a = (await api("GET", `/v2/apps${id}`)).app;
    return a.tasksRunning === n && (n === 0 || a.tasksHealthy === n) && a.deployments.length === 0 && a.tasksStaged === 0 ? true : undefined;
  };
  try {
    await waitFor(() => simOut.includes(`registered ${agents}`), `${agents} simulated agents to register`, 120_000);
    await waitFor(() => services.leading, "the services instance to lead", 60_000);
    process.stderr.write(`services bench: ${agents} agents, load ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}\n`);
    const heap0 = heapMb();

    // One big app.
    const big = { id: "/bench/big", cmd: "serve $PORT0", cpus: 0.01, mem: 1, instances, healthChecks: [{ protocol: "MESOS_HTTP", path: "/health" }] };
    let t = performance.now();
    await api("POST", "/v2/apps", big);
    await waitFor(converged("/bench/big", instances), `${instances} instances running and healthy`, 300_000, 10);
    report.figure("deploy_running_healthy_ms", performance.now() - t, "ms", "lower", { instances, agents, goal_ms: 5000, marathon_0_15_500_instances_ms: 14_000 });
    const heapBig = heapMb();
    report.figure("heap_per_instance_kb", ((heapBig - heap0) * 1024) / instances, "KiB", "lower", { instances });

    t = performance.now();
    await api("PUT", "/v2/apps/bench/big", { instances: 0 });
    await waitFor(converged("/bench/big", 0), "scale to 0", 300_000, 10);
    report.figure("scale_to_0_ms", performance.now() - t, "ms", "lower", { from: instances });
    t = performance.now();
    await api("PUT", "/v2/apps/bench/big", { instances });
    await waitFor(converged("/bench/big", instances), `scale back to ${instances}`, 300_000, 10);
    report.figure("scale_0_to_n_ms", performance.now() - t, "ms", "lower", { to: instances });
    await api("DELETE", "/v2/apps/bench/big");
    await waitFor(async () => ((await api("GET", "/v2/apps")).apps.length === 0 ? true : undefined), "the big app removed", 300_000);

    // Many small apps.
    const heap1 = heapMb();
    t = performance.now();
    const ids = Array.from({ length: apps }, (_, i) => `/bench/many/app-${i}`);
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(ids.slice(i, i + 20).map((id) => api("POST", "/v2/apps", { id, cmd: "serve $PORT0", cpus: 0.01, mem: 1, instances: perApp })));
    }
    await waitFor(
      async () => {
        const all = (await api("GET", "/v2/apps")).apps as { tasksRunning: number }[];
        return all.length === apps && all.every((a) => a.tasksRunning === perApp) ? true : undefined;
      },
      `${apps} apps × ${perApp} running`,
      600_000,
      200,
    );
    report.figure("many_apps_running_ms", performance.now() - t, "ms", "lower", { apps, per_app: perApp });
    const heapMany = heapMb();
    // Per app with its instances (subtracting the per-instance figure measured above is noise-dominated).
    report.figure("heap_per_app_with_instances_kb", ((heapMany - heap1) * 1024) / apps, "KiB", "lower", { apps, per_app: perApp });

    const time = async (path: string): Promise<{ p50: number; p99: number; bytes: number }> => {
      const ms: number[] = [];
      let bytes = 0;
      for (let i = 0; i < gets; i++) {
        const s = performance.now();
        const r = await fetch(`${url}${path}`);
        bytes = (await r.arrayBuffer()).byteLength;
        ms.push(performance.now() - s);
      }
      return { p50: median(ms), p99: percentile(ms, 99), bytes };
    };
    const plain = await time("/v2/apps");
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const embed = await time("/v2/apps?embed=apps.tasks");
    loop.disable();
    // A client in its own process (as marathon-lb or a browser would be): the bench process
    // then only serves, instead of also reading 4.6 MB per request.
    const external = await new Promise<number[]>((resolve, reject) => {
      const script = `const ms=[];(async()=>{for(let i=0;i<${gets};i++){const s=performance.now();const r=await fetch(process.argv[1]);await r.arrayBuffer();ms.push(performance.now()-s)}process.stdout.write(JSON.stringify(ms))})().catch(e=>{console.error(e);process.exit(1)})`;
      const child = spawn(process.execPath, ["-e", script, `${url}/v2/apps?embed=apps.tasks`], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d) => (out += String(d)));
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`the client process exited with ${code}`))));
    });
    // The server's latency apart from moving 4.6 MB: time to the response's first byte.
    const firstByte: number[] = [];
    for (let i = 0; i < gets; i++) {
      const s = performance.now();
      await new Promise<void>((resolve, reject) => {
        httpGet(`${url}/v2/apps?embed=apps.tasks`, (res) => {
          firstByte.push(performance.now() - s);
          res.resume();
          res.on("end", resolve);
        }).on("error", reject);
      });
    }
    // The same-run baseline without the view cache: every app's view built and serialized afresh.
    const scheduler = services.scheduler!;
    const fresh: number[] = [];
    let freshBytes = 0;
    for (let i = 0; i < Math.min(gets, 40); i++) {
      const s = performance.now();
      freshBytes = JSON.stringify({ apps: [...scheduler.state.apps.values()].map((a) => scheduler.appView(a, { tasks: true, counts: true })) }).length;
      fresh.push(performance.now() - s);
      await new Promise((r) => setImmediate(r));
    }
    report.figure("get_apps_p50_ms", plain.p50, "ms", "lower", { apps, bytes: plain.bytes });
    report.figure("get_apps_embed_tasks_p50_ms", embed.p50, "ms", "lower", { apps, instances: apps * perApp, bytes: embed.bytes, goal_ms: 100 });
    report.figure("get_apps_embed_tasks_p99_ms", embed.p99, "ms", "lower", { apps, instances: apps * perApp });
    report.figure("get_apps_embed_tasks_p50_vs_get_apps_p50", embed.p50 / plain.p50, "ratio", "lower");
    report.figure("get_apps_embed_tasks_other_process_p50_ms", median(external), "ms", "lower", { apps, instances: apps * perApp, goal_ms: 100 });
    report.figure("get_apps_embed_tasks_other_process_p99_ms", percentile(external, 99), "ms", "lower", { apps, instances: apps * perApp, goal_ms: 100 });
    report.figure("get_apps_embed_tasks_first_byte_p50_ms", median(firstByte), "ms", "lower", { apps, instances: apps * perApp });
    report.figure("get_apps_embed_tasks_first_byte_p99_ms", percentile(firstByte, 99), "ms", "lower", { apps, instances: apps * perApp });
    report.figure("event_loop_delay_p99_during_gets_ms", loop.percentile(99) / 1e6, "ms", "lower", { note: "how long the bench process waited for the CPU while the GETs ran" });
    report.figure("apps_embed_tasks_uncached_serialize_p50_ms", median(fresh), "ms", "lower", { apps, instances: apps * perApp, bytes: freshBytes });
    report.figure("get_apps_embed_tasks_p50_vs_uncached_serialize_p50", embed.p50 / median(fresh), "ratio", "lower");
  } finally {
    await services.stop();
    sim.kill("SIGTERM");
    await masters.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
