/**
 * Marathon's JSON shapes, built from our state: a task, an app with its embeds (tasks,
 * counts, deployments, lastTaskFailure), a deployment with its steps, a queue item.
 */
import { healthNeeds, isHealthy } from "./app-plan.js";
import type { AppJson, AppSpec } from "./app-definition.js";
import type { InstanceChecks, ReadinessResult } from "./instance-checks.js";
import type { OfferStats } from "./launch-round.js";
import { TERMINAL, type Deployment, type Instance } from "./services-state.js";

export const iso = (ms: number): string => new Date(ms).toISOString();

/** TASK_RUNNING for "running"; an instance being killed shows TASK_KILLING (load balancers drop it at once). */
export function taskStateName(i: Instance): string {
  if (i.goal === "stopped" && !TERMINAL.has(i.state)) return "TASK_KILLING";
  return `TASK_${i.state.toUpperCase()}`;
}

/**
 * One result per health check of the app, in its order (the executor's from the task's
 * status, the others from the scheduler's probes); none while no check has a result.
 */
function healthCheckResults(i: Instance, spec: AppSpec, checks: InstanceChecks | undefined): Record<string, unknown>[] {
  const results = spec.healthChecks.map((_, k) => {
    if (k === spec.executorCheck) {
      return i.healthy === undefined ? undefined : { alive: i.healthy, consecutiveFailures: i.healthy ? 0 : 1, firstSuccess: null, lastSuccess: null, lastFailure: null, lastFailureCause: null };
    }
    const r = checks?.healthResult(i.id, k);
    if (!r || (r.alive === undefined && r.lastFailure === undefined)) return undefined;
    const at = (ms: number | undefined) => (ms === undefined ? null : iso(ms));
    return {
      alive: r.alive === true,
      consecutiveFailures: r.consecutiveFailures,
      firstSuccess: at(r.firstSuccess),
      lastSuccess: at(r.lastSuccess),
      lastFailure: at(r.lastFailure),
      lastFailureCause: r.lastFailureCause ?? null,
    };
  });
  if (results.every((r) => r === undefined)) return [];
  return results.map((r) => ({ ...(r ?? { alive: false, consecutiveFailures: 0, firstSuccess: null, lastSuccess: null, lastFailure: null, lastFailureCause: null }), taskId: i.id, instanceId: i.id }));
}

/** A task as Marathon shows it; `spec`: its app's (undefined once the app is gone). */
export function taskJson(i: Instance, spec: AppSpec | undefined, checks?: InstanceChecks): Record<string, unknown> {
  const t: Record<string, unknown> = {
    id: i.id,
    appId: i.appId,
    host: i.host,
    slaveId: i.agentId,
    ports: i.ports,
    servicePorts: spec ? spec.ports.map((p) => p.servicePort) : [],
    ipAddresses: [],
    stagedAt: iso(i.stagedAt),
    startedAt: i.startedAt === undefined ? null : iso(i.startedAt),
    version: i.version,
    state: taskStateName(i),
  };
  if (spec && spec.healthChecks.length > 0) t["healthCheckResults"] = healthCheckResults(i, spec, checks);
  // A resident instance's persistent volumes (Marathon's localVolumes), in the app's volume order.
  if (i.volumeIds && i.volumeIds.length > 0) {
    t["localVolumes"] = i.volumeIds.map((persistenceId, k) => ({ runSpecId: i.appId, containerPath: spec?.persistentVolumes[k]?.containerPath ?? null, persistenceId }));
  }
  return t;
}

export interface Counts {
  tasksStaged: number;
  tasksRunning: number;
  tasksHealthy: number;
  tasksUnhealthy: number;
}

