/**
 * The allocation policies, chosen by name (`--allocator`). A policy is a pure round: a
 * snapshot in, offers out.
 */
import { Code, DcosError } from "../../runtime/error.js";
import { drfOrder, strictPriorityOrder, type RoleOrder } from "./role-order.js";
import { allocateRound } from "./round.js";
import type { AllocationSnapshot, RoundOffer } from "./snapshot.js";

export interface AllocationPolicy {
  readonly name: string;
  allocate(snapshot: AllocationSnapshot): RoundOffer[];
}

const ORDERS: Readonly<Record<string, RoleOrder>> = {
  "hierarchical-drf": drfOrder,
  "strict-priority": strictPriorityOrder,
};

export const POLICY_NAMES: readonly string[] = Object.keys(ORDERS);

export const DEFAULT_POLICY = "hierarchical-drf";

/** The policy named name; INVALID_ARGUMENT listing the known names otherwise. */
export function createPolicy(name: string): AllocationPolicy {
  const order = Object.hasOwn(ORDERS, name) ? ORDERS[name] : undefined;
  if (!order) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Unknown allocator policy '${name}'; known policies: ${POLICY_NAMES.join(", ")}`);
  }
  return { name, allocate: (snapshot) => allocateRound(snapshot, order) };
}
