/**
 * Simulated agents in their own process for the failover, services, jobs and scale benchmarks:
 *
 *   node dist/test/bench/sim-agents-process.js --masters=a:p,b:p,c:p [--agents=100] [--first=0]
 *     [--resources=cpus:2;mem:1024] [--task-ms=0] [--seed=N] [--stats-ms=0]
 *     [--preload=agents,frameworks,tasks --framework-ids=id0,id1,…] [--start-per-s=0]
 *
 * One gRPC transport on 127.0.0.1 (a free port), `--agents` SimAgents on it (agent<first>…,
 * hosts sim-host-<first>…, each its own pid and, once registered, its own agent id) following
 * the masters' leadership. Each agent's registration backoff draws from its own Random seeded
 * from `--seed` (printed at start) and its index. Prints "registered N" once all have
 * registered; with --stats-ms, a line `stats {json}` that often (the counters the scale
 * harness checks, this process's CPU time and RSS); `mark` on stdin counts reregistrations from
 * then on (backSinceMark, reregisteredAt); stops on SIGTERM. With --preload each
 * agent starts with its id and the tasks preload-layout.ts gives it (of the frameworks whose
 * ids --framework-ids lists, in the order of their index) and reregisters with them.
 */
import { create } from "@bufbuild/protobuf";
import { FrameworkInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { AllocationInfoSchema, ResourceSchema } from "../../src/gen/dcos/v1/resources_pb.js";
import { SimAgent, type SimAgentPreload } from "./sim-agent.js";
import { agentTasks, parsePreload, preloadAgentId, PRELOAD_TASK_RESOURCES } from "./preload-layout.js";
import { parseResources } from "../../src/resources/parse.js";
import { startNode } from "../../src/node/node.js";
import { createLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";

const opt = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const masters = opt("masters", "")
  .split(",")
  .filter((m) => m !== "")
  .map((m) => Pid.parse(`master@${m}`));
if (masters.length === 0) throw new Error("--masters=host:port,… is required");
const count = Number(opt("agents", "100"));
const first = Number(opt("first", "0"));
const resources = parseResources(opt("resources", "cpus:2;mem:1024")).toProto();
// Tasks finish (TASK_FINISHED) after this long; 0 keeps them running.
const taskMs = Number(opt("task-ms", "0"));
const seed = Number(opt("seed", String(Random.fromOs().seed)));
const statsMs = Number(opt("stats-ms", "0"));
process.stderr.write(`sim agents ${first}..${first + count - 1}: seed ${seed}\n`);

// A node as an agent's: the gRPC transport knowing internal.proto; warnings to stderr.
const node = await startNode({ ip: "127.0.0.1", port: 0, logger: createLogger({ level: "warn" }) });
const preloadText = opt("preload", "");
const layout = preloadText ? parsePreload(preloadText) : undefined;
const frameworkIds = opt("framework-ids", "").split(",").filter((id) => id !== "");
if (layout && frameworkIds.length !== layout.frameworks) throw new Error(`--preload=${preloadText} needs --framework-ids with ${layout.frameworks} ids (got ${frameworkIds.length})`);
// A preloaded task's resources as a launched one's: what an offer to role "*" gave.
const taskResources = parseResources(PRELOAD_TASK_RESOURCES)
  .toProto()
  .map((r) => create(ResourceSchema, { ...r, allocationInfo: create(AllocationInfoSchema, { role: "*" }) }));
const frameworkInfos = frameworkIds.map((id, i) => create(FrameworkInfoSchema, { id: { value: id }, name: `scale-${i}`, roles: ["*"] }));
const preloadOf = (k: number): SimAgentPreload | undefined =>
  layout && { agentId: preloadAgentId(k), tasks: agentTasks(layout, k).map((t) => ({ framework: frameworkInfos[t.framework]!, taskId: t.taskId, resources: taskResources })) };
const agents = Array.from(
  { length: count },
  (_, i) => new SimAgent(`agent${first + i}`, `sim-host-${first + i}`, resources, masters, taskMs, new Random(seed + first + i), preloadOf(first + i)),
);
// --start-per-s: the agents start (and make their first attempt) at this rate, in tenths of a
// second, instead of all at once: a storm of 50,000 first attempts at a leader that admits
// them through Raft left most agents backing off while the leader waited for its followers.
const startPerS = Number(opt("start-per-s", "0"));
if (startPerS > 0) {
  let next = 0;
  const step = Math.max(1, Math.ceil(startPerS / 10));
  const starting = setInterval(() => {
    for (const a of agents.slice(next, next + step)) node.system.spawn(a);
    next += step;
    if (next >= agents.length) clearInterval(starting);
  }, 100);
} else for (const a of agents) node.system.spawn(a);

function stats(): Record<string, number> {
  const s = { agents: count, registered: 0, backSinceMark: 0, reregisteredAt: 0, ids: 0, registrations: 0, reregistrations: 0, tasks: 0, tasksReceived: 0, tasksEnded: 0, updatesMade: 0, updatesAcknowledged: 0, updatesResent: 0, unexpectedAcks: 0 };
  for (const a of agents) {
    if (a.accepted) s.registered++;
    if (a.backSinceMark) s.backSinceMark++;
    s.reregisteredAt = Math.max(s.reregisteredAt, a.reregisteredAt);
    s.ids += a.ids;
    s.registrations += a.registrations;
    s.reregistrations += a.reregistrations;
    s.tasks += a.taskCount;
    s.tasksReceived += a.tasksReceived;
    s.tasksEnded += a.tasksEnded;
    s.updatesMade += a.updatesMade;
    s.updatesAcknowledged += a.updatesAcknowledged;
    s.updatesResent += a.updatesResent;
    s.unexpectedAcks += a.unexpectedAcks;
  }
  const cpu = process.cpuUsage();
  return { ...s, cpuMs: Math.round((cpu.user + cpu.system) / 1000), rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20) };
}

let announced = false;
const poll = setInterval(() => {
  if (!announced && agents.every((a) => a.accepted)) {
    announced = true;
    process.stdout.write(`registered ${count}\n`);
  }
}, 50);
const statsTimer = statsMs > 0 ? setInterval(() => process.stdout.write(`stats ${JSON.stringify(stats())}\n`), statsMs) : undefined;
// `mark` on stdin: count reregistrations from now on (the harness, before it kills the leader).
process.stdin.on("data", (b: Buffer) => {
  if (b.toString().split("\n").includes("mark")) for (const a of agents) a.mark();
});
process.on("SIGTERM", () => {
  clearInterval(poll);
  clearInterval(statsTimer);
  void node.stop().finally(() => process.exit(0));
});
