/**
 * Bench 'discovery': the load balancer (Debian's haproxy) and the DNS server.
 * (1) render, `haproxy -c` and seamless reload of a configuration of --apps apps (default
 *     1,000) with --backends-per-app servers each (default 10): medians of --runs (3);
 * (2) requests failed through haproxy during 10 reloads of that configuration under a
 *     request loop (goal 0), and the reload time under load;
 * (3) from the real services framework's status_update_event TASK_RUNNING of a new instance
 *     (real master and agent processes) to it being a backend and to the first request it
 *     answers through haproxy (reload interval 100 ms), p50/p99;
 * (4) from TASK_RUNNING (as the framework hears it from a real master and agent process) to
 *     its name resolving in our DNS, p50/p99;
 * (5) DNS queries/s answered by our server and by Debian's dnsmasq serving the same
 *     --records static A records (default 10,000), both measured by dnsperf in this run.
 * Args: --parts=scale,runtime,traffic,dns,dnsperf (default all) --apps=N --backends-per-app=N --runs=N --trials=N (default 20) --records=N --seconds=N (dnsperf, default 5).
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createSocket } from "node:dgram";
import * as dnsPacket from "dns-packet";
import { Haproxy } from "../../../src/discovery/lb/haproxy.js";
import { LoadBalancer } from "../../../src/discovery/lb/load-balancer.js";
import type { MarathonApp } from "../../../src/discovery/lb/marathon-apps.js";
import { render, type RenderOptions } from "../../../src/discovery/lb/render.js";
import { SseParser } from "../../../src/discovery/lb/services-api.js";
import { ServicesServer } from "../../../src/frameworks/services/services-server.js";
import { startDnsService } from "../../../src/discovery/dns/dns-service.js";
import { DnsRecords } from "../../../src/discovery/dns/records.js";
import { DnsServer } from "../../../src/discovery/dns/server.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { agent, framework, subscribed, task } from "../../discovery/events.js";
import { get, instanceProgram, requestLoop, startInstance, type Instance } from "../../support/instance-servers.js";
import { freePort, freePortRange } from "../../support/master-processes.js";
import { NodeProcess, killProcessesUnder } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";
import { TestFramework } from "../../system/framework.js";
import { median, percentile, type Reporter } from "../report.js";

const exec = promisify(execFile);

function flag(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
}

function log(text: string): void {
  process.stderr.write(`[discovery] ${text}\n`);
}

function bigApps(count: number, perApp: number, basePort: number, generation: number): MarathonApp[] {
  return Array.from({ length: count }, (_, a) => ({
    id: `/bench/app-${a}`,
    labels: { HAPROXY_GROUP: "external" },
    portDefinitions: [{ port: basePort + a }],
    tasks: Array.from({ length: perApp }, (_, t) => ({
      id: `bench_app-${a}.${t}`,
      host: `10.${(a >> 8) & 255}.${a & 255}.${(t + generation) % 250 + 1}`,
      ports: [31000 + t],
      state: "TASK_RUNNING",
    })),
  }));
}

function webApp(id: string, servicePort: number, instances: Instance[]): MarathonApp {
  return {
    id,
    labels: { HAPROXY_GROUP: "external" },
    portDefinitions: [{ port: servicePort }],
    tasks: instances.map((i) => ({ id: `${id.slice(1)}.${i.id}`, host: "127.0.0.1", ports: [i.port], state: "TASK_RUNNING" })),
  };
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

/** (1) and (2). */
async function haproxyAtScale(report: Reporter, dir: string, apps: number, perApp: number, runs: number): Promise<void> {
  const base = await freePortRange(apps + 1);
  const h = new Haproxy({ dir, logger: silentLogger(), reloadTimeoutMs: 60_000 });
  await h.version();
  const options: RenderOptions = { group: "external", httpPort: 0, bindAddr: "127.0.0.1", adminSocket: h.adminSocket, statsBind: `unix@${h.statsSocket}`, maxconn: 2000 };
  const instances = await Promise.all([1, 2, 3].map((i) => startInstance(`web-${i}`)));
  const all = (generation: number): MarathonApp[] => [...bigApps(apps, perApp, base, generation), webApp("/bench/web", base + apps, instances)];
  try {
    const first = render(all(0), options);
    const check = await h.validate(first.config);
    if (!check.ok) throw new Error(`haproxy rejects the bench configuration: ${check.error}`);
    await h.start(first.config);
    const renderMs: number[] = [];
    const validateMs: number[] = [];
    const reloadMs: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const [rendered, rm] = await timed(() => render(all(r), options));
      const [, vm] = await timed(() => h.validate(rendered.config));
      const [, lm] = await timed(() => h.reload(rendered.config));
      renderMs.push(rm);
      validateMs.push(vm);
      reloadMs.push(lm);
      log(`${apps} apps / ${apps * perApp} backends: render ${rm.toFixed(1)} ms, haproxy -c ${vm.toFixed(0)} ms, reload ${lm.toFixed(0)} ms`);
    }
    const size = { apps, backends: apps * perApp, runs, config_bytes: first.config.length };
    report.figure("lb_render_ms", median(renderMs), "ms", "lower", size);
    report.figure("lb_validate_ms", median(validateMs), "ms", "lower", size);
    report.figure("lb_reload_ms", median(reloadMs), "ms", "lower", size);
    report.figure("lb_render_validate_reload_ms", median(renderMs) + median(validateMs) + median(reloadMs), "ms", "lower", size);

    // (2) 10 reloads of the big configuration under a request loop to a real app.
    let done = false;
    const loop = requestLoop(base + apps, () => done, 200_000, 8);
    const underLoad: number[] = [];
    for (let r = 0; r < 10; r++) {
      const rendered = render(all(runs + 1 + r), options);
      const [, ms] = await timed(() => h.reload(rendered.config));
      underLoad.push(ms);
    }
    done = true;
    const result = await loop;
    log(`10 reloads under load: ${result.ok} answered, ${result.failed} failed ${result.errors.slice(0, 3).join("; ")}`);
    report.figure("lb_failed_requests_during_reloads", result.failed, "requests", "lower", { reloads: 10, requests: result.ok + result.failed, concurrency: 8, ...size });
    report.figure("lb_reload_under_load_ms", median(underLoad), "ms", "lower", size);
  } finally {
    await h.stop();
    await Promise.all(instances.map((i) => i.close()));
  }
}

