/**
 * Bench 'http': /state and /metrics/snapshot latency over HTTP on a master holding 10,000
 * agents and 100,000 tasks (records put straight into the master's state), with the
 * serialized state cached per version (the default) and rebuilt on every request.
 * Args: --agents=N --tasks=N --runs=N.
 */
import { create } from "@bufbuild/protobuf";
import { AgentInfoSchema, FrameworkInfoSchema } from "../../../src/gen/dcos/v1/cluster_pb.js";
import { TaskSchema, TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { createAllocator } from "../../../src/actors/allocator/index.js";
import { AgentRecord, AgentState, taskKey } from "../../../src/actors/master/agent.js";
import { ids } from "../../../src/actors/master/core.js";
import { FrameworkRecord, FrameworkState } from "../../../src/actors/master/framework.js";
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

async function timeGet(url: string, runs: number): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const body = await (await fetch(url)).text();
    times.push(performance.now() - t0);
    bytes = body.length;
  }
  return { ms: median(times), bytes };
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
  await facade.inspect((core) => {
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
  const serve = async (cacheState: boolean): Promise<string> => {
    const h = await startMasterHttp({ host: "127.0.0.1", port: 0, master: facade, metrics: system.metrics, cluster: "bench", version: "bench", flags: {}, cacheState });
    servers.push(h);
    return `http://${h.address}`;
  };
  const cached = await serve(true);
  const uncached = await serve(false);
  await timeGet(`${cached}/state`, 1); // builds the cache once
  const hit = await timeGet(`${cached}/state`, runs * 4);
  const miss = await timeGet(`${uncached}/state`, runs);
  const extra = { agents, tasks, frameworks, bytes: miss.bytes };
  report.compare("state_cached_ms", hit.ms, "state_uncached_ms", miss.ms, "ms", "lower");
  report.figure("state_bytes", miss.bytes, "bytes", "lower", extra);
  report.figure("state_summary_uncached_ms", (await timeGet(`${uncached}/state-summary`, runs)).ms, "ms", "lower", extra);
  report.figure("metrics_snapshot_ms", (await timeGet(`${cached}/metrics/snapshot`, runs)).ms, "ms", "lower", extra);
  for (const s of servers) await s.close();
  allocator.stop();
  await system.stop();
}
