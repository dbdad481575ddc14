/**
 * What the web UI plots, read inside the master: the cluster's resources as the master's
 * metrics count them (master/cpus_total, _used, … from resourceUsage), plus running tasks
 * and reachable agents. Computed once per state version (a 10,000-agent master is not
 * walked again while nothing changed).
 */
import { AgentState } from "../actors/master/agent.js";
import type { MasterCore } from "../actors/master/core.js";
import { resourceUsage } from "../actors/master/resource-usage.js";
import { TaskState } from "../gen/dcos/v1/tasks_pb.js";
import type { ResourceSample } from "./resource-sample.js";

export type ClusterResources = Omit<ResourceSample, "time">;

export function clusterResources(core: MasterCore): ClusterResources {
  const { total, used } = resourceUsage(core);
  let agents = 0;
  let tasksRunning = 0;
  for (const agent of core.agents.values()) {
    if (agent.state !== AgentState.ACTIVE) continue;
    agents++;
    for (const t of agent.tasks.values()) if (t.state === TaskState.RUNNING) tasksRunning++;
  }
  return {
    cpusTotal: total.get("cpus"),
    cpusUsed: used.get("cpus"),
    memTotal: total.get("mem"),
    memUsed: used.get("mem"),
    diskTotal: total.get("disk"),
    diskUsed: used.get("disk"),
    tasksRunning,
    agents,
  };
}

/** `clusterResources`, recomputed only when the master's state version moved. */
export function cachedClusterResources(): (core: MasterCore) => ClusterResources {
  let version: number | undefined;
  let last: ClusterResources | undefined;
  return (core) => {
    if (last === undefined || core.stateVersion !== version) {
      last = clusterResources(core);
      version = core.stateVersion;
    }
    return last;
  };
}
