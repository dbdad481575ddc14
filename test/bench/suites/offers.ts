/**
 * `npm run bench -- offers [-- --agents=1000 --seconds=20 --warmup=6 --task-ms=3000 --max-in-flight=2000 --modes=facade,grpc,grpc-batched --rounds=1]`:
 * the offer cycle end to end in one process. The real master and the real DRF allocator
 * (system clock, 1 s allocation interval) on the in-process network with simulated agents
 * that fake task start (sim-agent.ts); a framework with an endless backlog of small tasks
 * accepts offers with as many tasks as fit (holding offers while --max-in-flight tasks are
 * launched and not yet RUNNING) and acknowledges every update. Tasks finish
 * after --task-ms, so the cluster reaches a steady state where every round re-offers what
 * finished.
 *
 * Figures (per mode, median over rounds), counted over the window after --warmup:
 * - task launches per second that reached TASK_RUNNING at the scheduler;
 * - CPU time of the process per such task (all threads: master, simulated agents, the
 *   framework, GC; steadier than rates on a shared machine), with the master loop's
 *   utilization (near 1: saturated, or starved of CPU by other processes);
 * - offer→accept→TASK_RUNNING latency p50/p99 (the offer reaching the scheduler to the
 *   task's TASK_RUNNING reaching it, with the TASK_STARTING acknowledgement in between),
 *   which includes the time the framework held the offer because of its in-flight cap;
 *   and accept→TASK_RUNNING (the master's share of it).
 * Mode "facade" runs the framework in the master's thread calling the MasterFacade;
 * "grpc" runs it in a worker thread as a client of the real gRPC SchedulerService on
 * loopback (the honest figure: the master pays for decoding, streams and unary calls),
 * acknowledging each update with its own Acknowledge call as Mesos frameworks do;
 * "grpc-batched" acknowledges what arrived in one event-loop turn with one
 * AcknowledgeBatch call. Any mode + "-batched" batches (e.g. "facade-batched").
 * Any gRPC mode + "-tls" serves the SchedulerService with the master's certificate and
 * has the framework present a principal's certificate (mutual TLS, as on a real cluster);
 * when its plaintext mode runs too, the ratios tls/plaintext are reported (of the medians,
 * and the median of each round's paired ratio: rounds interleave the modes).
 * "driver" runs the framework in a worker thread on the real SchedulerDriver (what a
 * TypeScript framework gets; it acknowledges implicitly, coalescing each turn's
 * acknowledgements into AcknowledgeBatch calls, --ack-calls-in-flight at once); it also
 * reports the acknowledgements per call.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { createAllocator } from "../../../src/actors/allocator/index.js";
import type { EventSink } from "../../../src/actors/master/framework-record.js";
import { MasterFacade } from "../../../src/actors/master/master-facade.js";
import { Master } from "../../../src/actors/master/master.js";
import { InMemoryRegistrar } from "../../../src/actors/master/registry.js";
import { addSchedulerService } from "../../../src/actors/master/scheduler-service.js";
import { SubscribeRequestSchema } from "../../../src/gen/dcos/v1/scheduler_pb.js";
import { parseResources } from "../../../src/resources/index.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import { InProcessNetwork } from "../../../src/runtime/transports/in-process.js";
import { Worker } from "node:worker_threads";
import { loadavg } from "node:os";
import type { DriverSchedulerData } from "../offers-driver-scheduler.js";
import { BenchScheduler, wallNow, type SchedulerResult, type SchedulerSettings } from "../offers-scheduler.js";
import { median, percentile, type Reporter } from "../report.js";
import { SimAgent } from "../sim-agent.js";
import { CertificateAuthority } from "../../../src/security/pki/authority.js";
import { serverCredentials } from "../../../src/security/pki/grpc-credentials.js";
import type { TlsMaterial } from "../../../src/security/pki/tls-files.js";

interface Settings {
  agents: number;
  agentResources: string;
  scheduler: SchedulerSettings;
  taskMs: number;
  seconds: number;
  warmup: number;
  modes: string[];
  rounds: number;
  logLevel: string;
  ackCallsInFlight: number | undefined;
}

function settings(args: string[]): Settings {
  const get = (name: string, dflt: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
  return {
    agents: Number(get("agents", "1000")),
    agentResources: get("agent-resources", "cpus:4;mem:4096"),
    scheduler: { cpus: Number(get("task-cpus", "0.25")), mem: Number(get("task-mem", "256")), maxInFlight: Number(get("max-in-flight", "2000")), batchAcks: false },
    taskMs: Number(get("task-ms", "3000")),
    seconds: Number(get("seconds", "20")),
    warmup: Number(get("warmup", "6")),
    modes: get("modes", "facade,driver,driver-tls,grpc-batched,grpc-batched-tls").split(","),
    rounds: Number(get("rounds", "1")),
    logLevel: get("log", "info"),
    ackCallsInFlight: get("ack-calls-in-flight", "") === "" ? undefined : Number(get("ack-calls-in-flight", "")),
  };
}

interface Cluster {
  master: Master;
  facade: MasterFacade;
  systems: ActorSystem[];
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function startCluster(s: Settings): Promise<Cluster> {
  const network = new InProcessNetwork();
  // The master logs at info as in production, into /dev/null.
  const logger = pino({ level: s.logLevel }, pino.destination({ dest: "/dev/null", sync: false }));
  const masterSystem = new ActorSystem({ transport: network.transport("master:5050"), logger });
  const agentSystem = new ActorSystem({ transport: network.transport("agents:5051"), logger });
  await masterSystem.start();
  await agentSystem.start();
  const allocator = createAllocator("hierarchical-drf", masterSystem);
  const master = masterSystem.spawn(new Master({ masterId: "bench", allocator, registrar: new InMemoryRegistrar() }));
  const resources = parseResources(s.agentResources).toProto();
  for (let i = 0; i < s.agents; i++) agentSystem.spawn(new SimAgent(`agent${i}`, `host${i}`, resources, master.self, s.taskMs));
  const deadline = Date.now() + 60_000;
  while ((masterSystem.metrics.value("master/slaves_active") ?? 0) < s.agents) {
    if (Date.now() > deadline) throw new Error(`only ${masterSystem.metrics.value("master/slaves_active")} of ${s.agents} agents registered in 60 s`);
    await sleep(50);
  }
  return { master, facade: new MasterFacade(master), systems: [masterSystem, agentSystem] };
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const s of c.systems) await s.stop();
}

interface Framework {
  /** Resolves once the framework is subscribed. */
  ready: Promise<void>;
  /** Stops the framework and returns what it saw. */
  stop(): Promise<SchedulerResult & { counters?: Record<string, number> }>;
}

