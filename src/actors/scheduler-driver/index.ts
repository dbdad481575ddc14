/**
 * The TypeScript scheduler driver: `import { SchedulerDriver } from "dcos-node/scheduler-driver"`.
 *
 * ```ts
 * const driver = new SchedulerDriver({
 *   masters: "m1:5050,m2:5050",
 *   framework: { name: "hello", roles: ["*"], failoverTimeout: 3600 },
 *   callbacks: {
 *     offers: (offers) => {
 *       for (const offer of offers) {
 *         const resources = pickResources(offer, { cpus: 0.1, mem: 32 });
 *         if (resources) void driver.launch([offer.id!], [commandTask({ command: "echo hi", offer, resources })]);
 *         else void driver.decline([offer.id!], refuseFor(60));
 *       }
 *     },
 *     update: (status) => console.log(describeStatus(status)), // acknowledged implicitly
 *   },
 * });
 * await driver.start();
 * ```
 */
export { SchedulerDriver, type FiltersInit, type FrameworkInfoInit, type KillPolicyInit, type OperationInit, type ReconcileTask } from "./driver.js";
export { DRIVER_DEFAULTS, type SchedulerCallbacks, type SchedulerDriverOptions } from "./options.js";
export { DriverState } from "./state.js";
export { commandTask, offerFits, pickResources, refuseFor, type CommandTaskOptions, type ResourceRequest } from "./builders.js";
export { describeStatus, isTerminal, reasonName, sourceName, taskStateName } from "../task-states.js";
export { parseMasterAddress } from "./masters.js";
export type { IdLike } from "./ids.js";
export { RefusalRetry, type RefusalRetryOptions } from "./refusal-retry.js";
