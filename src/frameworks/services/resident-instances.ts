/**
 * The services leader's decisions for resident apps (residency.ts): which instance
 * relaunches on which reservation, when a reservation is released, and what an offer
 * batch lets us do — relaunch in place, reserve + create for a new instance, destroy +
 * unreserve what is released or unknown. Every decision is an op written to the fenced
 * state before the ACCEPT that acts on it (the scheduler writes, then accepts).
 *
 * What a reservation's state means across a leader failover:
 * - `reserving`: the ACCEPT (RESERVE + CREATE + LAUNCH) may or may not have reached the
 *   master. Seeing its labelled resources in an offer, or a status of its task from the
 *   agent, confirms it (`reserved`). A DROPPED task (invalid offers: nothing applied)
 *   forgets it; so does an agent that keeps offering without it for `confirmTimeoutMs`
 *   while no instance runs on it.
 * - `reserved`: exists; a free one (no instance) waits for its agent's offer and its
 *   instance is relaunched there (WAIT_FOREVER), or after relaunchEscalationTimeoutSeconds
 *   is released and replaced elsewhere (RELAUNCH_AFTER_TIMEOUT).
 * - `releasing`: destroyed and unreserved at its agent's next offer (once no task uses it);
 *   forgotten when an offer of its agent no longer shows it.
 * Labelled resources of this framework that no reservation record names (a release whose
 * ACCEPT failed) are destroyed and unreserved when offered: nothing leaks.
 */
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { OperationInit } from "../../actors/scheduler-driver/driver.js";
import { Resources } from "../../resources/index.js";
import type { Logger } from "../../runtime/log.js";
import type { AppSpec } from "./app-definition.js";
import type { Demand, PlannedLaunch } from "./launch-round.js";
import {
  labelledResources,
  persistenceId,
  releaseOperations,
  reserveResources,
  taskResources,
  volumeResources,
  type Reservation,
  type ReservationOwner,
} from "./residency.js";
import { TERMINAL, type Instance, type InstanceState, type ServicesOp, type ServicesState } from "./services-state.js";

export interface ResidentOptions {
  role: string;
  principal: string;
  /** The framework id (labels); undefined before the first subscription. */
  frameworkId(): string | undefined;
  spec(appId: string): AppSpec | undefined;
  /** Whether the app is being removed. */
  removing(appId: string): boolean;
  logger: Logger;
  /** How long a `reserving` reservation may be missing from its agent's offers before it is taken for never made (default 30 s). */
  confirmTimeoutMs?: number;
}

/** A task to launch on a reservation, with what the ACCEPT must do first. */
export interface ResidentLaunch {
  instance: Instance;
  resources: Resource[];
  /** RESERVE/CREATE operations that come before the LAUNCH. */
  operations: OperationInit[];
}

/** What one offer batch lets us do for resident apps, per agent. */
export interface ResidentOfferWork {
  /** Ops to write before any ACCEPT (new instances, reservation updates). */
  ops: ServicesOp[];
  /** Per agent: the offers to accept, operations before launches (DESTROY, UNRESERVE, CREATE), and tasks to launch. */
  agents: Map<string, { offers: Offer[]; operations: OperationInit[]; launches: ResidentLaunch[] }>;
}

/** Task states that prove the ACCEPT reached the agent (so its RESERVE and CREATE were applied). */
const CONFIRMING: ReadonlySet<InstanceState> = new Set(["staging", "starting", "running", "killing", "finished", "failed", "killed", "unreachable"]);

