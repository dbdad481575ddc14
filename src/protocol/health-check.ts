/**
 * A task's HealthCheck as the executors use it: Mesos's defaults filled in, and the
 * problems that make one invalid (the master refuses such a task with TASK_ERROR before
 * it reaches an agent, so an executor can rely on a valid check).
 */
import { HealthCheck_Type, type HealthCheck } from "../gen/dcos/v1/tasks_pb.js";

/** Mesos's defaults (REFERENCE.md): delay 15 s, interval 10 s, timeout 20 s, 3 failures, grace 10 s. */
export const HEALTH_CHECK_DEFAULTS = {
  delaySeconds: 15,
  intervalSeconds: 10,
  timeoutSeconds: 20,
  consecutiveFailures: 3,
  gracePeriodSeconds: 10,
} as const;

/** The timing of a check, in milliseconds, with the defaults applied. */
export interface HealthPolicy {
  delayMs: number;
  intervalMs: number;
  timeoutMs: number;
  consecutiveFailures: number;
  gracePeriodMs: number;
}

export function healthPolicy(check: HealthCheck): HealthPolicy {
  const d = HEALTH_CHECK_DEFAULTS;
  return {
    delayMs: (check.delaySeconds ?? d.delaySeconds) * 1000,
    intervalMs: (check.intervalSeconds ?? d.intervalSeconds) * 1000,
    timeoutMs: (check.timeoutSeconds ?? d.timeoutSeconds) * 1000,
    consecutiveFailures: check.consecutiveFailures ?? d.consecutiveFailures,
    gracePeriodMs: (check.gracePeriodSeconds ?? d.gracePeriodSeconds) * 1000,
  };
}

function portProblem(port: number | undefined, what: string): string | undefined {
  if (!port) return `${what} needs a port`;
  if (port > 65535) return `${what} port ${port} is not a TCP port (1-65535)`;
  return undefined;
}

function secondsProblem(value: number | undefined, field: string, what: string, positive: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0 || (positive && value === 0)) {
    return `${what} health_check.${field} ${value} must be a finite number of seconds ${positive ? "> 0" : "≥ 0"}`;
  }
  return undefined;
}

function probeProblem(check: HealthCheck, what: string): string | undefined {
  switch (check.type) {
    case HealthCheck_Type.COMMAND:
      return check.command ? undefined : `${what} health_check of type COMMAND needs a command`;
    case HealthCheck_Type.HTTP: {
      const http = check.http;
      if (!http) return `${what} health_check of type HTTP needs http`;
      const p = portProblem(http.port, `${what} health_check.http`);
      if (p) return p;
      if (http.scheme && http.scheme !== "http" && http.scheme !== "https") return `${what} health_check.http.scheme '${http.scheme}' must be http or https`;
      if (http.path && !http.path.startsWith("/")) return `${what} health_check.http.path '${http.path}' must start with '/'`;
      const bad = http.statuses.find((s) => s < 100 || s > 599);
      return bad === undefined ? undefined : `${what} health_check.http.statuses has ${bad}, not an HTTP status (100-599)`;
    }
    case HealthCheck_Type.TCP:
      if (!check.tcp) return `${what} health_check of type TCP needs tcp`;
      return portProblem(check.tcp.port, `${what} health_check.tcp`);
    default:
      return `${what} health_check.type must be COMMAND, HTTP or TCP`;
  }
}

/**
 * Why a health check is invalid, or undefined. The command of a COMMAND check is checked
 * by the caller like any other command (master validation's commandProblem).
 */
export function healthCheckProblem(check: HealthCheck, what: string): string | undefined {
  const p = probeProblem(check, what);
  if (p) return p;
  const timing =
    secondsProblem(check.delaySeconds, "delay_seconds", what, false) ??
    secondsProblem(check.intervalSeconds, "interval_seconds", what, true) ??
    secondsProblem(check.timeoutSeconds, "timeout_seconds", what, true) ??
    secondsProblem(check.gracePeriodSeconds, "grace_period_seconds", what, false);
  if (timing) return timing;
  if (check.consecutiveFailures === 0) return `${what} health_check.consecutive_failures must be at least 1`;
  return undefined;
}