/** (1b) At the same scale, a change of servers only: through haproxy's runtime API, no reload. */
async function runtimeAtScale(report: Reporter, dir: string, apps: number, perApp: number, runs: number): Promise<void> {
  const base = await freePortRange(apps);
  const lb = new LoadBalancer({ urls: ["http://127.0.0.1:1"], group: "external", httpPort: 0, bindAddr: "127.0.0.1", dir, maxconn: 2000, logger: silentLogger() });
  try {
    await lb.start();
    const all = bigApps(apps, perApp, base, 0);
    await lb.apply(all);
    const times: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const changed = all.map((a, i) => (i === r ? { ...a, tasks: [...(a.tasks ?? []), { id: `extra-${r}`, host: "10.255.0.1", ports: [32000 + r], state: "TASK_RUNNING" }] } : a));
      const reloads = lb.haproxy.reloads;
      const [, ms] = await timed(() => lb.apply(changed));
      if (lb.haproxy.reloads !== reloads) throw new Error("a server-only change reloaded haproxy");
      times.push(ms);
      log(`${apps} apps: one server added through the runtime API in ${ms.toFixed(0)} ms (resolve + render + commands, no haproxy -c: nothing is loaded)`);
    }
    report.figure("lb_runtime_server_change_ms", median(times), "ms", "lower", { apps, backends: apps * perApp, runs, note: "render + runtime API commands; no haproxy -c and no reload" });
  } finally {
    await lb.stop();
  }
}

