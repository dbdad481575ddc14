/**
 * Resident apps (Marathon's stateful apps): an app with persistent local volumes
 * (`container.volumes: [{containerPath, mode: "RW", persistent: {size, type: "root"}}]`)
 * runs each instance on a reservation, on one agent, that outlives its tasks: the
 * instance's resources are dynamically reserved for the framework's role, labelled with
 * the framework id and the reservation id, and its volumes created on that reserved disk.
 * A task that ends is relaunched in place on the same reservation, so the volume's data
 * survives; scale-down and removal destroy the volumes and unreserve.
 *
 * This file is pure: the app JSON rules (defaults, validation, what may change), the
 * reservation record, and the protocol resources of RESERVE, CREATE, LAUNCH, DESTROY and
 * UNRESERVE. The decisions are in resident-instances.ts.
 */
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../gen/dcos/v1/common_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import { AllocationInfoSchema, DiskInfoSchema, ReservationInfo_Type, ReservationInfoSchema, ResourceSchema, Volume_Mode, type Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Resources } from "../../resources/index.js";
import type { Json } from "./app-json.js";

/** The reservation labels, Marathon's names: operators' tools recognise them. */
export const FRAMEWORK_LABEL = "marathon_framework_id";
export const RESERVATION_LABEL = "marathon_task_id";

export type TaskLostBehavior = "WAIT_FOREVER" | "RELAUNCH_AFTER_TIMEOUT";

export interface ResidencySpec {
  relaunchEscalationTimeoutSeconds: number;
  taskLostBehavior: TaskLostBehavior;
}

export interface ReservedVolume {
  /** The persistence id (unique on the agent). */
  id: string;
  containerPath: string;
  /** MiB. */
  size: number;
}

/**
 * - reserving: written before the ACCEPT that reserves; not yet seen to exist.
 * - reserved: seen (in an offer, or its task reached the agent).
 * - releasing: to be destroyed and unreserved at the next offer of its agent.
 */
export type ReservationState = "reserving" | "reserved" | "releasing";

/** One resident instance's reservation on one agent (kept in the services state). */
export interface Reservation {
  /** The value of the RESERVATION_LABEL; the instance's task ids are `<id>._app.<n>`. */
  id: string;
  appId: string;
  agentId: string;
  host: string;
  /** Reserved ports, in the order of the app's port definitions ($PORT0…). */
  ports: number[];
  volumes: ReservedVolume[];
  state: ReservationState;
  /** Tasks launched on it so far (the next task id's incarnation). */
  launches: number;
  createdAt: number;
  /** Why it is being released. */
  reason?: string;
}

const isObj = (v: unknown): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);

/** The app's persistent volumes (objects with `persistent`) in its JSON. */
function persistentVolumesJson(app: { [k: string]: Json }): { [k: string]: Json }[] {
  const c = app["container"];
  if (!isObj(c) || !Array.isArray(c["volumes"])) return [];
  return c["volumes"].filter((v): v is { [k: string]: Json } => isObj(v) && v["persistent"] !== undefined && v["persistent"] !== null);
}

const MAX_VOLUME_MB = 1024 * 1024 * 1024;

/**
 * Marathon's rules for resident apps, applied by normalizeApp before its generic defaults:
 * volumes (RW, type root, size > 0, a container path that stays in the sandbox — one
 * relative path component for MESOS containers), `residency` defaults, upgradeStrategy
 * defaults {minimumHealthCapacity 0.5, maximumOverCapacity 0} with maximumOverCapacity
 * forced to 0, unreachableStrategy "disabled" unless given, accepted roles only "*".
 */
