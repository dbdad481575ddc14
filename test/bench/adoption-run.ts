/**
 * One run of the `adopt` bench suite (suites/adopt.ts starts each in a fresh process, so runs
 * share no heap): a master on the manual clock (test/master/harness.ts: the real handler,
 * allocator and cluster events, in-process network) whose registry holds N agents, and N
 * scripted agents that all reregister in one turn with K running tasks each (of 10
 * frameworks, subscribed before), as after a leader's failover. Each ReregisterAgent is
 * encoded and decoded before the measurement with the reader the master installs for it (as
 * the transport would hand it over: every string of its own), so the kept heap counts what
 * a decoded message leaves; the decoding's CPU is not measured, nor the transport, the
 * announcements, pings or the frameworks' questions.
 *
 * `node --expose-gc dist/test/bench/adoption-run.js TREE AGENTS TASKS_PER_AGENT [SNAPSHOT]`:
 * TREE is the built worktree whose code is measured (this one, or a base to compare with);
 * prints one JSON line: wall and CPU ms of the reregistrations (from the first message to the
 * clock settled; the CPU includes V8's GC helper threads, the main thread's alone beside it), the GC pauses seen in that time
 * and their count, and the heap kept by the adoption (after two full GCs, with the decoded
 * messages and the agents' received answers dropped). With SNAPSHOT, writes a heap snapshot
 * there after the measurement. With ADOPT_EVENT_LISTENERS=1 (the suite's `--event-listeners=1`)
 * the master's event bus has the listeners a running master has, so the cluster events'
 * building and encoding are measured too.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { PerformanceObserver } from "node:perf_hooks";
import { writeHeapSnapshot } from "node:v8";
import { runDelayMs } from "./process-tree.js";

type Harness = typeof import("../master/harness.js");
type Registry = typeof import("../../src/actors/master/registry.js");
type ClusterPb = typeof import("../../src/gen/dcos/v1/cluster_pb.js");
type TasksPb = typeof import("../../src/gen/dcos/v1/tasks_pb.js");
type InternalPb = typeof import("../../src/gen/dcos/v1/internal_pb.js");
type ResourcesIndex = typeof import("../../src/resources/index.js");
type Reader = typeof import("../../src/runtime/binary-reader.js");
type Scripted = typeof import("../support/scripted-agent.js");
type Recent = typeof import("../../src/ui/recent-events.js");
type Tap = typeof import("../../src/events/tap-buffer.js");

/** What one run prints. */
export interface AdoptionFigures {
  agents: number;
  tasksPerAgent: number;
  running: number;
  wallMs: number;
  cpuMs: number;
  /** The main thread's alone (the event loop's; the rest is V8's GC helpers and the libuv pool); 0 where the kernel keeps no schedstats. */
  mainCpuMs: number;
  gcMs: number;
  gcs: number;
  keptBytes: number;
}

/** The scale bench's agents and preloaded tasks (suites/scale.ts, preload-layout.ts). */
const AGENT_RESOURCES = "cpus:8;mem:16384;disk:100000";
const TASK_RESOURCES = "cpus:0.1;mem:32";
const FRAMEWORKS = 10;

const [tree, agentsArg, perAgentArg, snapshot] = process.argv.slice(2);
if (!tree || !agentsArg || !perAgentArg) throw new Error("usage: adoption-run.js TREE AGENTS TASKS_PER_AGENT [SNAPSHOT]");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const N = Number(agentsArg);
const K = Number(perAgentArg);
const from = <T>(path: string): Promise<T> => import(`${tree}/dist/${path}`) as Promise<T>;
const { Cluster } = await from<Harness>("test/master/harness.js");
const { InMemoryRegistrar } = await from<Registry>("src/actors/master/registry.js");
const { AgentInfoSchema } = await from<ClusterPb>("src/gen/dcos/v1/cluster_pb.js");
const { TaskSchema, TaskState } = await from<TasksPb>("src/gen/dcos/v1/tasks_pb.js");
const { ReregisterAgentSchema } = await from<InternalPb>("src/gen/dcos/v1/internal_pb.js");
const { parseResources } = await from<ResourcesIndex>("src/resources/index.js");
const { messageReader } = await from<Reader>("src/runtime/binary-reader.js");
const { ScriptedAgent } = await from<Scripted>("test/support/scripted-agent.js");

