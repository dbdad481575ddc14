/**
 * What the web UI plots, read inside the master: the cluster's resources as the master's
 * metrics count them (master/cpus_total, _used, … from the master's incremental counts),
 * running tasks and reachable agents. O(1) per sample at any cluster size.
 */
import type { MasterView } from "../actors/master/master-view.js";
import { TaskState } from "../gen/dcos/v1/tasks_pb.js";
import type { ResourceSample } from "./resource-sample.js";

export type ClusterResources = Omit<ResourceSample, "time">;

export function clusterResources(core: MasterView): ClusterResources {
  const { total, used } = core.counts;
  return {
    cpusTotal: total.get("cpus"),
    cpusUsed: used.get("cpus"),
    memTotal: total.get("mem"),
    memUsed: used.get("mem"),
    diskTotal: total.get("disk"),
    diskUsed: used.get("disk"),
    tasksRunning: core.counts.tasksIn(TaskState.RUNNING),
    agents: core.counts.agents().active,
  };
}