export function normalizeResidency(app: { [k: string]: Json }, bad: (path: string, error: string) => void): void {
  const c = app["container"];
  const docker = isObj(c) && (c["type"] === "DOCKER" || (c["type"] === undefined && isObj(c["docker"])));
  const volumes = persistentVolumesJson(app);
  const paths = new Set<string>();
  const allVolumes = isObj(c) && Array.isArray(c["volumes"]) ? c["volumes"] : [];
  allVolumes.forEach((v, i) => {
    if (!isObj(v) || v["persistent"] === undefined || v["persistent"] === null) return;
    const at = `/container/volumes(${i})`;
    const p = v["persistent"];
    if (!isObj(p)) return bad(`${at}/persistent`, "persistent must be an object {size, type}");
    p["type"] ??= "root";
    if (p["type"] !== "root") {
      bad(
        `${at}/persistent/type`,
        p["type"] === "path" || p["type"] === "mount"
          ? `persistent volume type '${p["type"]}' is not supported: agents here offer only their work disk (disk resources have no PATH or MOUNT source, as Mesos's extra disks would), so use type 'root' (a directory under the agent's work dir)`
          : `persistent volume type '${String(p["type"])}' is not supported: only 'root' (a directory on the agent's work disk)`,
      );
    }
    const size = p["size"];
    if (typeof size !== "number" || !Number.isFinite(size) || size <= 0 || size > MAX_VOLUME_MB) bad(`${at}/persistent/size`, "size must be a number of MiB greater than 0");
    v["mode"] ??= "RW";
    if (v["mode"] !== "RW") bad(`${at}/mode`, "a persistent volume must be mode RW");
    const path = v["containerPath"];
    if (typeof path !== "string" || path === "") return bad(`${at}/containerPath`, "containerPath is required");
    const parts = path.split("/");
    if (parts.includes("..") || path.includes("\0")) bad(`${at}/containerPath`, `containerPath '${path}' must not contain '..'`);
    else if (!docker && (path.includes("/") || path === ".")) {
      bad(`${at}/containerPath`, `containerPath '${path}' of a persistent volume must be one relative path component (it appears in the task's sandbox)`);
    } else if (docker && path === "/") bad(`${at}/containerPath`, "a persistent volume cannot be mounted at /");
    if (paths.has(path)) bad(`${at}/containerPath`, `two persistent volumes have containerPath '${path}'`);
    paths.add(path);
  });
  const residency = app["residency"];
  if (volumes.length === 0) {
    if (residency !== undefined && residency !== null) bad("/residency", "residency needs persistent volumes (container.volumes with persistent)");
    return;
  }
  const r = isObj(residency) ? residency : {};
  if (residency !== undefined && residency !== null && !isObj(residency)) bad("/residency", "residency must be an object");
  r["relaunchEscalationTimeoutSeconds"] ??= 3600;
  r["taskLostBehavior"] ??= "WAIT_FOREVER";
  const t = r["relaunchEscalationTimeoutSeconds"];
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) bad("/residency/relaunchEscalationTimeoutSeconds", "relaunchEscalationTimeoutSeconds must be a number >= 0");
  if (r["taskLostBehavior"] !== "WAIT_FOREVER" && r["taskLostBehavior"] !== "RELAUNCH_AFTER_TIMEOUT") {
    bad("/residency/taskLostBehavior", "taskLostBehavior must be WAIT_FOREVER or RELAUNCH_AFTER_TIMEOUT");
  }
  app["residency"] = r;
  const up = isObj(app["upgradeStrategy"]) ? app["upgradeStrategy"] : {};
  up["minimumHealthCapacity"] ??= 0.5;
  up["maximumOverCapacity"] ??= 0;
  if (up["maximumOverCapacity"] !== 0) {
    bad("/upgradeStrategy/maximumOverCapacity", "maximumOverCapacity must be 0 for resident apps (an instance is relaunched on its own reservation: there is no room for a second copy)");
  }
  app["upgradeStrategy"] = up;
  if (app["unreachableStrategy"] === undefined || app["unreachableStrategy"] === null) app["unreachableStrategy"] = "disabled";
  const roles = app["acceptedResourceRoles"];
  if (Array.isArray(roles) && roles.some((x) => x !== "*")) {
    bad("/acceptedResourceRoles", "a resident app reserves unreserved resources: acceptedResourceRoles may only be [\"*\"]");
  }
}

/** The typed residency of a normalized app, or undefined when it has no persistent volume. */
export function residencySpec(app: { [k: string]: Json }): ResidencySpec | undefined {
  if (persistentVolumesJson(app).length === 0) return undefined;
  const r = isObj(app["residency"]) ? app["residency"] : {};
  return {
    relaunchEscalationTimeoutSeconds: typeof r["relaunchEscalationTimeoutSeconds"] === "number" ? r["relaunchEscalationTimeoutSeconds"] : 3600,
    taskLostBehavior: r["taskLostBehavior"] === "RELAUNCH_AFTER_TIMEOUT" ? "RELAUNCH_AFTER_TIMEOUT" : "WAIT_FOREVER",
  };
}

/** Why a framework of `role` cannot run resident apps, or undefined. */
export function residentRoleProblem(role: string): string | undefined {
  return role === "*" || role === ""
    ? "persistent volumes need the services framework to subscribe with a role other than '*' (dcos-node services --mesos-role=NAME): resources cannot be reserved for '*'"
    : undefined;
}

/** What a resident app keeps for its life (the parts of an AppSpec, app-definition.ts, its reservations depend on). */
export interface ResidentShape {
  persistentVolumes: readonly { containerPath: string; size: number }[];
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  ports: readonly unknown[];
}

/** Why `next` cannot replace `prev` (resident apps keep their reserved resources and volumes), or undefined. */
export function residentChangeProblem(prev: ResidentShape, next: ResidentShape): { path: string; error: string } | undefined {
  const volumes = (s: ResidentShape) => JSON.stringify(s.persistentVolumes.map((v) => [v.containerPath, v.size]));
  if (volumes(prev) !== volumes(next)) {
    return { path: "/container/volumes", error: "the persistent volumes of an app cannot change (its instances' data lives on them); create a new app" };
  }
  if (prev.persistentVolumes.length === 0) return undefined;
  for (const k of ["cpus", "mem", "disk", "gpus"] as const) {
    if (prev[k] !== next[k]) return { path: `/${k}`, error: `${k} of a resident app cannot change: its instances run on reservations of ${prev[k]}` };
  }
  if (prev.ports.length !== next.ports.length) return { path: "/portDefinitions", error: "the number of ports of a resident app cannot change: its instances' ports are reserved" };
  return undefined;
}