/** A BenchScheduler in the master's thread, calling the MasterFacade. */
function viaFacade(c: Cluster, settings: SchedulerSettings): Framework {
  const scheduler = new BenchScheduler(c.facade, settings);
  const sink: EventSink = { send: (e) => scheduler.onEvent(e), close: () => undefined };
  const ready = c.facade.subscribe(create(SubscribeRequestSchema, { frameworkInfo: { name: "bench", user: "nobody", roles: ["*"] } }), sink).then(() => undefined);
  return { ready, stop: async () => scheduler.result() };
}

/**
 * Serves the SchedulerService on loopback; the framework is a gRPC client in a worker
 * thread: a bare client (offers-grpc-scheduler.ts) or the SchedulerDriver (offers-driver-scheduler.ts).
 */
async function viaGrpc(c: Cluster, settings: SchedulerSettings, script: string, ackCallsInFlight?: number, tls?: { master: TlsMaterial; framework: TlsMaterial }): Promise<Framework> {
  const server = new grpc.Server();
  addSchedulerService(server, c.facade, { reflection: false });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", tls ? serverCredentials(tls.master) : grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const workerData: DriverSchedulerData = { target: `127.0.0.1:${port}`, settings, ackCallsInFlight, ...(tls ? { tls: tls.framework } : {}) };
  const worker = new Worker(new URL(`../${script}.js`, import.meta.url), { workerData });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return {
    ready,
    stop: async () => {
      const result = new Promise<SchedulerResult & { counters?: Record<string, number> }>((resolve) =>
        worker.on("message", (m: { result?: SchedulerResult; counters?: Record<string, number> }) => m.result && resolve({ ...m.result, counters: m.counters })),
      );
      worker.postMessage({ stop: true });
      const r = await result;
      await worker.terminate();
      server.forceShutdown();
      return r;
    },
  };
}

