/** Resource arithmetic shared by the master, the allocator and the agent. */
export { Resources } from "./resources.js";
export { Quantities } from "./quantities.js";
export { parseResources, type ParseOptions } from "./parse.js";
export {
  allocationRole,
  isReserved,
  rangesResource,
  reservationRole,
  resourceProblem,
  scalarResource,
  setResource,
  validateResource,
} from "./resource.js";
export { DEFAULT_ROLE, isRoleOrDescendant, roleAncestors, roleProblem, validateRole } from "./roles.js";
export type { Interval } from "./ranges.js";
export { isPersistentVolume, volumeProblem } from "./volumes.js";
