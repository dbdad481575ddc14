/** An agent's deactivation and drain as the registry records them (drain.ts changes them). */
import type { DrainInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { MasterView } from "./master-view.js";
import type { AgentDrain } from "./registry.js";

export function agentDrain(core: MasterView, agentId: string): AgentDrain | undefined {
  return core.registrar.state().drains.get(agentId);
}

/** The drain info of an agent as /state and GetAgents show it. */
export function drainView(core: MasterView, agentId: string): { deactivated: boolean; drainInfo?: DrainInfo } {
  const d = agentDrain(core, agentId);
  return { deactivated: d !== undefined, drainInfo: d?.drainInfo };
}

