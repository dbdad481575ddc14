/**
 * One round of fitting waiting instances into offers, pure: apps in the given order take
 * what they need from each offer (constraints see the instances placed earlier in the
 * round), and every app that could not use an offer counts why — what /v2/queue shows.
 */
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { AppSpec } from "./app-definition.js";
import type { Placement } from "./constraints.js";
import { OfferPool, type DeclineReason } from "./offer-match.js";

export interface Demand {
  appId: string;
  spec: AppSpec;
  version: string;
  count: number;
  /** Roles whose resources the app accepts. */
  roles: readonly string[];
  /** Where the app's live instances are (for constraints). */
  placed: Placement[];
}

export interface PlannedLaunch {
  offer: Offer;
  appId: string;
  version: string;
  agentId: string;
  host: string;
  resources: Resource[];
  ports: number[];
}

export interface OfferStats {
  processed: number;
  unused: number;
  reasons: Partial<Record<DeclineReason, number>>;
  /** The last reason's detail, for humans. */
  lastDetail?: string;
}

export interface RoundResult {
  launches: PlannedLaunch[];
  /** Offers nothing was launched on. */
  unused: Offer[];
  stats: Map<string, OfferStats>;
}

export function launchRound(demands: readonly Demand[], offers: readonly Offer[]): RoundResult {
  const launches: PlannedLaunch[] = [];
  const unused: Offer[] = [];
  const stats = new Map<string, OfferStats>();
  const left = new Map(demands.map((d) => [d.appId, d.count]));
  const placed = new Map(demands.map((d) => [d.appId, [...d.placed]]));
  for (const offer of offers) {
    const pool = new OfferPool(offer);
    let used = false;
    for (const d of demands) {
      let n = left.get(d.appId) ?? 0;
      if (n <= 0) continue;
      const s = stats.get(d.appId) ?? { processed: 0, unused: 0, reasons: {} };
      stats.set(d.appId, s);
      s.processed++;
      let launchedHere = 0;
      while (n > 0) {
        const r = pool.take(d.spec, d.roles, placed.get(d.appId)!);
        if ("reason" in r) {
          if (launchedHere === 0) {
            s.unused++;
            s.reasons[r.reason] = (s.reasons[r.reason] ?? 0) + 1;
            s.lastDetail = r.detail;
          }
          break;
        }
        launches.push({ offer, appId: d.appId, version: d.version, agentId: pool.agentId, host: offer.hostname, resources: r.resources, ports: r.ports });
        placed.get(d.appId)!.push(pool.placement);
        n--;
        launchedHere++;
        used = true;
      }
      left.set(d.appId, n);
    }
    if (!used) unused.push(offer);
  }
  return { launches, unused, stats };
}
