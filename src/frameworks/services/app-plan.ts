/**
 * What one app needs now, as a pure function of its spec, its instances and the time:
 * how many instances of the target version to launch, which instances to kill, which
 * unreachable ones to give up on. Launching, scaling, rolling restarts, stopping and
 * self-healing are all this one convergence rule:
 *
 * - never more than floor(N × (1 + maximumOverCapacity)) instances alive at once (killing
 *   ones count until they are gone);
 * - old-version instances are killed only while at least ceil(N × minimumHealthCapacity)
 *   healthy instances remain (unhealthy ones may always go);
 * - one exception so a restart cannot deadlock: with no room to launch, nothing to kill
 *   within the rule and nothing in flight, one old instance is killed (what Marathon does
 *   when minimumHealthCapacity = 1 and maximumOverCapacity = 0);
 * - an instance unreachable for inactiveAfterSeconds no longer counts (a replacement is
 *   launched); after expungeAfterSeconds it is forgotten, and killed if it returns;
 * - with more instances of the target version than wanted, the extras are killed
 *   (unhealthy and not-yet-running first, then by killSelection);
 * - instances on an agent being drained or with maintenance ahead are replaced like old
 *   ones; one the master kills without our asking (TASK_KILLING) is replaced at once.
 */
import type { AppSpec } from "./app-definition.js";
import { TERMINAL, type Instance } from "./services-state.js";

export interface AppPlan {
  /** Instances of the target version to launch now (before backoff and offers). */
  launch: number;
  kill: { id: string; reason: string }[];
  /** Unreachable past expungeAfterSeconds: forget (and kill if they come back). */
  expunge: string[];
  /** Every live instance runs the target version, N of them, all healthy. */
  converged: boolean;
}

export interface AppTarget {
  spec: AppSpec;
  /** The target version. */
  version: string;
  /** Being removed: target 0 instances, no launches. */
  removing: boolean;
  /** Instances whose readiness checks have not passed yet (they count as not healthy). */
  notReady?: ReadonlySet<string>;
  /**
   * Instances to move off their agent (it is drained or has maintenance ahead): replaced
   * like instances of an old version — a new one launched elsewhere first, the leaving one
   * killed while enough healthy remain.
   */
  leaving?: ReadonlySet<string>;
}

/** Which health results an app's instances need: the executor's check, and/or the ones the scheduler runs. */
export interface HealthNeeds {
  executor: boolean;
  scheduler: boolean;
}

export function healthNeeds(spec: Pick<AppSpec, "healthChecks" | "executorCheck">): HealthNeeds {
  const executor = spec.executorCheck !== undefined;
  return { executor, scheduler: spec.healthChecks.length > (executor ? 1 : 0) };
}

/**
 * Whether an instance counts as healthy: running, and all its health checks pass (the
 * executor's: `healthy`; the scheduler's: `checksHealthy`). `true` means the executor's only.
 */
export function isHealthy(i: Instance, needs: boolean | HealthNeeds): boolean {
  const n = typeof needs === "boolean" ? { executor: needs, scheduler: false } : needs;
  return i.state === "running" && i.goal === "running" && (!n.executor || i.healthy === true) && (!n.scheduler || i.checksHealthy === true);
}

export function isInactive(i: Instance, spec: AppSpec, now: number): boolean {
  return i.state === "unreachable" && i.unreachableSince !== undefined && now - i.unreachableSince >= spec.inactiveAfterSeconds * 1000;
}

export function capacity(spec: AppSpec, n = spec.instances): { maxAlive: number; minHealthy: number } {
  return { maxAlive: Math.floor(n * (1 + spec.maximumOverCapacity) + 1e-9), minHealthy: Math.ceil(n * spec.minimumHealthCapacity - 1e-9) };
}

