/**
 * The cluster events the master's feature files publish (through MasterState.publish, the
 * one place events leave the master): agents and frameworks coming and going, offers made
 * and declined. Task events and rescinds are published by MasterState itself.
 */
import { drainView } from "./drain-view.js";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { OfferID } from "../../gen/dcos/v1/common_pb.js";
import type { AgentRecord } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";
import { agentEntry, agentUsage, frameworkEntry, frameworkUsage } from "./state-view.js";

export function agentAdded(core: MasterState, agent: AgentRecord): void {
  core.publish(() => ({ case: "agentAdded", value: { $typeName: "dcos.v1.ClusterEvent.AgentAdded", agent: agentEntry(agent, agentUsage(core, agent), drainView(core, agent.id)) } }));
}

export function agentRemoved(core: MasterState, agent: AgentRecord, reason: string): void {
  core.publish({ case: "agentRemoved", value: { $typeName: "dcos.v1.ClusterEvent.AgentRemoved", agentId: ids.agent(agent.id), reason } });
}

export function frameworkAdded(core: MasterState, f: FrameworkRecord): void {
  core.publish(() => ({ case: "frameworkAdded", value: { $typeName: "dcos.v1.ClusterEvent.FrameworkAdded", framework: frameworkEntry(f, frameworkUsage(core, f)) } }));
}

export function frameworkUpdated(core: MasterState, f: FrameworkRecord): void {
  core.publish(() => ({
    case: "frameworkUpdated",
    value: { $typeName: "dcos.v1.ClusterEvent.FrameworkUpdated", framework: frameworkEntry(f, frameworkUsage(core, f)) },
  }));
}

export function frameworkRemoved(core: MasterState, info: FrameworkInfo, reason: string): void {
  core.publish({ case: "frameworkRemoved", value: { $typeName: "dcos.v1.ClusterEvent.FrameworkRemoved", frameworkInfo: info, reason } });
}

export function offersMade(core: MasterState, offers: Offer[]): void {
  core.publish({ case: "offersMade", value: { $typeName: "dcos.v1.ClusterEvent.OffersMade", offers } });
}

export function offersDeclined(core: MasterState, f: FrameworkRecord, offerIds: OfferID[], refuseSeconds: number): void {
  core.publish({
    case: "offersDeclined",
    value: { $typeName: "dcos.v1.ClusterEvent.OffersDeclined", frameworkId: ids.framework(f.id), offerIds, refuseSeconds },
  });
}
