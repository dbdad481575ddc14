/**
 * The TypeScript executor driver: `import { ExecutorDriver, readExecutorEnvironment } from "dcos-node/executor-driver"`.
 *
 * ```ts
 * const env = readExecutorEnvironment(); // DCOS_AGENT_ENDPOINT, DCOS_FRAMEWORK_ID, DCOS_EXECUTOR_ID, …
 * const driver = new ExecutorDriver({ agentEndpoint: env.agentEndpoint, frameworkId: env.frameworkId, executorId: env.executorId, token: env.token });
 * ```
 */
export { ExecutorDriver, type ExecutorCallbacks, type ExecutorDriverOptions } from "./driver.js";
export { EXECUTOR_ENV, readExecutorEnvironment, type ExecutorEnvironment } from "../../protocol/executor-environment.js";
export { describeStatus, isTerminal, reasonName, sourceName, taskStateName } from "../task-states.js";
