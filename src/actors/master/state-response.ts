/** The whole of the master's state in one GetStateResponse (/state, GetState, the event streams' SUBSCRIBED). */
import { create } from "@bufbuild/protobuf";
import { GetStateResponseSchema, type GetStateResponse } from "../../gen/dcos/v1/operator_pb.js";
import { drainView } from "./drain-view.js";
import { maintenanceStatus } from "./maintenance.js";
import type { MasterView } from "./master-view.js";
import { ClusterUsage, agentEntry, executorsResponse, frameworkEntry, taskGroups, visibleAgent } from "./state-view.js";

export function stateResponse(core: MasterView, startedAtMs: number): GetStateResponse {
  const usage = new ClusterUsage(core);
  const tasks = taskGroups(core);
  return create(GetStateResponseSchema, {
    getAgents: { agents: [...core.agents.values()].filter(visibleAgent).map((a) => agentEntry(a, usage.agent(a.id), drainView(core, a.id))) },
    getFrameworks: {
      frameworks: [...core.frameworks.values()].map((f) => frameworkEntry(f, usage.framework(f.id))),
      completedFrameworks: [...core.completedFrameworks.values()],
    },
    getTasks: { tasks: tasks.tasks, unreachableTasks: tasks.unreachable, completedTasks: tasks.completed },
    masterInfo: core.masterInfo(),
    startTime: startedAtMs / 1000,
    stateVersion: BigInt(core.stateVersion),
    maintenanceStatus: maintenanceStatus(core),
    getExecutors: executorsResponse(core),
  });
}
