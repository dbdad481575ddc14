/**
 * The cluster events the master's feature files publish (through MasterCore.publish, the
 * one place events leave the master): agents and frameworks coming and going, offers made
 * and declined. Task events and rescinds are published by MasterCore itself.
 */
import { drainView } from "./drain-view.js";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { OfferID } from "../../gen/dcos/v1/common_pb.js";
import type { AgentRecord } from "./agent.js";
import { ids, type MasterCore } from "./core.js";
import type { FrameworkRecord } from "./framework.js";
import { agentEntry, agentUsage, frameworkEntry, frameworkUsage } from "./state-view.js";

export function agentAdded(core: MasterCore, agent: AgentRecord): void {
  core.publish(() => ({ case: "agentAdded", value: { $typeName: "dcos.v1.ClusterEvent.AgentAdded", agent: agentEntry(agent, agentUsage(core, agent), drainView(core, agent.id)) } }));
}

export function agentRemoved(core: MasterCore, agent: AgentRecord, reason: string): void {
  core.publish({ case: "agentRemoved", value: { $typeName: "dcos.v1.ClusterEvent.AgentRemoved", agentId: ids.agent(agent.id), reason } });
}

export function frameworkAdded(core: MasterCore, f: FrameworkRecord): void {
  core.publish(() => ({ case: "frameworkAdded", value: { $typeName: "dcos.v1.ClusterEvent.FrameworkAdded", framework: frameworkEntry(f, frameworkUsage(core, f)) } }));
}

export function frameworkUpdated(core: MasterCore, f: FrameworkRecord): void {
  core.publish(() => ({
    case: "frameworkUpdated",
    value: { $typeName: "dcos.v1.ClusterEvent.FrameworkUpdated", framework: frameworkEntry(f, frameworkUsage(core, f)) },
  }));
}

export function frameworkRemoved(core: MasterCore, info: FrameworkInfo, reason: string): void {
  core.publish({ case: "frameworkRemoved", value: { $typeName: "dcos.v1.ClusterEvent.FrameworkRemoved", frameworkInfo: info, reason } });
}

export function offersMade(core: MasterCore, offers: Offer[]): void {
  core.publish({ case: "offersMade", value: { $typeName: "dcos.v1.ClusterEvent.OffersMade", offers } });
}

export function offersDeclined(core: MasterCore, f: FrameworkRecord, offerIds: OfferID[], refuseSeconds: number): void {
  core.publish({
    case: "offersDeclined",
    value: { $typeName: "dcos.v1.ClusterEvent.OffersDeclined", frameworkId: ids.framework(f.id), offerIds, refuseSeconds },
  });
}