const agentId = (i: number) => `m0-S${i}`;
const hostname = (i: number) => `host${i}`;
const registrar = new InMemoryRegistrar();
for (let i = 1; i <= N; i++) {
  const info = create(AgentInfoSchema, { id: { value: agentId(i) }, hostname: hostname(i), pid: `agent@${hostname(i)}:5051`, resources: parseResources(AGENT_RESOURCES).toProto() });
  await registrar.apply({ kind: "admitAgent", agentId: agentId(i), info });
}
const c = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 600_000 });
if (process.env["ADOPT_EVENT_LISTENERS"] === "1") {
  // The listeners a master has (the web UI's recent events; the NATS tap's buffer, its batches
  // taken as its worker takes them): without one, the master builds no cluster event at all.
  const { RecentEvents } = await from<Recent>("src/ui/recent-events.js");
  const { TapBuffer } = await from<Tap>("src/events/tap-buffer.js");
  const bus = c.master.events;
  new RecentEvents(bus);
  const tap = new TapBuffer({ maxBytes: 64 << 20 }, 2000, () => undefined, (e) => bus.encoded(e));
  bus.subscribe((e) => {
    tap.push(e);
    if (tap.length >= tap.batchSize) tap.take();
  });
}
const frameworks: string[] = [];
for (let f = 0; f < FRAMEWORKS; f++) frameworks.push((await c.subscribe(`f${f}`)).frameworkId);

// The agents' actor systems first (not measured); then their messages, as bytes.
const agents = [];
for (let i = 1; i <= N; i++) {
  const system = await c["system"](`${hostname(i)}:5051`);
  const agent = system.spawn(new ScriptedAgent("agent", hostname(i), parseResources(AGENT_RESOURCES).toProto(), c.master.self));
  agent.agentId = agentId(i);
  agents.push(agent);
}
const taskResources = parseResources(TASK_RESOURCES).toProto();
const encoded = agents.map((_, a) => {
  const i = a + 1;
  const tasks = Array.from({ length: K }, (_, k) =>
    create(TaskSchema, { name: `t${i}-${k}`, taskId: { value: `t${i}-${k}` }, frameworkId: { value: frameworks[(i + k) % FRAMEWORKS]! }, agentId: { value: agentId(i) }, state: TaskState.RUNNING, resources: taskResources, role: "*" }),
  );
  const agentInfo = create(AgentInfoSchema, { id: { value: agentId(i) }, hostname: hostname(i), resources: parseResources(AGENT_RESOURCES).toProto() });
  return toBinary(ReregisterAgentSchema, create(ReregisterAgentSchema, { agentInfo, version: "bench", tasks }));
});
// The master's own reader for the message (master.ts installs it leaving `frameworks` unread).
const read = messageReader(ReregisterAgentSchema, { unread: ["frameworks"] });

gc();
gc();
const heapBefore = process.memoryUsage().heapUsed;
const messages = encoded.map((bytes) => read(bytes));
encoded.length = 0;
let gcMs = 0;
let gcs = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcs++;
  }
});
gc();
observer.observe({ entryTypes: ["gc"] });
const cpu0 = process.cpuUsage();
const main0 = runDelayMs(process.pid).mainCpuMs;
const t0 = performance.now();
for (const [i, agent] of agents.entries()) agent.system.send(agent.self, c.master.self, messages[i]!);
await c.clock.settle();
const cpu = process.cpuUsage(cpu0);
const mainCpuMs = runDelayMs(process.pid).mainCpuMs - main0;
const wallMs = performance.now() - t0;
// GC entries are delivered asynchronously.
await new Promise((r) => setTimeout(r, 50));
observer.disconnect();
const running = c.metric("master/tasks_running") ?? 0;
messages.length = 0;
for (const agent of agents) agent.received.length = 0;
gc();
gc();
const keptBytes = process.memoryUsage().heapUsed - heapBefore;
if (running !== N * K) throw new Error(`${running} tasks running after the reregistrations, expected ${N * K}`);
const figures: AdoptionFigures = { agents: N, tasksPerAgent: K, running, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, mainCpuMs, gcMs, gcs, keptBytes };
process.stdout.write(`${JSON.stringify(figures)}\n`);
if (snapshot) writeHeapSnapshot(snapshot);
process.exit(0);
