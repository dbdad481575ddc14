/**
 * The environment an agent gives an executor it starts, and how an executor reads it.
 * Any executor, in any language, finds its agent and its ids here.
 */
import { Code, DcosError } from "../runtime/error.js";

export const EXECUTOR_ENV = {
  /** host:port of the agent's local ExecutorService. */
  agentEndpoint: "DCOS_AGENT_ENDPOINT",
  agentId: "DCOS_AGENT_ID",
  frameworkId: "DCOS_FRAMEWORK_ID",
  executorId: "DCOS_EXECUTOR_ID",
  /** Seconds between SHUTDOWN and the agent destroying the container. */
  shutdownGracePeriod: "DCOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
  /** The executor's token: every ExecutorService call carries it (authorization: Bearer). */
  token: "DCOS_EXECUTOR_TOKEN",
} as const;

export interface ExecutorEnvironment {
  agentEndpoint: string;
  agentId: string;
  frameworkId: string;
  executorId: string;
  shutdownGracePeriodSeconds: number;
  /** Absent when the agent gave none (an agent that does not check tokens). */
  token?: string;
}

/** Reads the executor's environment; FAILED_PRECONDITION naming the first missing variable. */
export function readExecutorEnvironment(env: NodeJS.ProcessEnv = process.env): ExecutorEnvironment {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new DcosError(Code.FAILED_PRECONDITION, `Executor environment variable ${name} is not set: this program is started by a dcos-node agent`);
    return v;
  };
  const grace = Number(env[EXECUTOR_ENV.shutdownGracePeriod] ?? "5");
  return {
    agentEndpoint: need(EXECUTOR_ENV.agentEndpoint),
    agentId: env[EXECUTOR_ENV.agentId] ?? "",
    frameworkId: need(EXECUTOR_ENV.frameworkId),
    executorId: need(EXECUTOR_ENV.executorId),
    shutdownGracePeriodSeconds: Number.isFinite(grace) && grace >= 0 ? grace : 5,
    token: env[EXECUTOR_ENV.token] || undefined,
  };
}
