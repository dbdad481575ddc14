/**
 * `node --expose-gc dist/test/bench/master-task-memory.js [tasks=20000] [agents=100]`: the
 * leading master's heap per task, in process (the master harness: ManualClock, scripted
 * agents, the real allocator and state): tasks launched 50 per ACCEPT, each reported
 * STARTING then RUNNING and acknowledged, as in the scale bench's fill. Prints the heap
 * with the agents, with the tasks, the bytes per task, and with HEAP_SNAPSHOT=file writes a
 * heap snapshot (to see what a task's bytes are).
 */
import { writeHeapSnapshot } from "node:v8";
import { create } from "@bufbuild/protobuf";
import { AcknowledgeBatchRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { LabelsSchema } from "../../src/gen/dcos/v1/common_pb.js";
import { MasterFacade } from "../../src/actors/master/master-facade.js";
import { Cluster, commandTask } from "../master/harness.js";

const tasks = Number(process.argv[2] ?? 20_000);
const agents = Number(process.argv[3] ?? 100);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const c = await Cluster.start({ agents, agentResources: `cpus:${tasks};mem:${tasks * 64}` });
// All tasks launch before any reports: no admission limit here.
c.facade = new MasterFacade(c.master, { maxLaunchingTasks: 0, maxQueueMs: 0 });
const s = await c.subscribe("fw", { partitionAware: true });
const before = heap();
let launched = 0;
while (launched < tasks) {
  const offers = s.sink.offers();
  s.sink.clear();
  if (offers.length === 0) {
    await c.allocate();
    continue;
  }
  for (const offer of offers) {
    const n = Math.min(50, tasks - launched);
    if (n === 0) break;
    const batch = Array.from({ length: n }, (_, i) => {
      const t = commandTask(`fw-long-${launched + i}`, "cpus:0.1;mem:32", "sleep 600");
      t.labels = create(LabelsSchema, { labels: [{ key: "sim_duration_ms", value: "0" }] });
      return t;
    });
    launched += n;
    await c.launch(s, [offer], batch, 0);
  }
  await c.allocate();
}
const byAgent = new Map(c.agents.map((a) => [a.agentId, a]));
for (const state of [TaskState.STARTING, TaskState.RUNNING]) {
  const tasksOf = await c.facade.inspect((m) => [...m.frameworks.get(s.frameworkId)!.tasks.values()].map((t) => [t.taskId!.value, t.agentId!.value] as const));
  const uuids: { agentId: { value: string }; taskId: { value: string }; uuid: Uint8Array }[] = [];
  for (const [taskId, agentId] of tasksOf) uuids.push({ agentId: { value: agentId }, taskId: { value: taskId }, uuid: byAgent.get(agentId)!.update(s.frameworkId, taskId, state, { uuid: crypto.getRandomValues(new Uint8Array(16)) }) });
  await c.clock.settle();
  for (let i = 0; i < uuids.length; i += 1000) {
    await c.facade.acknowledgeBatch(create(AcknowledgeBatchRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, acknowledgements: uuids.slice(i, i + 1000) }));
  }
  await c.clock.settle();
}
s.sink.clear();
const after = heap();
const running = c.metric("master/tasks_running");
process.stdout.write(
  `${JSON.stringify({ suite: "master-task-memory", tasks, agents, running, heap_with_agents_mb: Math.round(before / 2 ** 20), heap_with_tasks_mb: Math.round(after / 2 ** 20), heap_per_task_bytes: Math.round((after - before) / tasks) })}\n`,
);
if (process.env["HEAP_SNAPSHOT"]) writeHeapSnapshot(process.env["HEAP_SNAPSHOT"]);
await c.stop();
