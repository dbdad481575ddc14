/**
 * What the web UI plots, read inside the master: the admitted agents' total resources and
 * what their tasks and executors hold, summed over the cluster. Computed once per state
 * version (a 10,000-agent master is not walked again while nothing changed).
 */
import type { MasterCore } from "../actors/master/core.js";
import { ClusterUsage, visibleAgent } from "../actors/master/state-view.js";
import { TaskState } from "../gen/dcos/v1/tasks_pb.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { resourcesJson } from "../operator/resources-json.js";
import type { ResourceSample } from "./resource-history.js";

export type ClusterResources = Omit<ResourceSample, "time">;

function scalar(json: Record<string, number | string>, name: string): number {
  const v = json[name];
  return typeof v === "number" ? v : 0;
}

export function clusterResources(core: MasterCore): ClusterResources {
  const usage = new ClusterUsage(core);
  const total: Resource[] = [];
  const used: Resource[] = [];
  let agents = 0;
  let tasksRunning = 0;
  for (const agent of core.agents.values()) {
    if (!visibleAgent(agent)) continue;
    agents++;
    total.push(...agent.info.resources);
    used.push(...usage.agent(agent.id).allocated);
    for (const t of agent.tasks.values()) if (t.state === TaskState.RUNNING) tasksRunning++;
  }
  const t = resourcesJson(total);
  const u = resourcesJson(used);
  return {
    cpusTotal: scalar(t, "cpus"),
    cpusUsed: scalar(u, "cpus"),
    memTotal: scalar(t, "mem"),
    memUsed: scalar(u, "mem"),
    diskTotal: scalar(t, "disk"),
    diskUsed: scalar(u, "disk"),
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
