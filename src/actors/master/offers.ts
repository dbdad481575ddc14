/**
 * Offers from the allocator's decisions: each decision becomes an Offer to a connected
 * framework on an active agent (or goes straight back to the allocator), offers are sent
 * in one OFFERS event per framework, and each times out after offer_timeout if set.
 */
import type { ExecutorID } from "../../gen/dcos/v1/common_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { OfferDecision } from "../allocator/allocator.js";
import { AgentState } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import { offersMade } from "./cluster-events.js";
import { unavailabilityOf } from "./maintenance.js";

export function makeOffers(core: MasterState, decisions: readonly OfferDecision[]): void {
  const batches = new Map<string, Offer[]>();
  for (const d of decisions) {
    const framework = core.frameworks.get(d.frameworkId);
    const agent = core.agents.get(d.agentId);
    if (!framework?.connected || agent?.state !== AgentState.ACTIVE) {
      core.drop("invalid_allocations", `Returning an allocation of agent ${d.agentId} to framework ${d.frameworkId}: ${!framework?.connected ? "framework not connected" : "agent not active"}`);
      if (agent?.state === AgentState.ACTIVE) core.allocator.recoverResources(d.frameworkId, d.agentId, d.resources, 0);
      continue;
    }
    const offerId = core.newOfferId();
    const executors = agent.executors.get(d.frameworkId);
    const executorIds: ExecutorID[] = [];
    if (executors) for (const e of executors.keys()) executorIds.push(ids.executor(e));
    // Every field written out: create() walked the schema and the init object for every offer
    // (hundreds of thousands in a 50,000-agent fill). test/master/offers.test.ts checks the
    // result equals create()'s.
    const offer: Offer = {
      $typeName: "dcos.v1.Offer",
      id: { $typeName: "dcos.v1.OfferID", value: offerId },
      frameworkId: ids.framework(d.frameworkId),
      agentId: ids.agent(d.agentId),
      hostname: agent.info.hostname,
      resources: d.resources,
      attributes: agent.info.attributes,
      executorIds,
      offeredAtMs: core.now(),
    };
    // Unset, not undefined, as create() leaves a message field nobody set.
    const unavailability = unavailabilityOf(core, agent);
    if (unavailability) offer.unavailability = unavailability;
    const timeout = core.options.offerTimeoutMs;
    const timer = timeout > 0 ? core.host.delay(timeout, () => core.rescindOffer(offerId, `it was not used within ${timeout} ms`)) : undefined;
    core.offers.add(offer, timer);
    let batch = batches.get(d.frameworkId);
    if (!batch) batches.set(d.frameworkId, (batch = []));
    batch.push(offer);
  }
  for (const [frameworkId, offers] of batches) {
    offersMade(core, offers);
    core.emit(core.frameworks.get(frameworkId)!, { case: "offers", value: { $typeName: "dcos.v1.Event.Offers", offers } });
    core.offersHeldChanged(frameworkId);
  }
}
