/**
 * Fitting app instances into offers, pure: an offer becomes a pool of what is left of
 * it; `take` cuts one instance's resources (scalars and ports, from the roles the app
 * accepts) out of the pool or says why it cannot, in Marathon's reason names
 * (InsufficientCpus, InsufficientMemory, InsufficientDisk, InsufficientGpus,
 * InsufficientPorts, UnfulfilledRole, UnfulfilledConstraint).
 */
import { Value_Type } from "../../gen/dcos/v1/common_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { reservationRole, withRanges, withScalar } from "../../resources/resource.js";
import { normalizeRanges, subtractRanges, type Interval } from "../../resources/ranges.js";
import { fromMillis, toMillis } from "../../resources/scalar.js";
import type { AppSpec } from "./app-definition.js";
import { violatedConstraint, type Placement } from "./constraints.js";
import { isLabelledReservation } from "./residency.js";

export type DeclineReason =
  | "InsufficientCpus"
  | "InsufficientMemory"
  | "InsufficientDisk"
  | "InsufficientGpus"
  | "InsufficientPorts"
  | "UnfulfilledRole"
  | "UnfulfilledConstraint"
  /** The offer's agent is being drained or has maintenance scheduled: no new instance goes there. */
  | "AgentMaintenance";

export const DECLINE_REASONS: readonly DeclineReason[] = [
  "AgentMaintenance",
  "UnfulfilledRole",
  "UnfulfilledConstraint",
  "InsufficientCpus",
  "InsufficientMemory",
  "InsufficientDisk",
  "InsufficientGpus",
  "InsufficientPorts",
];

interface Piece {
  resource: Resource;
  role: string;
  /** Scalars in millis left; ranges left. */
  millis: number;
  ranges: Interval[];
}

/** What is left of one offer while instances are fitted into it. */
export class OfferPool {
  readonly placement: Placement;
  private readonly pieces: Piece[];

  constructor(readonly offer: Offer) {
    const attributes: Record<string, string> = {};
    for (const a of offer.attributes) {
      attributes[a.name] =
        a.type === Value_Type.TEXT ? (a.text?.value ?? "") : a.type === Value_Type.SCALAR ? String(a.scalar?.value ?? 0) : a.type === Value_Type.SET ? (a.set?.item ?? []).join(",") : "";
    }
    this.placement = { hostname: offer.hostname, attributes };
    this.pieces = offer.resources
      // Volumes and labelled reservations belong to resident instances (resident-instances.ts), never to other launches.
      .filter((r) => !r.disk?.persistence && !isLabelledReservation(r))
      .map((r) => ({
        resource: r,
        role: reservationRole(r),
        millis: r.type === Value_Type.SCALAR ? toMillis(r.scalar?.value ?? 0) : 0,
        ranges: r.type === Value_Type.RANGES ? normalizeRanges((r.ranges?.range ?? []).map((x) => ({ begin: Number(x.begin), end: Number(x.end) }))) : [],
      }));
  }

  get agentId(): string {
    return this.offer.agentId?.value ?? "";
  }

  /**
   * Takes one instance's resources, or names why it does not fit. `roles`: the roles whose
   * resources the app accepts. `placed`: the app's live instances (for constraints).
   */
  take(spec: AppSpec, roles: readonly string[], placed: readonly Placement[]): { resources: Resource[]; ports: number[] } | { reason: DeclineReason; detail: string } {
    const usable = this.pieces.filter((p) => roles.includes(p.role));
    if (usable.length === 0) return { reason: "UnfulfilledRole", detail: `no resources of the roles ${roles.join(", ")}` };
    const c = violatedConstraint(spec.constraints, this.placement, placed);
    if (c) return { reason: "UnfulfilledConstraint", detail: `constraint ${JSON.stringify(c)} is not met on ${this.placement.hostname}` };
    const want: [string, number, DeclineReason][] = [
      ["cpus", spec.cpus, "InsufficientCpus"],
      ["mem", spec.mem, "InsufficientMemory"],
      ["disk", spec.disk + spec.persistentVolumes.reduce((a, v) => a + v.size, 0), "InsufficientDisk"],
      ["gpus", spec.gpus, "InsufficientGpus"],
    ];
    for (const [name, amount, reason] of want) {
      if (amount <= 0) continue;
      const have = usable.filter((p) => p.resource.name === name).reduce((a, p) => a + p.millis, 0);
      if (have < toMillis(amount)) return { reason, detail: `${name} ${fromMillis(have)} < ${amount}` };
    }
    const ports = this.choosePorts(spec, usable);
    if (!ports) return { reason: "InsufficientPorts", detail: `cannot get ${spec.ports.length} port(s)${spec.requirePorts ? ` ${spec.ports.map((p) => p.port).join(",")}` : ""}` };
    // It fits: cut the pieces.
    const resources: Resource[] = [];
    for (const [name, amount] of want) {
      let left = toMillis(amount);
      for (const p of usable) {
        if (left <= 0) break;
        if (p.resource.name !== name || p.millis <= 0) continue;
        const t = Math.min(left, p.millis);
        p.millis -= t;
        left -= t;
        resources.push(withScalar(p.resource, fromMillis(t)));
      }
    }
    for (const port of ports.values) {
      const p = ports.from.get(port)!;
      p.ranges = subtractRanges(p.ranges, [{ begin: port, end: port }]);
      resources.push(withRanges(p.resource, [{ begin: port, end: port }]));
    }
    return { resources, ports: ports.values };
  }

  private choosePorts(spec: AppSpec, usable: Piece[]): { values: number[]; from: Map<number, Piece> } | undefined {
    const portPieces = usable.filter((p) => p.resource.name === "ports");
    const from = new Map<number, Piece>();
    const values: number[] = [];
    const has = (port: number) => portPieces.find((p) => p.ranges.some((r) => r.begin <= port && port <= r.end));
    const fixedWanted = spec.ports.filter((p) => p.port !== 0 && (spec.requirePorts || spec.docker?.network === "BRIDGE"));
    for (const p of fixedWanted) {
      const piece = has(p.port);
      if (!piece || from.has(p.port)) return undefined;
      from.set(p.port, piece);
    }
    for (const p of spec.ports) {
      if (p.port !== 0 && (spec.requirePorts || spec.docker?.network === "BRIDGE")) {
        values.push(p.port);
        continue;
      }
      let chosen: number | undefined;
      for (const piece of portPieces) {
        for (const r of piece.ranges) {
          for (let x = r.begin; x <= r.end; x++) {
            if (!from.has(x)) {
              chosen = x;
              from.set(x, piece);
              break;
            }
          }
          if (chosen !== undefined) break;
        }
        if (chosen !== undefined) break;
      }
      if (chosen === undefined) return undefined;
      values.push(chosen);
    }
    return { values, from };
  }
}