// ---- protocol resources ----------------------------------------------------------------

export interface ReservationOwner {
  role: string;
  principal: string;
  frameworkId: string;
}

/** The reservation id a resource is labelled with, when it is this framework's; else undefined. */
export function reservationIdOf(r: Resource, frameworkId: string): string | undefined {
  const top = r.reservations.at(-1);
  if (!top || top.type !== ReservationInfo_Type.DYNAMIC) return undefined;
  const labels = top.labels?.labels ?? [];
  if (!labels.some((l) => l.key === FRAMEWORK_LABEL && l.value === frameworkId)) return undefined;
  return labels.find((l) => l.key === RESERVATION_LABEL)?.value;
}

/** Whether a resource carries a labelled dynamic reservation (some resident instance's: never used by other apps). */
export function isLabelledReservation(r: Resource): boolean {
  return (r.reservations.at(-1)?.labels?.labels.length ?? 0) > 0;
}

function reserveOne(r: Resource, owner: ReservationOwner, reservationId: string): Resource {
  const reservation = create(ReservationInfoSchema, {
    type: ReservationInfo_Type.DYNAMIC,
    role: owner.role,
    principal: owner.principal,
    labels: { labels: [{ key: FRAMEWORK_LABEL, value: owner.frameworkId }, { key: RESERVATION_LABEL, value: reservationId }] },
  });
  return create(ResourceSchema, { ...r, reservations: [...r.reservations, reservation], allocationInfo: create(AllocationInfoSchema, { role: owner.role }) });
}

/** What RESERVE names: the offered resources one instance takes (disk including its volumes), reserved and labelled. */
export function reserveResources(taken: readonly Resource[], owner: ReservationOwner, reservationId: string): Resource[] {
  return taken.map((r) => reserveOne(r, owner, reservationId));
}

/** What CREATE names: the volumes on the reservation's disk. */
export function volumeResources(volumes: readonly ReservedVolume[], owner: ReservationOwner, reservationId: string): Resource[] {
  return volumes.map((v) =>
    create(ResourceSchema, {
      ...reserveOne(create(ResourceSchema, { name: "disk", type: Value_Type.SCALAR, scalar: { value: v.size } }), owner, reservationId),
      disk: create(DiskInfoSchema, { persistence: { id: v.id, principal: owner.principal }, volume: { containerPath: v.containerPath, mode: Volume_Mode.RW } }),
    }),
  );
}

function withoutVolume(r: Resource): Resource {
  return create(ResourceSchema, { ...r, disk: undefined });
}

/** A task's resources on a reservation: everything reserved, with the volumes' share of the disk as the volumes. */
export function taskResources(reserved: readonly Resource[], volumes: readonly Resource[]): Resource[] {
  const plain = Resources.of(reserved.map((r) => (r.disk?.persistence ? withoutVolume(r) : r)));
  const present = reserved.filter((r) => r.disk?.persistence);
  const all = [...present, ...volumes.filter((v) => !present.some((p) => p.disk?.persistence?.id === v.disk?.persistence?.id))];
  return plain.subtract(Resources.of(all.map(withoutVolume))).add(Resources.of(all)).toProto();
}

/** What DESTROY and UNRESERVE name to give a reservation's resources back (volumes first destroyed). */
export function releaseOperations(reserved: readonly Resource[]): { destroy: Resource[]; unreserve: Resource[] } {
  const destroy = reserved.filter((r) => r.disk?.persistence);
  const unreserve = Resources.of(reserved.map((r) => (r.disk?.persistence ? withoutVolume(r) : r))).toProto();
  return { destroy, unreserve };
}

/** This framework's labelled resources in offers: reservation id → agent id, offers and resources. */
export function labelledResources(offers: readonly Offer[], frameworkId: string): Map<string, { agentId: string; offers: Offer[]; resources: Resource[] }> {
  const out = new Map<string, { agentId: string; offers: Offer[]; resources: Resource[] }>();
  for (const o of offers) {
    for (const r of o.resources) {
      const id = reservationIdOf(r, frameworkId);
      if (id === undefined) continue;
      let e = out.get(id);
      if (!e) out.set(id, (e = { agentId: o.agentId?.value ?? "", offers: [], resources: [] }));
      if (!e.offers.includes(o)) e.offers.push(o);
      e.resources.push(r);
    }
  }
  return out;
}

/** A persistence id for one of an instance's volumes: letters, digits, '.', '_' and '-' only (the agent's rule). */
export function persistenceId(reservationId: string, containerPath: string): string {
  const path = containerPath.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[._-]+/, "").slice(0, 60) || "volume";
  return `${reservationId}.${path}`.slice(0, 200);
}