export function counts(spec: AppSpec, instances: Iterable<Instance>): Counts {
  const needs = healthNeeds(spec);
  const hc = spec.healthChecks.length > 0;
  const c: Counts = { tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0 };
  for (const i of instances) {
    if (TERMINAL.has(i.state)) continue;
    if (i.state === "running") {
      c.tasksRunning++;
      if (hc) {
        if (isHealthy(i, needs)) c.tasksHealthy++;
        else if (i.healthy === false || i.checksHealthy === false) c.tasksUnhealthy++;
      }
    } else if (i.state === "staging" || i.state === "starting" || i.state === "provisioned") c.tasksStaged++;
  }
  return c;
}

export interface TaskFailure {
  appId: string;
  host: string;
  message: string;
  state: string;
  taskId: string;
  timestamp: string;
  version: string;
  slaveId: string;
}

export interface AppEmbeds {
  tasks?: boolean;
  counts?: boolean;
  deployments?: boolean;
  lastTaskFailure?: boolean;
  readiness?: boolean;
}

export function appJson(
  app: AppJson,
  spec: AppSpec,
  instances: Iterable<Instance>,
  deployments: readonly Deployment[],
  failure: TaskFailure | undefined,
  embed: AppEmbeds,
  checks?: InstanceChecks,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...app, ports: spec.ports.map((p) => p.servicePort) };
  const list = [...instances];
  if (embed.counts !== false) Object.assign(out, counts(spec, list));
  out["deployments"] = deployments.map((d) => ({ id: d.id }));
  if (embed.tasks) out["tasks"] = list.filter((i) => !TERMINAL.has(i.state)).map((i) => taskJson(i, spec, checks));
  if (embed.lastTaskFailure && failure) out["lastTaskFailure"] = failure;
  if (embed.readiness) out["readinessCheckResults"] = checks ? list.flatMap((i) => checks.readinessResults(i.id)) : [];
  return out;
}

/** The step names Marathon shows for a deployment of one app. */
export function deploymentJson(d: Deployment, converged: boolean, readiness: readonly ReadinessResult[] = []): Record<string, unknown> {
  const action = d.kind === "start" ? "StartApplication" : d.kind === "stop" ? "StopApplication" : d.kind === "restart" ? "RestartApplication" : "ScaleApplication";
  const steps = d.kind === "start" ? [[{ action: "StartApplication", app: d.appId }], [{ action: "ScaleApplication", app: d.appId }]] : [[{ action, app: d.appId }]];
  const currentStep = d.kind === "start" ? (converged ? 2 : 2) : 1;
  return {
    id: d.id,
    version: d.version,
    affectedApps: [d.appId],
    affectedPods: [],
    steps: steps.map((actions) => ({ actions })),
    currentActions: [{ action, app: d.appId, readinessCheckResults: readiness }],
    currentStep,
    totalSteps: steps.length,
    ...(d.deadlineAt !== undefined ? { deadline: iso(d.deadlineAt) } : {}),
    ...(d.rollbackOf ? { rollbackOf: d.rollbackOf } : {}),
  };
}

export function queueItemJson(
  app: Record<string, unknown>,
  count: number,
  delay: { until: number; now: number } | undefined,
  stats: OfferStats | undefined,
  since: number,
  role: string,
): Record<string, unknown> {
  const reasons = stats?.reasons ?? {};
  const summary = Object.entries(reasons).map(([reason, declined]) => ({ reason, declined, processed: stats?.processed ?? 0 }));
  return {
    count,
    delay: { timeLeftSeconds: delay ? Math.max(0, Math.ceil((delay.until - delay.now) / 1000)) : 0, overdue: delay ? delay.until <= delay.now : true },
    since: iso(since),
    role,
    processedOffersSummary: {
      processedOffersCount: stats?.processed ?? 0,
      unusedOffersCount: stats?.unused ?? 0,
      rejectSummaryLastOffers: summary,
      rejectSummaryLaunchAttempt: summary,
      ...(stats?.lastDetail ? { lastUnusedOfferReason: stats.lastDetail } : {}),
    },
    app,
  };
}