function byKillPreference(spec: AppSpec, ok: (i: Instance) => boolean) {
  return (a: Instance, b: Instance): number => {
    const rank = (i: Instance) => (i.state === "unreachable" ? 0 : ok(i) ? 2 : 1);
    const r = rank(a) - rank(b);
    if (r !== 0) return r;
    return spec.killSelection === "YOUNGEST_FIRST" ? b.stagedAt - a.stagedAt : a.stagedAt - b.stagedAt;
  };
}

export function planApp(target: AppTarget, instances: readonly Instance[], now: number): AppPlan {
  const { spec, version } = target;
  const needs = healthNeeds(spec);
  const notReady = target.notReady;
  const ok = (i: Instance): boolean => isHealthy(i, needs) && !notReady?.has(i.id);
  const n = target.removing ? 0 : spec.instances;
  const { maxAlive, minHealthy } = capacity(spec, n);
  const kill: AppPlan["kill"] = [];
  const expunge: string[] = [];
  const live: Instance[] = [];
  for (const i of instances) {
    if (TERMINAL.has(i.state)) continue;
    if (i.state === "unreachable" && i.unreachableSince !== undefined && now - i.unreachableSince >= spec.expungeAfterSeconds * 1000) {
      expunge.push(i.id);
      continue;
    }
    live.push(i);
  }
  if (target.removing) {
    for (const i of live) if (i.goal === "running") kill.push({ id: i.id, reason: "the app is being removed" });
    return { launch: 0, kill, expunge, converged: live.length === 0 };
  }
  // Alive: everything not yet gone and not given up on (ones we kill included; ones the
  // master kills without our asking — a drain — are going anyway: replaced at once).
  const leaving = (i: Instance): boolean => target.leaving?.has(i.id) === true;
  const killedByOthers = (i: Instance): boolean => i.state === "killing" && i.goal === "running";
  const alive = live.filter((i) => !isInactive(i, spec, now) && !killedByOthers(i));
  const wanted = alive.filter((i) => i.goal === "running");
  const current = wanted.filter((i) => i.version === version && !leaving(i));
  const old = wanted.filter((i) => i.version !== version || leaving(i));
  const order = byKillPreference(spec, ok);
  const replaced = (i: Instance): string => (i.version !== version ? "replaced by a new version" : "moved off its agent (drained, or maintenance ahead)");
  // Scale down: extras of the target version.
  const extras = current.length - n;
  const keep = new Set(current.map((i) => i.id));
  if (extras > 0) {
    for (const i of [...current].sort(order).slice(0, extras)) {
      kill.push({ id: i.id, reason: "scaling down" });
      keep.delete(i.id);
    }
  }
  const currentKept = current.filter((i) => keep.has(i.id));
  // Old instances: unhealthy ones always go; healthy ones while enough healthy remain.
  let healthy = wanted.filter((i) => keep.has(i.id) || i.version !== version).filter(ok).length;
  const oldSorted = [...old].sort(order);
  for (const i of oldSorted) {
    if (!ok(i)) {
      kill.push({ id: i.id, reason: replaced(i) });
      continue;
    }
    if (healthy - 1 >= minHealthy) {
      kill.push({ id: i.id, reason: replaced(i) });
      healthy--;
    }
  }
  const killed = new Set(kill.map((k) => k.id));
  // Room to launch: instances killed in this plan stay alive until their tasks end.
  const room = Math.max(0, maxAlive - alive.length);
  const launch = Math.max(0, Math.min(n - currentKept.length, room));
  if (launch === 0 && currentKept.length < n && kill.length === 0) {
    const inFlight = alive.some((i) => i.goal === "stopped") || currentKept.some((i) => !ok(i));
    const victim = oldSorted.find((i) => !killed.has(i.id));
    if (!inFlight && victim) kill.push({ id: victim.id, reason: `${replaced(victim)} (no room to launch first)` });
  }
  const converged =
    live.length === n && currentKept.length === n && live.every((i) => i.version === version && i.goal === "running" && ok(i) && !leaving(i));
  return { launch, kill, expunge, converged };
}
