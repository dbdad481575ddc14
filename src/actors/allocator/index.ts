/** The allocator plug-in: the interface the master uses and the factory by policy name. */
export type { Allocator, AllocatorAgent, AllocatorFramework, AllocatorMetrics, AllocatorOptions, OfferDecision, RoleQuota } from "./allocator.js";
export { createAllocator, type CreateAllocatorOptions } from "./allocator-facade.js";
export { DEFAULT_ALLOCATION_INTERVAL_MS } from "./allocator-actor.js";
export { createPolicy, DEFAULT_POLICY, POLICY_NAMES, type AllocationPolicy } from "./policies.js";
export type { AllocationSnapshot, RoundOffer, SnapshotAgent, SnapshotFramework } from "./snapshot.js";