interface Result {
  launchesPerS: number;
  /** CPU time of the whole process (master, allocator, simulated agents, the framework, GC) per task that reached RUNNING. */
  cpuUsPerTask: number;
  /** Share of the window the master's event loop was busy (1 = saturated, or starved of CPU by other processes). */
  utilization: number;
  /** Offer reaching the scheduler → TASK_RUNNING reaching it. */
  offerP50: number;
  offerP99: number;
  /** Accept sent → TASK_RUNNING reaching the scheduler. */
  acceptP50: number;
  acceptP99: number;
  launched: number;
  running: number;
  finished: number;
  failures: number;
  callErrors: number;
  /** Driver mode: acknowledgements per ACKNOWLEDGE/AcknowledgeBatch call over the run. */
  acksPerCall: number;
}

/** A master's and a framework's certificates of one CA, made once per run. */
let benchTls: Promise<{ master: TlsMaterial; framework: TlsMaterial }> | undefined;
function tlsPair(): Promise<{ master: TlsMaterial; framework: TlsMaterial }> {
  return (benchTls ??= (async () => {
    const ca = await CertificateAuthority.create({ cluster: "bench" });
    const master = await ca.issue({ role: "master", name: "master", hosts: ["127.0.0.1"] });
    const framework = await ca.issue({ role: "principal", name: "bench" });
    return { master: { ca: ca.pem.cert, ...master }, framework: { ca: ca.pem.cert, ...framework } };
  })());
}