export class ResidentInstances {
  /** Reservation id → the version to relaunch on it (decided by the last tick). */
  private relaunch = new Map<string, string>();
  /** `reserving` reservations missing from their agent's offers since (ms). */
  private readonly absentSince = new Map<string, number>();
  /** Reserved, free reservations: free since (ms), for RELAUNCH_AFTER_TIMEOUT. */
  private readonly freeSince = new Map<string, number>();
  /** This tick's bound reservations and non-released reservations by app (demand() runs inside the tick). */
  private tickBound: Set<string> | undefined;
  private tickByApp: Map<string, Reservation[]> | undefined;
  /** Released by decisions of this tick, not written yet. */
  private readonly released = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly state: () => ServicesState,
    private readonly options: ResidentOptions,
  ) {
    this.log = options.logger;
  }

  private owner(): ReservationOwner | undefined {
    const frameworkId = this.options.frameworkId();
    return frameworkId ? { role: this.options.role, principal: this.options.principal, frameworkId } : undefined;
  }

  /** Reservation ids an instance (not yet gone) runs on. */
  private bound(): Set<string> {
    const out = new Set<string>();
    if (this.state().reservations.size === 0) return out;
    for (const i of this.state().instances.values()) if (i.reservationId && !TERMINAL.has(i.state)) out.add(i.reservationId);
    return out;
  }

  private byApp(appId: string): Reservation[] {
    return [...this.state().reservations.values()].filter((r) => r.appId === appId);
  }

  /** Reservations an instance waits to relaunch on (no fitting offer of their agent yet). */
  waitingRelaunches(): Reservation[] {
    return [...this.relaunch.keys()].flatMap((id) => this.state().reservations.get(id) ?? []);
  }

  /** Agents whose offers resident work waits for: relaunches, releases, confirmations. */
  agentsWaiting(): Set<string> {
    const out = new Set<string>();
    const s = this.state();
    if (s.reservations.size === 0) return out;
    const bound = this.bound();
    for (const r of s.reservations.values()) {
      if (this.relaunch.has(r.id) || r.state === "releasing" || (r.state === "reserving" && !bound.has(r.id))) out.add(r.agentId);
    }
    return out;
  }

  /**
   * Each planning tick, before demands: releases reservations beyond an app's instance
   * count (free ones; every one of a removed app), and free ones past their relaunch
   * escalation timeout (RELAUNCH_AFTER_TIMEOUT). Returns the ops to write.
   */
  tick(now: number): ServicesOp[] {
    this.relaunch = new Map();
    this.tickBound = undefined;
    this.tickByApp = undefined;
    this.released.clear();
    const s = this.state();
    if (s.reservations.size === 0) return [];
    const ops: ServicesOp[] = [];
    const bound = (this.tickBound = this.bound());
    const apps = new Map<string, Reservation[]>();
    for (const r of s.reservations.values()) {
      if (r.state === "releasing") continue;
      let list = apps.get(r.appId);
      if (!list) apps.set(r.appId, (list = []));
      list.push(r);
    }
    this.tickByApp = apps;
    for (const id of this.freeSince.keys()) if (!s.reservations.has(id) || bound.has(id)) this.freeSince.delete(id);
    for (const [appId, list] of apps) {
      const spec = this.options.spec(appId);
      const wanted = spec?.residency && !this.options.removing(appId) ? spec.instances : 0;
      const free = list.filter((r) => !bound.has(r.id)).sort((a, b) => (a.state === b.state ? b.createdAt - a.createdAt : a.state === "reserving" ? -1 : 1));
      let extra = list.length - wanted;
      for (const r of free) {
        if (extra <= 0) break;
        ops.push(this.release(r, wanted === 0 ? "the app is removed" : `the app needs ${wanted} instance(s)`));
        extra--;
      }
      if (!spec?.residency || spec.residency.taskLostBehavior !== "RELAUNCH_AFTER_TIMEOUT") continue;
      for (const r of free) {
        if (r.state !== "reserved" || ops.some((o) => o.t === "updateReservation" && o.id === r.id)) continue;
        const since = this.freeSince.get(r.id) ?? now;
        this.freeSince.set(r.id, since);
        if (now - since >= spec.residency.relaunchEscalationTimeoutSeconds * 1000) {
          ops.push(this.release(r, `not relaunched on agent ${r.agentId} within relaunchEscalationTimeoutSeconds`));
        }
      }
    }
    return ops;
  }

  private release(r: Reservation, reason: string): ServicesOp {
    this.released.add(r.id);
    this.log.info({ reservation: r.id, app: r.appId, agent: r.agentId, reason }, `Releasing reservation ${r.id} of ${r.appId}: ${reason}`);
    return { t: "updateReservation", id: r.id, patch: { state: "releasing", reason } };
  }

  /**
   * An app's launch demand (after backoff and dependencies) split for a resident app:
   * instances relaunch on its free reservations first (remembered for the offers); only
   * what is left, up to the app's instance count, needs new reservations — returned as
   * the demand for unreserved resources ("*"), or undefined.
   */
  demand(d: Demand): Demand | undefined {
    if (!d.spec.residency) return d;
    // The tick's index (one pass over instances and reservations per tick, not per app); releases it decided are excluded below.
    const bound = this.tickBound ?? this.bound();
    const list = (this.tickByApp?.get(d.appId) ?? this.byApp(d.appId)).filter((r) => r.state !== "releasing" && !this.released.has(r.id));
    const free = list.filter((r) => !bound.has(r.id)).sort((a, b) => a.createdAt - b.createdAt);
    const relaunch = free.slice(0, d.count);
    for (const r of relaunch) this.relaunch.set(r.id, d.version);
    const fresh = Math.min(d.count - relaunch.length, Math.max(0, d.spec.instances - list.length));
    return fresh > 0 ? { ...d, count: fresh, roles: ["*"] } : undefined;
  }

  /** Ops for the reservations of instances killed for good (scale-down, wipe, removal). */
  releaseFor(instances: readonly Instance[], reason: string): ServicesOp[] {
    const ops: ServicesOp[] = [];
    for (const i of instances) {
      const r = i.reservationId ? this.state().reservations.get(i.reservationId) : undefined;
      if (r && r.state !== "releasing") ops.push(this.release(r, reason));
    }
    return ops;
  }

  /** Ops a task status implies for its instance's reservation: confirmed, or never made. */
  statusOps(i: Instance | undefined, state: InstanceState, invalidOffers: boolean): ServicesOp[] {
    const r = i?.reservationId ? this.state().reservations.get(i.reservationId) : undefined;
    if (!r || r.state !== "reserving") return [];
    if (CONFIRMING.has(state)) return [{ t: "updateReservation", id: r.id, patch: { state: "reserved" } }];
    if (state === "dropped" && invalidOffers) {
      this.log.info({ reservation: r.id }, `Reservation ${r.id} was never made (its offers were invalid); forgetting it`);
      return [{ t: "removeReservation", id: r.id }];
    }
    return [];
  }

  /**
   * A new instance on unreserved resources a launch round planned: its reservation
   * (`reservationId`, written before the ACCEPT with the instance), and the RESERVE and
   * CREATE that come before its LAUNCH.
   */
  reserve(l: PlannedLaunch, spec: AppSpec, reservationId: string, now: number): { reservation: Reservation; launch: ResidentLaunch } | undefined {
    const owner = this.owner();
    if (!owner) return undefined;
    const reservation: Reservation = {
      id: reservationId,
      appId: l.appId,
      agentId: l.agentId,
      host: l.host,
      ports: l.ports,
      volumes: spec.persistentVolumes.map((v) => ({ id: persistenceId(reservationId, v.containerPath), containerPath: v.containerPath, size: v.size })),
      state: "reserving",
      launches: 1,
      createdAt: now,
    };
    const reserved = reserveResources(l.resources, owner, reservationId);
    const volumes = volumeResources(reservation.volumes, owner, reservationId);
    return {
      reservation,
      launch: {
        instance: this.instanceOn(reservation, l.version, 1, now),
        resources: taskResources(reserved, volumes),
        operations: [{ kind: { case: "reserve", value: { resources: reserved } } }, { kind: { case: "create", value: { volumes } } }],
      },
    };
  }

  private instanceOn(r: Reservation, version: string, incarnation: number, now: number): Instance {
    return {
      id: `${r.id}._app.${incarnation}`,
      appId: r.appId,
      version,
      agentId: r.agentId,
      host: r.host,
      ports: r.ports,
      state: "provisioned",
      goal: "running",
      stagedAt: now,
      volumeIds: r.volumes.map((v) => v.id),
      reservationId: r.id,
    };
  }

  /**
   * One offer batch: confirm reservations seen, relaunch free ones the last tick asked
   * for (creating a volume that is missing), destroy + unreserve released and unknown
   * ones, and forget released or never-made ones their agent no longer offers.
   */
  offers(offers: readonly Offer[], now: number): ResidentOfferWork {
    const work: ResidentOfferWork = { ops: [], agents: new Map() };
    const owner = this.owner();
    const s = this.state();
    if (!owner) return work;
    const labelled = labelledResources(offers, owner.frameworkId);
    if (labelled.size === 0 && s.reservations.size === 0) return work;
    const bound = this.bound();
    const agentsOffering = new Set(offers.map((o) => o.agentId?.value ?? ""));
    const agent = (id: string) => {
      let a = work.agents.get(id);
      if (!a) work.agents.set(id, (a = { offers: [], operations: [], launches: [] }));
      return a;
    };
    const use = (agentId: string, used: readonly Offer[]) => {
      const a = agent(agentId);
      for (const o of used) if (!a.offers.includes(o)) a.offers.push(o);
      return a;
    };
    for (const [id, found] of labelled) {
      const r = s.reservations.get(id);
      if (r && r.state !== "releasing") {
        this.absentSince.delete(id);
        if (r.state === "reserving") work.ops.push({ t: "updateReservation", id, patch: { state: "reserved" } });
        const version = this.relaunch.get(id);
        if (version === undefined || bound.has(id)) continue;
        const launch = this.relaunchOn(r, found.resources, version, owner, now);
        if (!launch) continue;
        this.relaunch.delete(id);
        work.ops.push({ t: "addInstance", i: launch.instance }, { t: "updateReservation", id, patch: { launches: r.launches + 1, state: "reserved" } });
        use(found.agentId, found.offers).launches.push(launch);
        continue;
      }
      if (r && bound.has(id)) continue; // released, but its task still runs: after it ends
      const { destroy, unreserve } = releaseOperations(found.resources);
      this.log.info({ reservation: id, agent: found.agentId, known: r !== undefined }, `Destroying and unreserving ${r ? "released" : "unknown"} reservation ${id} on agent ${found.agentId}`);
      const a = use(found.agentId, found.offers);
      if (destroy.length > 0) a.operations.push({ kind: { case: "destroy", value: { volumes: destroy } } });
      a.operations.push({ kind: { case: "unreserve", value: { resources: unreserve } } });
    }
    // Reservations their agent offers without: released ones are gone; never-made ones are forgotten.
    for (const r of s.reservations.values()) {
      if (labelled.has(r.id) || bound.has(r.id) || !agentsOffering.has(r.agentId)) continue;
      if (r.state === "releasing") {
        work.ops.push({ t: "removeReservation", id: r.id });
        this.log.info({ reservation: r.id, app: r.appId }, `Reservation ${r.id} of ${r.appId} is released`);
      } else if (r.state === "reserving") {
        const since = this.absentSince.get(r.id) ?? now;
        this.absentSince.set(r.id, since);
        if (now - since >= (this.options.confirmTimeoutMs ?? 30_000)) {
          this.absentSince.delete(r.id);
          work.ops.push({ t: "removeReservation", id: r.id });
          this.log.warn({ reservation: r.id, app: r.appId, agent: r.agentId }, `Reservation ${r.id} of ${r.appId} never appeared in agent ${r.agentId}'s offers; taking it for never made`);
        }
      }
    }
    return work;
  }

  /** The relaunch of an instance on its reservation's resources as offered, or undefined if they are not all there. */
  private relaunchOn(r: Reservation, offered: readonly Resource[], version: string, owner: ReservationOwner, now: number): ResidentLaunch | undefined {
    const spec = this.options.spec(r.appId);
    if (!spec) return undefined;
    const have = Resources.of(offered);
    if (have.scalar("cpus") + 1e-9 < spec.cpus || have.scalar("mem") + 1e-9 < spec.mem) return undefined;
    const ports = new Set(have.ports().flatMap((p) => Array.from({ length: p.end - p.begin + 1 }, (_, k) => p.begin + k)));
    if (!r.ports.every((p) => ports.has(p))) return undefined;
    const present = new Set(offered.flatMap((x) => (x.disk?.persistence ? [x.disk.persistence.id] : [])));
    const missing = r.volumes.filter((v) => !present.has(v.id));
    const create = volumeResources(missing, owner, r.id);
    const plainDisk = Resources.of(offered.filter((x) => x.name === "disk" && !x.disk?.persistence)).scalar("disk");
    if (missing.reduce((a, v) => a + v.size, 0) > plainDisk + 1e-9) return undefined;
    if (missing.length > 0) this.log.info({ reservation: r.id, volumes: missing.map((v) => v.id) }, `Creating missing volume(s) of reservation ${r.id}`);
    return {
      instance: this.instanceOn(r, version, r.launches + 1, now),
      resources: taskResources(offered, create),
      operations: missing.length > 0 ? [{ kind: { case: "create", value: { volumes: create } } }] : [],
    };
  }
}
