/**
 * Outstanding offers, indexed by id, framework and agent. An offer leaves the book when it
 * is accepted, declined, rescinded or times out; whoever removes it decides what happens
 * to its resources.
 */
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import { Quantities } from "../../resources/index.js";
import type { Timer } from "../../runtime/clock.js";
import { addResources } from "./counts.js";

interface Entry {
  offer: Offer;
  timer: Timer | undefined;
}

function index(map: Map<string, Set<string>>, key: string): Set<string> {
  let s = map.get(key);
  if (!s) map.set(key, (s = new Set()));
  return s;
}

export class OfferBook {
  private readonly offers = new Map<string, Entry>();
  private readonly byFramework = new Map<string, Set<string>>();
  private readonly byAgent = new Map<string, Set<string>>();
  /** Scalar resources in outstanding offers (kept as offers come and go: master/<r>_offered). */
  readonly offered = new Quantities();

  get size(): number {
    return this.offers.size;
  }

  add(offer: Offer, timer?: Timer): void {
    const id = offer.id!.value;
    this.remove(id);
    this.offers.set(id, { offer, timer });
    addResources(this.offered, offer.resources);
    index(this.byFramework, offer.frameworkId!.value).add(id);
    index(this.byAgent, offer.agentId!.value).add(id);
  }

  get(id: string): Offer | undefined {
    return this.offers.get(id)?.offer;
  }

  /** Takes the offer out of the book (cancelling its timeout); undefined if it is not there. */
  remove(id: string): Offer | undefined {
    const e = this.offers.get(id);
    if (!e) return undefined;
    e.timer?.cancel();
    this.offers.delete(id);
    addResources(this.offered, e.offer.resources, -1);
    const fw = e.offer.frameworkId!.value;
    const ag = e.offer.agentId!.value;
    this.byFramework.get(fw)?.delete(id);
    if (this.byFramework.get(fw)?.size === 0) this.byFramework.delete(fw);
    this.byAgent.get(ag)?.delete(id);
    if (this.byAgent.get(ag)?.size === 0) this.byAgent.delete(ag);
    return e.offer;
  }

  /** Every outstanding offer. */
  *values(): IterableIterator<Offer> {
    for (const e of this.offers.values()) yield e.offer;
  }

  *all(): IterableIterator<Offer> {
    for (const e of this.offers.values()) yield e.offer;
  }

  /** How many outstanding offers the framework holds. */
  countOf(frameworkId: string): number {
    return this.byFramework.get(frameworkId)?.size ?? 0;
  }

  ofFramework(frameworkId: string): string[] {
    return [...(this.byFramework.get(frameworkId) ?? [])];
  }

  onAgent(agentId: string): string[] {
    return [...(this.byAgent.get(agentId) ?? [])];
  }
}
