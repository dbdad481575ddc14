/**
 * The services framework's durable state: apps (with their versions), instances (which
 * task on which agent belongs to which app version) and deployments. Changed only by
 * ops written to the fenced state store first (src/frameworks/common/state-store.ts),
 * then applied here deterministically.
 */
import type { StateMachine } from "../common/state-store.js";
import type { AppJson } from "./app-definition.js";
import type { Reservation } from "./residency.js";

/** Where an instance is in its life (Marathon's condition names, lowercased). */
export type InstanceState =
  | "provisioned"
  | "staging"
  | "starting"
  | "running"
  | "killing"
  | "unreachable"
  | "finished"
  | "failed"
  | "killed"
  | "error"
  | "lost"
  | "gone"
  | "dropped"
  | "unknown";

export const TERMINAL: ReadonlySet<InstanceState> = new Set(["finished", "failed", "killed", "error", "lost", "gone", "dropped", "unknown"]);

export interface Instance {
  /** The task id (one task per instance). */
  id: string;
  appId: string;
  /** The app version it runs. */
  version: string;
  agentId: string;
  host: string;
  ports: number[];
  state: InstanceState;
  /** Whether the instance should run; "stopped" once a kill was decided (written before the kill). */
  goal: "running" | "stopped";
  /** The executor's health check result (TaskStatus.healthy). */
  healthy?: boolean;
  /** Whether every health check the scheduler runs passes (instance-checks.ts); unset until all have a result. */
  checksHealthy?: boolean;
  /** When the instance was launched (ms). */
  stagedAt: number;
  startedAt?: number;
  unreachableSince?: number;
  message?: string;
  /** For resident apps: the persistent volumes' ids on agentId (relaunched there). */
  volumeIds?: string[];
  /** For resident apps: the reservation (residency.ts) this instance's task runs on. */
  reservationId?: string;
}

export interface Deployment {
  id: string;
  appId: string;
  /** The app version the deployment brings (for a stop: the version being removed). */
  version: string;
  /** The version before it (for rollback). */
  previousVersion?: string;
  kind: "start" | "scale" | "restart" | "stop";
  startedAt: number;
  /** Fails at this instant (ms) unless done; undefined: no deadline. */
  deadlineAt?: number;
  /** Roll back to previousVersion when it fails. */
  rollback: boolean;
  /** Set when this deployment is itself a rollback of another. */
  rollbackOf?: string;
}

export interface ServicesState {
  apps: Map<string, AppJson>;
  /** App id → version timestamp → definition (the last MAX_VERSIONS). */
  versions: Map<string, Map<string, AppJson>>;
  instances: Map<string, Instance>;
  deployments: Map<string, Deployment>;
  /** App ids being removed (kill everything, then forget). */
  removing: Set<string>;
  /** App id → its instances (an index kept by apply). */
  byApp: Map<string, Map<string, Instance>>;
  /** Reservations of resident apps (reserved resources and persistent volumes on one agent), by id. */
  reservations: Map<string, Reservation>;
}

export type ServicesOp =
  | { t: "putApp"; app: AppJson }
  | { t: "removeApp"; id: string }
  | { t: "markRemoving"; id: string }
  | { t: "putDeployment"; d: Deployment }
  | { t: "removeDeployment"; id: string }
  | { t: "addInstance"; i: Instance }
  | { t: "updateInstance"; id: string; patch: Partial<Instance> }
  | { t: "removeInstance"; id: string }
  | { t: "putReservation"; r: Reservation }
  | { t: "updateReservation"; id: string; patch: Partial<Reservation> }
  | { t: "removeReservation"; id: string };

export const MAX_VERSIONS = 20;

export const servicesMachine: StateMachine<ServicesState, ServicesOp> = {
  empty: () => ({ apps: new Map(), versions: new Map(), instances: new Map(), deployments: new Map(), removing: new Set(), byApp: new Map(), reservations: new Map() }),
  apply(s, op) {
    switch (op.t) {
      case "putApp": {
        const id = String(op.app["id"]);
        s.apps.set(id, op.app);
        s.removing.delete(id);
        let versions = s.versions.get(id);
        if (!versions) s.versions.set(id, (versions = new Map()));
        versions.set(String(op.app["version"]), op.app);
        while (versions.size > MAX_VERSIONS) versions.delete(versions.keys().next().value!);
        return;
      }
      case "markRemoving":
        s.removing.add(op.id);
        return;
      case "removeApp":
        s.apps.delete(op.id);
        s.versions.delete(op.id);
        s.removing.delete(op.id);
        return;
      case "putDeployment":
        s.deployments.set(op.d.id, op.d);
        return;
      case "removeDeployment":
        s.deployments.delete(op.id);
        return;
      case "addInstance": {
        s.instances.set(op.i.id, op.i);
        let m = s.byApp.get(op.i.appId);
        if (!m) s.byApp.set(op.i.appId, (m = new Map()));
        m.set(op.i.id, op.i);
        return;
      }
      case "updateInstance": {
        const i = s.instances.get(op.id);
        if (i) Object.assign(i, op.patch);
        return;
      }
      case "removeInstance": {
        const i = s.instances.get(op.id);
        if (!i) return;
        s.instances.delete(op.id);
        const m = s.byApp.get(i.appId);
        m?.delete(op.id);
        if (m && m.size === 0) s.byApp.delete(i.appId);
        return;
      }
      case "putReservation":
        s.reservations.set(op.r.id, op.r);
        return;
      case "updateReservation": {
        const r = s.reservations.get(op.id);
        if (r) Object.assign(r, op.patch);
        return;
      }
      case "removeReservation":
        s.reservations.delete(op.id);
        return;
    }
  },
  snapshot(s) {
    const ops: ServicesOp[] = [];
    for (const [id, versions] of s.versions) {
      for (const app of versions.values()) if (app !== s.apps.get(id)) ops.push({ t: "putApp", app });
      const current = s.apps.get(id);
      if (current) ops.push({ t: "putApp", app: current });
    }
    for (const id of s.removing) ops.push({ t: "markRemoving", id });
    for (const d of s.deployments.values()) ops.push({ t: "putDeployment", d });
    for (const i of s.instances.values()) ops.push({ t: "addInstance", i });
    for (const r of s.reservations.values()) ops.push({ t: "putReservation", r });
    return ops;
  },
};

/** The app's instances (any state). */
export function instancesOf(s: ServicesState, appId: string): Instance[] {
  const m = s.byApp.get(appId);
  return m ? [...m.values()] : [];
}
