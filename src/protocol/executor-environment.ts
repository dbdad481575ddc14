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
  /** Seconds an executor keeps trying to reach its agent after the connection broke; then it exits. */
  recoveryTimeout: "DCOS_RECOVERY_TIMEOUT",
} as const;

export interface ExecutorEnvironment {
  agentEndpoint: string;
  agentId: string;
  frameworkId: string;
  executorId: string;
  shutdownGracePeriodSeconds: number;
  /** Absent when the agent gave none (an agent that does not check tokens). */
  token?: string;
  /** Absent when the agent gave none (the driver's default, 15 min, applies). */
  recoveryTimeoutMs?: number;
}

/** Reads the executor's environment; FAILED_PRECONDITION naming the first missing variable. */
export function readExecutorEnvironment(env: NodeJS.ProcessEnv = process.env): ExecutorEnvironment {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new DcosError(Code.FAILED_PRECONDITION, `Executor environment variable ${name} is not set: this program is started by a dcos-node agent`);
    return v;
  };
  const grace = Number(env[EXECUTOR_ENV.shutdownGracePeriod] ?? "5");
  const recovery = Number(env[EXECUTOR_ENV.recoveryTimeout] ?? "");
  return {
    agentEndpoint: need(EXECUTOR_ENV.agentEndpoint),
    agentId: env[EXECUTOR_ENV.agentId] ?? "",
    frameworkId: need(EXECUTOR_ENV.frameworkId),
    executorId: need(EXECUTOR_ENV.executorId),
    shutdownGracePeriodSeconds: Number.isFinite(grace) && grace >= 0 ? grace : 5,
    token: env[EXECUTOR_ENV.token] || undefined,
    recoveryTimeoutMs: env[EXECUTOR_ENV.recoveryTimeout] && Number.isFinite(recovery) && recovery > 0 ? recovery * 1000 : undefined,
  };
}
