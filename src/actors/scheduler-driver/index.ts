/** The TypeScript scheduler driver: `import { SchedulerDriver } from "dcos-node/scheduler-driver"`. */
export { SchedulerDriver, type FiltersInit, type FrameworkInfoInit, type KillPolicyInit, type OperationInit, type ReconcileTask } from "./driver.js";
export { DRIVER_DEFAULTS, type SchedulerCallbacks, type SchedulerDriverOptions } from "./options.js";
export { DriverState } from "./state.js";
export { commandTask, offerFits, pickResources, refuseFor, type CommandTaskOptions, type ResourceRequest } from "./builders.js";
export { describeStatus, isTerminal, reasonName, sourceName, taskStateName } from "./task-states.js";
export { parseMasterAddress } from "./masters.js";
export type { IdLike } from "./ids.js";