async function measure(s: Settings, fullMode: string): Promise<Result> {
  const tls = fullMode.endsWith("-tls") ? await tlsPair() : undefined;
  const mode = tls ? fullMode.slice(0, -4) : fullMode;
  if (tls && !mode.startsWith("grpc") && mode !== "driver") throw new Error(`mode ${fullMode}: only gRPC modes (grpc…, driver) run with -tls`);
  const cluster = await startCluster(s);
  const settings = { ...s.scheduler, batchAcks: mode.endsWith("-batched") };
  const framework = mode.startsWith("grpc")
    ? await viaGrpc(cluster, settings, "offers-grpc-scheduler", undefined, tls)
    : mode === "driver"
      ? await viaGrpc(cluster, settings, "offers-driver-scheduler", s.ackCallsInFlight, tls)
      : viaFacade(cluster, settings);
  await framework.ready;
  const start = wallNow();
  await sleep(s.warmup * 1000);
  const busyFrom = performance.eventLoopUtilization();
  const cpuFrom = process.cpuUsage();
  await sleep((s.seconds - s.warmup) * 1000);
  const busy = performance.eventLoopUtilization(busyFrom);
  const cpu = process.cpuUsage(cpuFrom);
  const scheduler = await framework.stop();
  await stopCluster(cluster);
  const from = start + s.warmup * 1000;
  const to = start + s.seconds * 1000;
  const window = scheduler.running.filter(([at]) => at >= from && at < to);
  const fromOffer = window.map(([, l]) => l);
  const fromAccept = window.map(([, , l]) => l);
  return {
    launchesPerS: window.length / ((to - from) / 1000),
    cpuUsPerTask: window.length === 0 ? 0 : (cpu.user + cpu.system) / window.length,
    utilization: busy.utilization,
    offerP50: percentile(fromOffer, 50),
    offerP99: percentile(fromOffer, 99),
    acceptP50: percentile(fromAccept, 50),
    acceptP99: percentile(fromAccept, 99),
    launched: scheduler.launched,
    running: scheduler.running.length,
    finished: scheduler.finished,
    failures: scheduler.failures,
    callErrors: scheduler.callErrors,
    acksPerCall: scheduler.counters ? (scheduler.counters["acknowledgements_sent"] ?? 0) / Math.max(1, scheduler.counters["acknowledge_calls"] ?? 0) : 0,
  };
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const s = settings(args);
  const shape = { agents: s.agents, agent: s.agentResources, task: `cpus:${s.scheduler.cpus};mem:${s.scheduler.mem}`, taskMs: s.taskMs, maxInFlight: s.scheduler.maxInFlight, window_s: s.seconds - s.warmup };
  const launches = new Map<string, number>();
  const cpuPerTask = new Map<string, number>();
  // Rounds interleave the modes (round 1 of every mode, then round 2, …) so a change of the
  // machine's load touches every mode alike and the tls/plaintext ratios compare like with like.
  const byMode = new Map<string, Result[]>(s.modes.map((mode) => [mode, []]));
  for (let r = 0; r < s.rounds; r++) {
    for (const mode of s.modes) {
      const res = await measure(s, mode);
      process.stderr.write(`offers ${mode} round ${r + 1}: ${JSON.stringify({ ...res, load: loadavg()[0] })}\n`);
      byMode.get(mode)!.push(res);
    }
  }
  for (const mode of s.modes) {
    const results = byMode.get(mode)!;
    const m = (f: (r: Result) => number): number => median(results.map(f));
    report.figure(`${mode}_task_launches_per_s`, m((r) => r.launchesPerS), "tasks/s", "higher", { ...shape, rounds: s.rounds, target: 3750 });
    report.figure(`${mode}_cpu_us_per_task`, m((r) => r.cpuUsPerTask), "µs", "lower", { ...shape, master_loop_utilization: m((r) => r.utilization) });
    report.figure(`${mode}_offer_to_running_p50_ms`, m((r) => r.offerP50), "ms", "lower", shape);
    report.figure(`${mode}_offer_to_running_p99_ms`, m((r) => r.offerP99), "ms", "lower", shape);
    report.figure(`${mode}_accept_to_running_p50_ms`, m((r) => r.acceptP50), "ms", "lower", shape);
    report.figure(`${mode}_accept_to_running_p99_ms`, m((r) => r.acceptP99), "ms", "lower", shape);
    launches.set(mode, m((r) => r.launchesPerS));
    cpuPerTask.set(mode, m((r) => r.cpuUsPerTask));
    const plain = mode.endsWith("-tls") ? mode.slice(0, -4) : undefined;
    if (plain !== undefined && launches.has(plain)) {
      report.figure(`${mode}_vs_plaintext_launches`, launches.get(mode)! / Math.max(1e-9, launches.get(plain)!), "ratio", "higher", { ...shape, plaintext_mode: plain, goal: 0.8 });
      report.figure(`${mode}_vs_plaintext_cpu_per_task`, cpuPerTask.get(mode)! / Math.max(1e-9, cpuPerTask.get(plain)!), "ratio", "lower", { ...shape, plaintext_mode: plain });
      // Each round's tls run right after its plaintext run: the median of those paired ratios.
      const paired = results.map((res, i) => res.launchesPerS / Math.max(1e-9, byMode.get(plain)![i]!.launchesPerS));
      report.figure(`${mode}_vs_plaintext_launches_paired_median`, median(paired), "ratio", "higher", { ...shape, plaintext_mode: plain, goal: 0.8, rounds: paired.map((x) => Number(x.toFixed(3))), load: loadavg()[0] });
      // CPU per task is steadier than rates on a shared machine: a CPU-bound master's throughput is its inverse.
      const pairedCpu = results.map((res, i) => res.cpuUsPerTask / Math.max(1e-9, byMode.get(plain)![i]!.cpuUsPerTask)).filter((x) => x > 0);
      report.figure(`${mode}_vs_plaintext_cpu_per_task_paired_median`, median(pairedCpu), "ratio", "lower", { ...shape, plaintext_mode: plain, rounds: pairedCpu.map((x) => Number(x.toFixed(3))), load: loadavg()[0] });
    }
    if (mode === "driver") report.figure(`${mode}_acks_per_call`, m((r) => r.acksPerCall), "acks", "higher", { ...shape, ack_calls_in_flight: s.ackCallsInFlight ?? "default" });
  }
}