/** A real master process and an agent process registered with it, ports of tasks from a free range. */
async function masterAndAgent(dir: string): Promise<{ master: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const taskPorts = await freePortRange(200);
  const master = new NodeProcess("master", ["--role=master", `--port=${port}`, "--http-port=0", "--allocation-interval=50ms", `--work-dir=${join(dir, "master")}`]);
  const agentProcess = new NodeProcess("agent", ["--role=agent", "--port=0", "--http-port=0", `--master=127.0.0.1:${port}`, `--work-dir=${join(dir, "agent")}`, `--resources=cpus:8;mem:8192;disk:1024;ports:[${taskPorts}-${taskPorts + 199}]`]);
  const stop = async (): Promise<void> => {
    await agentProcess.stop();
    await master.stop();
    await killProcessesUnder(dir);
  };
  try {
    await agentProcess.waitForLine(/(Registered with master)/, "the agent to register", 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { master: `127.0.0.1:${port}`, stop };
}

/** Follows a services API's /v2/events: every status_update_event's task and state, with the time it arrived. */
function followStatus(url: string, onStatus: (taskId: string, state: string, at: number) => void): () => void {
  const abort = new AbortController();
  void (async () => {
    const res = await fetch(`${url}/v2/events?event_type=status_update_event`, { headers: { accept: "text/event-stream" }, signal: abort.signal });
    const parser = new SseParser((e) => {
      const at = performance.now();
      const d = JSON.parse(e.data) as { taskId: string; taskStatus: string };
      onStatus(d.taskId, d.taskStatus, at);
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.push(decoder.decode(chunk, { stream: true }));
  })().catch(() => undefined);
  return () => abort.abort();
}

/**
 * (3) The real services framework (in this process, with a real master and agent process)
 * starts a new instance; from its status_update_event TASK_RUNNING (as a client of
 * /v2/events hears it) to the instance being a backend of haproxy, and to the first request
 * through haproxy that it answers. The app has no health checks (a running instance is ready).
 */
async function runningToTraffic(report: Reporter, dir: string, trials: number): Promise<void> {
  const cluster = await masterAndAgent(dir);
  const services = await ServicesServer.start({ masters: [cluster.master], httpPort: 0, logger: silentLogger(), leaseTtlMs: 10_000, servicePortRange: await freePortRange(10).then((min) => ({ min, max: min + 10 })) });
  const url = `http://${services.address}`;
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${url}${path}`, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const running = new Map<string, number>();
  let stopFollowing = (): void => {};
  const lb = new LoadBalancer({ urls: [url], group: "external", httpPort: 0, bindAddr: "127.0.0.1", dir, reloadIntervalMs: 100, logger: silentLogger() });
  const toBackend: number[] = [];
  const toTraffic: number[] = [];
  try {
    await writeFile(join(dir, "instance.py"), instanceProgram());
    await waitFor(() => services.leading, "the services instance to lead", 60_000);
    stopFollowing = followStatus(url, (id, state, at) => {
      if (state === "TASK_RUNNING" && !running.has(id)) running.set(id, at);
    });
    await waitFor(() => services.events.size > 0, "the bench to follow /v2/events");
    await lb.start();
    await api("POST", "/v2/apps", { id: "/latency", cmd: `exec python3 -S ${join(dir, "instance.py")}`, cpus: 0.1, mem: 32, instances: 1, labels: { HAPROXY_GROUP: "external" } });
    const servicePort = (await api("GET", "/v2/apps/latency")).app.portDefinitions[0].port as number;
    const backends = (): string[] => lb.status().ports.find((p) => p.appId === "/latency")?.servers ?? [];
    const tasks = async (): Promise<{ id: string; ports: number[]; state: string }[]> => (await api("GET", "/v2/apps/latency/tasks")).tasks;
    await waitFor(async () => backends().length === 1 && (await get(servicePort).catch(() => "")) !== "", "the first instance to answer through haproxy", 60_000);
    const [base] = await tasks();
    for (let i = 0; i < trials; i++) {
      const known = new Set((await tasks()).map((t) => t.id));
      await api("PUT", "/v2/apps/latency", { instances: 2 });
      const fresh = await waitFor(async () => (await tasks()).find((t) => !known.has(t.id) && running.has(t.id)), `instance ${i} to run`, 60_000, 5);
      const t0 = running.get(fresh.id)!;
      await waitFor(() => backends().includes(`127.0.0.1:${fresh.ports[0]}`) || undefined, `instance ${i} to be a backend`, 20_000, 1);
      toBackend.push(performance.now() - t0);
      await waitFor(async () => (await get(servicePort).catch(() => "")) === fresh.id, `instance ${i} to answer through haproxy`, 20_000, 1);
      toTraffic.push(performance.now() - t0);
      await api("PUT", "/v2/apps/latency", { instances: 1 });
      await waitFor(async () => backends().length === 1 && (await tasks()).length === 1, `the app to be back to 1 instance after trial ${i}`, 60_000, 20);
      if ((await tasks())[0]!.id !== base!.id) throw new Error("scale-down killed the old instance, not the new one");
    }
  } finally {
    stopFollowing();
    await lb.stop();
    await services.stop();
    await cluster.stop();
  }
  const note = { trials, reload_interval_ms: 100, from: "status_update_event TASK_RUNNING of the real services framework (real master + agent processes)", app: "python3 -S http.server, no health checks" };
  report.figure("lb_running_to_backend_p50_ms", percentile(toBackend, 50), "ms", "lower", { ...note, to: "the server in haproxy (runtime API)" });
  report.figure("lb_running_to_backend_p99_ms", percentile(toBackend, 99), "ms", "lower", { trials });
  report.figure("lb_running_to_traffic_p50_ms", percentile(toTraffic, 50), "ms", "lower", { ...note, to: "the first request through haproxy it answers (includes the app starting to listen)" });
  report.figure("lb_running_to_traffic_p99_ms", percentile(toTraffic, 99), "ms", "lower", { trials });
}

/** One A question over UDP; resolves with the answers' addresses. */
function queryA(port: number, name: string): Promise<string[]> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => (s.close(), resolve([])), 500);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      try {
        resolve((dnsPacket.decode(m).answers ?? []).flatMap((a) => (a.type === "A" ? [a.data as string] : [])));
      } catch {
        resolve([]);
      }
    });
    s.send(dnsPacket.encode({ type: "query", id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name }] }), port, "127.0.0.1");
  });
}

/** (4) TASK_RUNNING → the task's name resolves, with a real master and agent process. */
async function runningToDns(report: Reporter, dir: string, trials: number): Promise<void> {
  const cluster = await masterAndAgent(dir);
  const dns = await startDnsService({ masters: [cluster.master], host: "127.0.0.1", port: 0, logger: silentLogger() });
  const fw = new TestFramework(cluster.master, "bench");
  const times: number[] = [];
  try {
    await waitFor(() => dns.follower.connectedTo, "DNS to follow the master", 30_000);
    await fw.start();
    for (let i = 0; i < trials; i++) {
      await fw.launch(`dns-${i}`, hostname(), "sleep 600", 60_000);
      const t0 = performance.now();
      await waitFor(async () => (await queryA(dns.port, `dns-${i}.bench.dcos`)).length > 0, `dns-${i}.bench.dcos to resolve`, 10_000, 1);
      times.push(performance.now() - t0);
    }
  } finally {
    await fw.stop();
    await dns.stop();
    await cluster.stop();
  }
  report.figure("dns_running_to_resolving_p50_ms", percentile(times, 50), "ms", "lower", { trials, from: "TASK_RUNNING at the framework" });
  report.figure("dns_running_to_resolving_p99_ms", percentile(times, 99), "ms", "lower", { trials });
}

async function dnsperf(port: number, queries: string, seconds: number): Promise<number> {
  let out: string;
  try {
    ({ stdout: out } = await exec("dnsperf", ["-s", "127.0.0.1", "-p", String(port), "-d", queries, "-l", String(seconds), "-c", "4", "-q", "200"], { timeout: (seconds + 30) * 1000 }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("dnsperf is not installed: apt-get install -y dnsperf (or run deploy/setup-host.sh as root)");
    throw err;
  }
  const qps = /Queries per second:\s+([\d.]+)/.exec(out)?.[1];
  const lost = /Queries lost:\s+(\d+)/.exec(out)?.[1];
  log(`dnsperf on :${port}: ${qps} q/s, ${lost} lost`);
  if (!qps) throw new Error(`dnsperf said nothing about queries per second:\n${out}`);
  return Number(qps);
}

/** (5) our DNS server against dnsmasq with the same static records. */
async function dnsThroughput(report: Reporter, dir: string, records: number, seconds: number): Promise<void> {
  const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  await writeFile(join(dir, "hosts"), Array.from({ length: records }, (_, i) => `${ip(i)} task-${i}.bench.dcos`).join("\n") + "\n");
  let seed = 1;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  await writeFile(join(dir, "queries"), Array.from({ length: 10_000 }, () => `task-${Math.floor(rnd() * records)}.bench.dcos A`).join("\n") + "\n");

  // Ours: the same names as tasks of framework "bench", each on its own agent address.
  const r = new DnsRecords({ domain: "dcos" });
  r.apply(
    subscribed({
      agents: Array.from({ length: records }, (_, i) => agent(`a${i}`, ip(i))),
      frameworks: [framework("f", "bench")],
      tasks: Array.from({ length: records }, (_, i) => task({ id: `t${i}`, name: `task-${i}`, framework: "f", agent: `a${i}` })),
    }),
  );
  const ours = new DnsServer({ host: "127.0.0.1", port: 0, records: r, logger: silentLogger() });
  await ours.start();
  const uncached = new DnsServer({ host: "127.0.0.1", port: 0, records: r, logger: silentLogger(), cacheAnswers: false });
  await uncached.start();
  const dmPort = await freePort();
  const dnsmasq = spawn("dnsmasq", ["--keep-in-foreground", "--no-resolv", "--no-hosts", `--addn-hosts=${join(dir, "hosts")}`, "--listen-address=127.0.0.1", "--bind-interfaces", `--port=${dmPort}`, "--user=root", "--pid-file=", "--conf-file=/dev/null"], { stdio: "ignore" });
  const missing = new Promise<never>((_, reject) => dnsmasq.once("error", () => reject(new Error("dnsmasq is not installed: apt-get install -y dnsmasq-base"))));
  try {
    await Promise.race([missing, waitFor(async () => (await queryA(dmPort, "task-1.bench.dcos")).length > 0, "dnsmasq to answer", 10_000)]);
    for (const s of [ours, uncached]) if ((await queryA(s.port, "task-1.bench.dcos"))[0] !== ip(1)) throw new Error("our server does not answer the bench names");
    // Interleaved rounds: the machine's load moves, each round measures all three under about the same.
    const dm: number[] = [];
    const cached: number[] = [];
    const plain: number[] = [];
    for (let round = 0; round < 3; round++) {
      dm.push(await dnsperf(dmPort, join(dir, "queries"), seconds));
      cached.push(await dnsperf(ours.port, join(dir, "queries"), seconds));
      plain.push(await dnsperf(uncached.port, join(dir, "queries"), seconds));
    }
    report.compare("dns_queries_per_s", median(cached), "dnsmasq_queries_per_s", median(dm), "queries/s", "higher");
    report.compare("dns_queries_per_s_cached", median(cached), "dns_queries_per_s_uncached", median(plain), "queries/s", "higher");
    report.figure("dns_records", records, "records", "higher", { runs: 3, seconds, clients: 4, note: "medians of 3 interleaved rounds of dnsmasq, ours (answers cached), ours without the cache" });
    // The CPU cost of one answer in this process, without the network: the same 10,000 queries.
    const questions = (await readFile(join(dir, "queries"), "utf8")).trim().split("\n").map((l, i) => dnsPacket.encode({ type: "query", id: i & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: l.split(" ")[0]! }] }));
    const perSecond = async (s: DnsServer): Promise<number> => {
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < 1000) for (const q of questions) (await s.answer(q, true), n++);
      return (n / (performance.now() - t0)) * 1000;
    };
    const inCached: number[] = [];
    const inPlain: number[] = [];
    for (let round = 0; round < 3; round++) {
      inCached.push(await perSecond(ours));
      inPlain.push(await perSecond(uncached));
    }
    report.compare("dns_answers_per_s_in_process_cached", median(inCached), "dns_answers_per_s_in_process_uncached", median(inPlain), "answers/s", "higher");
  } finally {
    dnsmasq.kill("SIGTERM");
    await ours.close();
    await uncached.close();
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const apps = flag(args, "apps", 1000);
  const perApp = flag(args, "backends-per-app", 10);
  const runs = flag(args, "runs", 3);
  const trials = flag(args, "trials", 20);
  const records = flag(args, "records", 10_000);
  const seconds = flag(args, "seconds", 5);
  const all = ["scale", "runtime", "traffic", "dns", "dnsperf"];
  const given = args.find((a) => a.startsWith("--parts="))?.slice("--parts=".length).split(",");
  const unknown = given?.filter((p) => !all.includes(p)) ?? [];
  if (unknown.length > 0) throw new Error(`--parts: unknown ${unknown.join(", ")} (known: ${all.join(", ")})`);
  const parts = new Set(given ?? all);
  const dir = await mkdtemp(join(tmpdir(), "dcos-bench-discovery-"));
  log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  try {
    for (const sub of ["scale", "runtime", "services", "cluster"]) await mkdir(join(dir, sub));
    if (parts.has("scale")) await haproxyAtScale(report, join(dir, "scale"), apps, perApp, runs);
    if (parts.has("runtime")) await runtimeAtScale(report, join(dir, "runtime"), apps, perApp, runs);
    if (parts.has("traffic")) await runningToTraffic(report, join(dir, "services"), trials);
    if (parts.has("dns")) await runningToDns(report, join(dir, "cluster"), trials);
    if (parts.has("dnsperf")) await dnsThroughput(report, dir, records, seconds);
  } finally {
    report.figure("load_average_1min", loadavg()[0]!, "load", "lower");
    await rm(dir, { recursive: true, force: true });
  }
}
