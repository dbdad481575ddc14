/**
 * The offer operations that change an agent's resources rather than run tasks: RESERVE
 * (a dynamic reservation on top of offered resources), UNRESERVE (its removal), CREATE
 * (reserved disk becomes a persistent volume) and DESTROY (back to reserved disk). Each is
 * a conversion of offered resources: `consumed` leave the offer, `converted` take their
 * place (and the agent's total changes the same way). Pure: the accept applies the result.
 *
 * Invalid operations are INVALID_ARGUMENT with a precise message: resources that are not
 * in the offer, a role that is not the framework's, another principal, a volume in use,
 * a volume id or container path that would escape the agent's directories.
 */
import { create } from "@bufbuild/protobuf";
import type { Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import { ReservationInfo_Type, ResourceSchema, type Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Resources, reservationRole } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { isPersistentVolume, volumeProblem } from "../../resources/volumes.js";

export type ResourceOperation = "reserve" | "unreserve" | "create" | "destroy";
export const RESOURCE_OPERATIONS: ReadonlySet<string> = new Set<ResourceOperation>(["reserve", "unreserve", "create", "destroy"]);

export interface OperationContext {
  frameworkId: string;
  frameworkRoles: readonly string[];
  /** The framework's principal ("" when it has none). */
  principal: string;
  /** Everything the agent has now (reservations and volumes included). */
  agentTotal: Resources;
  /** The task using a persistent volume on the agent, if any. */
  volumeUser: (volumeId: string) => string | undefined;
  /** What the pool is, in messages; default "the offered resources". */
  poolName?: string;
}

export interface Conversion {
  operation: ResourceOperation;
  consumed: Resources;
  converted: Resources;
}

function invalid(message: string): never {
  throw new DcosError(Code.INVALID_ARGUMENT, message);
}

/** The resource with its top reservation removed. */
function popReservation(r: Resource): Resource {
  return create(ResourceSchema, { ...r, reservations: r.reservations.slice(0, -1) });
}

function withoutVolume(r: Resource): Resource {
  return create(ResourceSchema, { ...r, disk: undefined });
}

/** Fills a missing allocation role with the offer's single one; the resources must be valid. */
function listOf(op: string, list: readonly Resource[], offeredRole: string | undefined): Resource[] {
  if (list.length === 0) invalid(`${op} names no resources`);
  return list.map((r, i) => {
    const one = Resources.of([r]).toProto()[0];
    if (!one) invalid(`${op} resource #${i + 1} is empty`);
    if (one.allocationInfo?.role) return one;
    if (offeredRole === undefined) invalid(`${op} resource #${i + 1} has no allocation_info.role and the offers span several roles`);
    return Resources.of([one]).allocate(offeredRole).toProto()[0]!;
  });
}

function inOffer(op: string, pool: Resources, wanted: Resources, ctx: OperationContext): void {
  if (!pool.contains(wanted)) invalid(`${op} of ${wanted} is not in ${ctx.poolName ?? "the offered resources"} (${pool})`);
}

function checkRole(op: string, r: Resource, ctx: OperationContext): void {
  const role = reservationRole(r);
  if (!ctx.frameworkRoles.includes(role)) invalid(`${op}: role '${role}' of ${r.name} is not one of framework ${ctx.frameworkId}'s roles (${ctx.frameworkRoles.join(", ")})`);
}

function reserve(list: Resource[], pool: Resources, ctx: OperationContext): Conversion {
  for (const r of list) {
    const top = r.reservations.at(-1);
    if (!top || top.type !== ReservationInfo_Type.DYNAMIC) invalid(`RESERVE: ${r.name} must carry a DYNAMIC reservation on top of its reservations`);
    checkRole("RESERVE", r, ctx);
    if (r.allocationInfo?.role !== top.role) invalid(`RESERVE: ${r.name} is reserved to '${top.role}' but offered to role '${r.allocationInfo?.role}'; reserve to the role it was offered to`);
    if (ctx.principal && top.principal !== ctx.principal) invalid(`RESERVE: reservation principal '${top.principal}' is not framework ${ctx.frameworkId}'s principal '${ctx.principal}'`);
    if (isPersistentVolume(r)) invalid(`RESERVE: ${r.name} is a persistent volume; reserve the disk, then CREATE the volume`);
  }
  const consumed = Resources.of(list.map(popReservation));
  inOffer("RESERVE", pool, consumed, ctx);
  return { operation: "reserve", consumed, converted: Resources.of(list) };
}

function unreserve(list: Resource[], pool: Resources, ctx: OperationContext): Conversion {
  for (const r of list) {
    if (r.reservations.at(-1)?.type !== ReservationInfo_Type.DYNAMIC) invalid(`UNRESERVE: ${r.name} has no dynamic reservation on top (static reservations change only with the agent's --resources)`);
    checkRole("UNRESERVE", r, ctx);
    if (isPersistentVolume(r)) invalid(`UNRESERVE: ${r.name} is persistent volume ${r.disk!.persistence!.id}; DESTROY it first`);
  }
  const consumed = Resources.of(list);
  inOffer("UNRESERVE", pool, consumed, ctx);
  return { operation: "unreserve", consumed, converted: Resources.of(list.map(popReservation)) };
}

function volumeIds(total: Resources): Set<string> {
  return new Set(total.toProto().flatMap((r) => (isPersistentVolume(r) ? [r.disk!.persistence!.id] : [])));
}

function createVolumes(list: Resource[], pool: Resources, ctx: OperationContext): Conversion {
  const existing = volumeIds(ctx.agentTotal);
  const seen = new Set<string>();
  for (const r of list) {
    if (r.name !== "disk" || !isPersistentVolume(r)) invalid(`CREATE: ${r.name} must be disk with disk.persistence.id`);
    const problem = volumeProblem(r);
    if (problem) invalid(`CREATE: ${problem}`);
    if (r.reservations.length === 0) invalid(`CREATE: volume ${r.disk!.persistence!.id} must be on reserved disk; RESERVE it first`);
    checkRole("CREATE", r, ctx);
    const id = r.disk!.persistence!.id;
    if (existing.has(id) || seen.has(id)) invalid(`CREATE: persistent volume '${id}' already exists on this agent`);
    seen.add(id);
    if (ctx.principal && r.disk!.persistence!.principal && r.disk!.persistence!.principal !== ctx.principal) {
      invalid(`CREATE: volume principal '${r.disk!.persistence!.principal}' is not framework ${ctx.frameworkId}'s principal '${ctx.principal}'`);
    }
  }
  const consumed = Resources.of(list.map(withoutVolume));
  inOffer("CREATE", pool, consumed, ctx);
  return { operation: "create", consumed, converted: Resources.of(list) };
}

function destroyVolumes(list: Resource[], pool: Resources, ctx: OperationContext): Conversion {
  for (const r of list) {
    if (!isPersistentVolume(r)) invalid(`DESTROY: ${r.name} is not a persistent volume`);
    checkRole("DESTROY", r, ctx);
    const id = r.disk!.persistence!.id;
    const user = ctx.volumeUser(id);
    if (user !== undefined) invalid(`DESTROY: persistent volume '${id}' is in use by task ${user}`);
    if (!pool.contains(Resources.of([r]))) invalid(`DESTROY of persistent volume '${id}' is not in ${ctx.poolName ?? "the offered resources"} (${pool})`);
  }
  return { operation: "destroy", consumed: Resources.of(list), converted: Resources.of(list.map(withoutVolume)) };
}

/** The conversion one resource operation makes of the offered pool; INVALID_ARGUMENT if it cannot. */
export function convert(op: Offer_Operation, pool: Resources, ctx: OperationContext): Conversion {
  const roles = pool.allocationRoles();
  const offeredRole = roles.length === 1 ? roles[0] : undefined;
  try {
    switch (op.kind.case) {
      case "reserve":
        return reserve(listOf("RESERVE", op.kind.value.resources, offeredRole), pool, ctx);
      case "unreserve":
        return unreserve(listOf("UNRESERVE", op.kind.value.resources, offeredRole), pool, ctx);
      case "create":
        return createVolumes(listOf("CREATE", op.kind.value.volumes, offeredRole), pool, ctx);
      case "destroy":
        return destroyVolumes(listOf("DESTROY", op.kind.value.volumes, offeredRole), pool, ctx);
      default:
        return invalid(`operation ${op.kind.case ?? "(none)"} is not a resource operation`);
    }
  } catch (err) {
    if (err instanceof DcosError && err.code === Code.INVALID_ARGUMENT && !/^(RESERVE|UNRESERVE|CREATE|DESTROY)/.test(err.message)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `${(op.kind.case ?? "").toUpperCase()}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** What the agent must checkpoint out of its total: dynamic reservations and persistent volumes. */
export function checkpointedResources(total: Resources): Resource[] {
  return total.unallocated().toProto().filter((r) => isPersistentVolume(r) || r.reservations.some((x) => x.type === ReservationInfo_Type.DYNAMIC));
}
