/**
 * The services leader: turns the pure plans (app-plan.ts, launch-round.ts) into writes
 * and driver calls. Every change is written to the fenced state store BEFORE acting
 * (an instance before its launch, a kill decision before the kill), and every handler
 * runs one at a time (a promise chain), so plans always see the state they change.
 */
import type { InverseOffer, Offer } from "../../gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatus_Reason, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { SchedulerCallbacks } from "../../actors/scheduler-driver/options.js";
import { metricStateName } from "../../actors/task-states.js";
import type { Counter, Metrics } from "../../metrics/metrics.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import { Code, DcosError, asDcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import type { LeaderContext, LeaderSession } from "../common/framework-runner.js";
import type { OperationInit } from "../../actors/scheduler-driver/driver.js";
import { AppViewCache } from "./app-view-cache.js";
import { appSpec, InvalidApp, normalizeApp, onlyScaleDiffers, type AppJson, type AppSpec } from "./app-definition.js";
import { healthNeeds, isHealthy, planApp, type AppTarget } from "./app-plan.js";
import { InstanceChecks, networkProber, type Prober, type ReadinessResult } from "./instance-checks.js";
import type { Placement } from "./constraints.js";
import { assignServicePorts, ServicePortIndex, servicePortsOf, type ServicePortRange } from "./service-ports.js";
import { launchRound, type Demand, type OfferStats, type RoundResult } from "./launch-round.js";
import { ResidentInstances } from "./resident-instances.js";
import { residentChangeProblem, residentRoleProblem } from "./residency.js";
import { instancesOf, TERMINAL, type Deployment, type Instance, type InstanceState, type ServicesOp, type ServicesState } from "./services-state.js";
import { buildTask, type InstanceLaunch } from "./task-builder.js";
import { appJson, deploymentJson, iso, taskStateName, type TaskFailure } from "./views.js";
import { Random } from "../../runtime/random.js";

export type Publish = (type: string, data: Record<string, unknown>) => void;

export interface SchedulerOptions {
  clock: Clock;
  publish: Publish;
  /** The framework's role: its reservations are accepted besides "*" by default. */
  role: string;
  metrics?: Metrics;
  /** Planning period (default 1 s): deadlines, unreachable timeouts, backoff expiry. */
  tickMs?: number;
  /** Re-send a kill that has not ended its task after this long (default 10 s). */
  killRetryMs?: number;
  /** Where service ports are assigned from (default 10000..19999, Marathon's local_port_min/max). */
  servicePortRange?: ServicePortRange;
  /** How readiness and scheduler-run health checks reach instances (default: the network). */
  prober?: Prober;
  /** The framework's principal: owner of resident apps' reservations and volumes (default "marathon"). */
  principal?: string;
  /** Resident apps: how long a reservation may be missing from its agent's offers before it is taken for never made (default 30 s). */
  reservationConfirmMs?: number;
  /** Deployment and instance ids are drawn from it (the instance's seeded source; default one seeded from the OS). */
  random?: Random;
}

/** An instance's state from its task's: the enum's name lower-cased, GONE_BY_OPERATOR as "gone". */
function instanceState(state: TaskState): InstanceState {
  if (state === TaskState.UNSPECIFIED) return "unknown";
  if (state === TaskState.GONE_BY_OPERATOR) return "gone";
  return metricStateName(state) as InstanceState;
}

/** The version timestamp the instances of an app must run (changes only with its configuration). */
export function configVersion(app: AppJson): string {
  const vi = app["versionInfo"] as { lastConfigChangeAt?: string } | undefined;
  return vi?.lastConfigChangeAt ?? String(app["version"]);
}

interface LaunchBackoff {
  delayMs: number;
  until: number;
}

export class ServicesScheduler implements LeaderSession {
  readonly callbacks: SchedulerCallbacks;
  private readonly log: Logger;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private timer: Timer | undefined;
  private tickQueued = false;
  private demands: Demand[] = [];
  private readonly backoff = new Map<string, LaunchBackoff>();
  private readonly failures = new Map<string, TaskFailure>();
  readonly offerStats = new Map<string, OfferStats>();
  private readonly waitingSince = new Map<string, number>();
  private readonly killSentAt = new Map<string, number>();
  /**
   * Instances whose launch failed, by task id: asked about (RECONCILE) until a status of
   * theirs arrives, again every killRetryMs, and at the next plan when the RECONCILE itself
   * failed (see launchFailed).
   */
  private readonly unconfirmed = new Map<string, { agentId: string | undefined; askedAt: number | undefined }>();
  private readonly specs = new Map<string, { app: AppJson; spec: AppSpec }>();
  private readonly agents = new Map<string, Placement>();
  private pendingStatuses: TaskStatus[] = [];
  readonly checks: InstanceChecks;
  /** Serialized app views (GET /v2/apps), re-made only for apps that changed. */
  readonly views = new AppViewCache();
  /** Service port → app (built from the state on first use, then kept up to date by write). */
  private ports: ServicePortIndex | undefined;
  /** Deployments by app (rebuilt after a deployment is put or removed). */
  private deploymentIndex: Map<string, Deployment[]> | undefined;
  /** App id → the revision (views.revision) at which it was last found converged and quiet. */
  private readonly quiet = new Map<string, number>();
  /** The draining agents when quiet was last valid (a change makes every app plan again). */
  private quietDrainKey = "";
  private readonly checked = new Set<string>();
  /**
   * Agents to move instances off (in memory; a new leader learns them again from offers,
   * inverse offers and updates): "drain" after a task of it ended with REASON_AGENT_DRAINING,
   * "maintenance" while it has a window ahead (inverse offer, or Offer.unavailability).
   * An offer of it without unavailability means it was reactivated: it is forgotten.
   */
  private readonly drainingAgents = new Map<string, { why: "drain" | "maintenance"; inverseOfferId?: string }>();
  /** App id → its instances whose readiness checks have not passed (during a deployment). */
  private readonly notReady = new Map<string, Set<string>>();
  /**
   * Whether the master holds this framework's offers suppressed, as this leader last asked
   * (it subscribes unsuppressed); undefined after a SUPPRESS or REVIVE failed: the next plan
   * asks again whatever it wants.
   */
  private suppressed: boolean | undefined = false;
  /** The last SUPPRESS or REVIVE failed (only the first failure of a streak is logged at info). */
  private offerCallFailed = false;
  private hadLaunches = false;
  private lastVersion = 0;
  private readonly launched: Counter | undefined;
  private readonly killed: Counter | undefined;
  private readonly resident: ResidentInstances;
  private readonly random: Random;

  constructor(
    private readonly ctx: LeaderContext<ServicesState, ServicesOp>,
    private readonly options: SchedulerOptions,
  ) {
    this.log = ctx.logger.child({ component: "services-scheduler" });
    this.random = options.random ?? Random.fromOs();
    this.launched = options.metrics?.counter("services/instances_launched");
    this.killed = options.metrics?.counter("services/instances_killed");
    this.checks = new InstanceChecks(options.prober ?? networkProber, (id) => {
      const i = this.state.instances.get(id);
      if (i) this.views.touch(i.appId);
      this.checked.add(id);
      if (this.checked.size === 1) this.background(() => this.onCheckResults());
    });
    this.resident = new ResidentInstances(() => this.state, {
      role: options.role,
      principal: options.principal ?? "marathon",
      frameworkId: () => this.ctx.driver.frameworkId,
      spec: (appId) => {
        const app = this.state.apps.get(appId);
        return app ? this.spec(app) : undefined;
      },
      removing: (appId) => this.state.removing.has(appId),
      logger: this.log,
      confirmTimeoutMs: options.reservationConfirmMs,
    });
    this.callbacks = {
      offers: (offers) => this.background(() => this.onOffers(offers)),
      update: (status) => {
        // Updates that arrive together are written together (one append for a burst of 1,000).
        this.pendingStatuses.push(status);
        if (this.pendingStatuses.length === 1) this.background(() => this.onStatuses());
      },
      rescind: () => undefined,
      inverseOffers: (ios) => this.background(() => this.onInverseOffers(ios)),
      rescindInverseOffer: (id) =>
        this.background(() => {
          for (const [agentId, d] of this.drainingAgents) if (d.inverseOfferId === id) this.drainingAgents.delete(agentId);
          this.soon();
        }),
    };
  }

  get state(): ServicesState {
    return this.ctx.store.state;
  }

  private get now(): number {
    return this.options.clock.now();
  }

  /** Subscribed with the framework id persisted: reconcile what we know, start planning. */
  ready(): void {
    const tasks = [...this.state.instances.values()].map((i) => ({ taskId: i.id, agentId: i.agentId || undefined }));
    this.log.info({ instances: tasks.length, apps: this.state.apps.size }, "Services leader ready; reconciling instances");
    if (tasks.length > 0) void this.ctx.driver.reconcile(tasks).catch((err: unknown) => this.log.warn({ err: asDcosError(err).message }, "Reconcile failed"));
    this.background(() => this.assignMissingServicePorts());
    this.armTimer();
    this.soon();
  }

  /**
   * Apps stored without service ports (by a leader from before they were assigned) get
   * them now, in place: same version, no deployment.
   */
  private async assignMissingServicePorts(): Promise<void> {
    const ops: ServicesOp[] = [];
    for (const [id, app] of this.state.apps) {
      if (this.state.removing.has(id) || !servicePortsOf(app).includes(0)) continue;
      const filled = structuredClone(app);
      try {
        assignServicePorts(filled, undefined, this.portIndex().others(id), this.options.servicePortRange);
      } catch (err) {
        this.log.warn({ app: id, err: asDcosError(err).message }, `Could not assign service ports to ${id}`);
        continue;
      }
      this.portIndex().set(filled);
      ops.push({ t: "putApp", app: filled });
    }
    if (ops.length === 0) return;
    await this.write(ops);
    this.log.info({ apps: ops.length }, "Assigned service ports to apps stored without them");
  }

  stop(reason: string): void {
    this.stopped = true;
    this.timer?.cancel();
    this.log.info({ reason }, "Services leader session stopped");
  }

  // ---- the serial queue ----------------------------------------------------------------

  /** Runs fn after everything queued before it; errors reject the caller only. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.chain.then(() => {
      if (this.stopped) throw new DcosError(Code.UNAVAILABLE, "This instance no longer leads; retry");
      return fn();
    });
    this.chain = run.catch((err: unknown) => {
      if (!DcosError.is(err, Code.UNAVAILABLE)) this.log.warn({ err: asDcosError(err).message }, "Services handler failed");
    });
    return run;
  }

  /** serial() for work nobody awaits: its failure is logged by the chain, never unhandled. */
  private background(fn: () => Promise<void> | void): void {
    this.serial(fn).catch(() => undefined);
  }

  private async write(ops: ServicesOp[]): Promise<void> {
    if (ops.length === 0) return;
    const touched = this.touchedBy(ops);
    await this.ctx.store.write(ops);
    if (touched === "all") this.views.touchAll(this.state.apps.keys());
    else for (const id of touched) this.views.touch(id);
    for (const op of ops) {
      if (op.t === "removeApp") {
        this.views.forget(op.id);
        this.quiet.delete(op.id);
        this.ports?.remove(op.id);
      } else if (op.t === "putApp") {
        const current = this.state.apps.get(String(op.app["id"]));
        if (current) this.ports?.set(current);
      } else if (op.t === "putDeployment" || op.t === "removeDeployment") this.deploymentIndex = undefined;
    }
  }

  private portIndex(): ServicePortIndex {
    return (this.ports ??= new ServicePortIndex(this.state.apps.values()));
  }

  /** The apps whose views ops change (looked up before they apply); "all" for ops of no one app. */
  private touchedBy(ops: readonly ServicesOp[]): Set<string> | "all" {
    const out = new Set<string>();
    const byInstance = (id: string) => {
      const i = this.state.instances.get(id);
      if (i) out.add(i.appId);
    };
    for (const op of ops) {
      switch (op.t) {
        case "putApp":
          out.add(String(op.app["id"]));
          break;
        case "removeApp":
        case "markRemoving":
          out.add(op.id);
          break;
        case "putDeployment":
          out.add(op.d.appId);
          break;
        case "removeDeployment": {
          const d = this.state.deployments.get(op.id);
          if (d) out.add(d.appId);
          break;
        }
        case "addInstance":
          out.add(op.i.appId);
          break;
        case "updateInstance":
        case "removeInstance":
          byInstance(op.id);
          break;
        default:
          return "all";
      }
    }
    return out;
  }

  private soon(): void {
    if (this.tickQueued || this.stopped) return;
    this.tickQueued = true;
    this.options.clock.setTimer(0, () => {
      this.tickQueued = false;
      this.background(() => this.tick());
    });
  }

  private armTimer(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.tickMs ?? 1000, () => {
      this.serial(() => this.tick())
        .catch(() => undefined)
        .finally(() => this.armTimer());
    });
  }

  // ---- versions, specs -------------------------------------------------------------------

  private nextVersion(): string {
    this.lastVersion = Math.max(this.now, this.lastVersion + 1);
    return iso(this.lastVersion);
  }

  spec(app: AppJson): AppSpec {
    const key = String(app["id"]);
    const cached = this.specs.get(key);
    if (cached && cached.app === app) return cached.spec;
    const spec = appSpec(app);
    this.specs.set(key, { app, spec });
    return spec;
  }

  /** The spec of an app by id (undefined: no such app). */
  specOf(appId: string): AppSpec | undefined {
    const app = this.state.apps.get(appId);
    return app ? this.spec(app) : undefined;
  }

  deploymentsOf(appId: string): Deployment[] {
    if (!this.deploymentIndex) {
      this.deploymentIndex = new Map();
      for (const d of this.state.deployments.values()) {
        const list = this.deploymentIndex.get(d.appId);
        if (list) list.push(d);
        else this.deploymentIndex.set(d.appId, [d]);
      }
    }
    return this.deploymentIndex.get(appId) ?? [];
  }

  lastFailure(appId: string): TaskFailure | undefined {
    return this.failures.get(appId);
  }

  // ---- API mutations (each returns the deployment id) -------------------------------------

  private locked(appId: string, force: boolean): Deployment[] {
    const existing = this.deploymentsOf(appId);
    if (existing.length > 0 && !force) {
      throw Object.assign(
        new DcosError(Code.FAILED_PRECONDITION, `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${existing[0]!.id}'.`),
        { deployments: existing.map((d) => ({ id: d.id })) },
      );
    }
    return existing;
  }

  private deploymentFor(app: AppJson, previous: AppJson | undefined, kind: Deployment["kind"]): Deployment {
    const spec = this.spec(app);
    return {
      id: this.random.uuid(),
      appId: spec.id,
      version: String(app["version"]),
      previousVersion: previous ? String(previous["version"]) : undefined,
      kind,
      startedAt: this.now,
      deadlineAt: spec.deploymentTimeoutSeconds > 0 ? this.now + spec.deploymentTimeoutSeconds * 1000 : undefined,
      rollback: spec.rollbackOnFailure,
    };
  }

  /** Creates or replaces an app definition; resolves with the stored app and its deployment. */
  putApp(raw: unknown, options: { force: boolean; create: boolean; idFromPath?: string; restart?: boolean }): Promise<{ app: AppJson; deployment: Deployment; created: boolean }> {
    return this.serial(async () => {
      const app = normalizeApp(raw, { idFromPath: options.idFromPath });
      const id = String(app["id"]);
      if (this.isGroup(id)) throw new DcosError(Code.ALREADY_EXISTS, `An app with id [${id}] cannot be created: a group with that id exists`);
      const previous = this.state.apps.get(id);
      if (previous && options.create) throw new DcosError(Code.ALREADY_EXISTS, `An app with id [${id}] already exists.`);
      this.checkResidency(app, previous);
      assignServicePorts(app, previous, this.portIndex().others(id), this.options.servicePortRange);
      const ops: ServicesOp[] = [];
      for (const d of this.locked(id, options.force)) ops.push({ t: "removeDeployment", id: d.id });
      const version = this.nextVersion();
      delete app["deployments"];
      delete app["tasks"];
      for (const k of ["tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "lastTaskFailure"]) delete app[k];
      const scaleOnly = previous !== undefined && !options.restart && onlyScaleDiffers(previous, app);
      const configAt = scaleOnly ? configVersion(previous) : version;
      app["version"] = version;
      app["versionInfo"] = { lastScalingAt: version, lastConfigChangeAt: configAt };
      const kind: Deployment["kind"] = !previous ? "start" : scaleOnly ? "scale" : "restart";
      const deployment = this.deploymentFor(app, previous, kind);
      ops.push({ t: "putApp", app }, { t: "putDeployment", d: deployment });
      await this.write(ops);
      if (!scaleOnly) this.backoff.delete(id);
      this.publishDeploymentInfo(deployment);
      this.options.publish("group_change_success", { groupId: parentOf(id), version });
      this.soon();
      return { app, deployment, created: !previous };
    });
  }

  /** 422 when a resident app cannot run here (role "*") or would change its reserved resources. */
  private checkResidency(app: AppJson, previous: AppJson | undefined): void {
    const spec = appSpec(app);
    const roleProblem = spec.residency ? residentRoleProblem(this.options.role) : undefined;
    if (roleProblem) throw new InvalidApp([{ path: "/container/volumes", errors: [roleProblem] }]);
    const change = previous ? residentChangeProblem(this.spec(previous), spec) : undefined;
    if (change) throw new InvalidApp([{ path: change.path, errors: [change.error] }]);
  }

  /** Removes an app: a stop deployment kills its instances, then the app is forgotten. */
  removeApp(id: string, force: boolean): Promise<Deployment> {
    return this.serial(async () => {
      const app = this.state.apps.get(id);
      if (!app) throw new DcosError(Code.NOT_FOUND, `App '${id}' does not exist`);
      const ops: ServicesOp[] = [];
      for (const d of this.locked(id, force)) ops.push({ t: "removeDeployment", id: d.id });
      const deployment: Deployment = { ...this.deploymentFor(app, undefined, "stop"), deadlineAt: undefined, rollback: false };
      ops.push({ t: "markRemoving", id }, { t: "putDeployment", d: deployment });
      await this.write(ops);
      this.publishDeploymentInfo(deployment);
      this.soon();
      return deployment;
    });
  }

  /** Kills instances; with scale, lowers the app's instances by as many (one scale deployment). */
  killInstances(ids: readonly string[], options: { scale: boolean; wipe: boolean; force?: boolean }): Promise<{ killed: Instance[]; deployment?: Deployment }> {
    return this.serial(async () => {
      const found = ids.map((id) => this.state.instances.get(id)).filter((i): i is Instance => i !== undefined && !TERMINAL.has(i.state));
      const ops: ServicesOp[] = [];
      let deployment: Deployment | undefined;
      if (options.scale) {
        const byApp = new Map<string, number>();
        for (const i of found) byApp.set(i.appId, (byApp.get(i.appId) ?? 0) + 1);
        for (const [appId, n] of byApp) {
          const prev = this.state.apps.get(appId);
          if (!prev) continue;
          for (const d of this.locked(appId, options.force ?? false)) ops.push({ t: "removeDeployment", id: d.id });
          const version = this.nextVersion();
          const app: AppJson = { ...prev, instances: Math.max(0, Number(prev["instances"]) - n), version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: configVersion(prev) } };
          deployment = this.deploymentFor(app, prev, "scale");
          ops.push({ t: "putApp", app }, { t: "putDeployment", d: deployment });
        }
      }
      for (const i of found) ops.push(options.wipe ? { t: "removeInstance", id: i.id } : { t: "updateInstance", id: i.id, patch: { goal: "stopped" } });
      // Resident instances killed with scale or wipe give their reservations up; otherwise they relaunch in place.
      if (options.scale || options.wipe) ops.push(...this.resident.releaseFor(found, options.wipe ? "the instance was wiped" : "scaled down by a task kill"));
      await this.write(ops);
      for (const i of found) this.sendKill(i, "killed by request");
      if (deployment) this.publishDeploymentInfo(deployment);
      this.soon();
      return { killed: found, deployment };
    });
  }

  /** DELETE /v2/deployments/{id}: roll back (a new deployment to the previous version), or with force just forget it. */
  cancelDeployment(id: string, force: boolean): Promise<Deployment | undefined> {
    return this.serial(async () => {
      const d = this.state.deployments.get(id);
      if (!d) throw new DcosError(Code.NOT_FOUND, `DeploymentPlan ${id} does not exist`);
      if (force) {
        await this.write([{ t: "removeDeployment", id }]);
        this.options.publish("deployment_failed", { id, plan: this.deploymentView(d), reason: "canceled by request (force)" });
        return undefined;
      }
      const rollback = await this.rollback(d, "canceled by request");
      this.soon();
      return rollback;
    });
  }

  resetDelay(appId: string): boolean {
    if (!this.state.apps.has(appId)) throw new DcosError(Code.NOT_FOUND, `Application ${appId} not found in tasks queue.`);
    return this.backoff.delete(appId);
  }

  delayOf(appId: string): { until: number; now: number } | undefined {
    const b = this.backoff.get(appId);
    return b && b.until > this.now ? { until: b.until, now: this.now } : undefined;
  }

  /** Apps waiting for instances: (app id, how many, since). */
  queue(): { appId: string; count: number; since: number }[] {
    const out: { appId: string; count: number; since: number }[] = [];
    for (const [appId, app] of this.state.apps) {
      if (this.state.removing.has(appId)) continue;
      const plan = planApp(this.target(appId, app, false), instancesOf(this.state, appId), this.now);
      if (plan.launch > 0) out.push({ appId, count: plan.launch, since: this.waitingSince.get(appId) ?? this.now });
    }
    return out;
  }

  isGroup(id: string): boolean {
    const prefix = `${id}/`;
    for (const appId of this.state.apps.keys()) if (appId.startsWith(prefix)) return true;
    return false;
  }

  // ---- planning ------------------------------------------------------------------------

  private target(appId: string, app: AppJson, removing: boolean): AppTarget {
    let leaving: Set<string> | undefined;
    if (this.drainingAgents.size > 0) {
      for (const i of this.state.byApp.get(appId)?.values() ?? []) {
        if (this.drainingAgents.has(i.agentId) && !TERMINAL.has(i.state)) (leaving ??= new Set()).add(i.id);
      }
    }
    return { spec: this.spec(app), version: configVersion(app), removing, notReady: this.notReady.get(appId), leaving };
  }

  /** The agents instances are being moved off, and why (drain or maintenance). */
  draining(): ReadonlyMap<string, { why: "drain" | "maintenance" }> {
    return this.drainingAgents;
  }

  /** Maintenance ahead on agents we use: move off them (replacements first), and say so. */
  private async onInverseOffers(ios: InverseOffer[]): Promise<void> {
    for (const io of ios) {
      const agentId = io.agentId?.value;
      if (agentId) this.drainingAgents.set(agentId, { why: "maintenance", inverseOfferId: io.id?.value });
    }
    this.log.info({ agents: ios.map((io) => io.agentId?.value) }, "Maintenance ahead: moving instances off these agents");
    await this.ctx.driver.acceptInverseOffers(ios.map((io) => io.id!), { refuseSeconds: 30 }).catch(() => undefined);
    this.soon();
  }

  /**
   * Starts the scheduler's own checks that are due (instance-checks.ts) and notes which new
   * instances are not ready yet: during a deployment that is not a stop, instances of the
   * target version launched since it began must pass the app's readiness checks.
   */
  private runChecks(appId: string, app: AppJson, spec: AppSpec, instances: readonly Instance[], now: number): void {
    const scheduled = healthNeeds(spec).scheduler;
    if (scheduled) for (const i of instances) if (i.state === "running" && i.goal === "running") this.checks.probeHealth(i, spec, now);
    const d = spec.readinessChecks.length > 0 ? this.deploymentsOf(appId).find((x) => x.kind !== "stop") : undefined;
    if (!d) {
      this.notReady.delete(appId);
      return;
    }
    const version = configVersion(app);
    const waiting = new Set<string>();
    for (const i of instances) {
      if (i.version !== version || i.goal !== "running" || TERMINAL.has(i.state) || i.stagedAt < d.startedAt) continue;
      if (i.state === "running") this.checks.probeReadiness(i, spec, now);
      if (!this.checks.isReady(i, spec)) waiting.add(i.id);
    }
    this.notReady.set(appId, waiting);
  }

  /** Readiness results of the instances a deployment waits for (Marathon's readinessCheckResults). */
  readinessOf(appId: string): ReadinessResult[] {
    return [...(this.state.byApp.get(appId)?.values() ?? [])].flatMap((i) => this.checks.readinessResults(i.id));
  }

  deploymentView(d: Deployment, converged = false): Record<string, unknown> {
    return deploymentJson(d, converged, this.readinessOf(d.appId));
  }

  /** After probes answered: record the scheduler-run checks' verdict, kill instances that failed too often, plan again. */
  private async onCheckResults(): Promise<void> {
    const ids = [...this.checked];
    this.checked.clear();
    const ops: ServicesOp[] = [];
    const after: (() => void)[] = [];
    for (const id of ids) {
      const i = this.state.instances.get(id);
      const spec = i ? this.specOf(i.appId) : undefined;
      if (!i || !spec || TERMINAL.has(i.state) || i.goal !== "running" || !healthNeeds(spec).scheduler) continue;
      const alive = this.checks.checksAlive(i, spec);
      const exhausted = this.checks.exhausted(i, spec);
      const patch: Partial<Instance> = {};
      if (alive !== undefined && alive !== i.checksHealthy) patch.checksHealthy = alive;
      if (exhausted.length > 0) {
        patch.goal = "stopped";
        patch.message = `${exhausted[0]!.protocol} health check failed ${exhausted[0]!.maxConsecutiveFailures} times in a row`;
      }
      if (Object.keys(patch).length === 0) continue;
      ops.push({ t: "updateInstance", id, patch });
      const was = i.checksHealthy;
      after.push(() => {
        if (patch.checksHealthy !== undefined && patch.checksHealthy !== was) {
          this.options.publish("health_status_changed_event", { appId: i.appId, instanceId: i.id, taskId: i.id, version: i.version, alive: patch.checksHealthy });
          if (!patch.checksHealthy) {
            const failing = spec.healthChecks.find((_, k) => k !== spec.executorCheck && this.checks.healthResult(i.id, k)?.alive === false);
            this.options.publish("failed_health_check_event", { appId: i.appId, taskId: i.id, instanceId: i.id, healthCheck: failing ?? {} });
          }
        }
        if (patch.goal === "stopped") {
          this.options.publish("unhealthy_instance_kill_event", { appId: i.appId, taskId: i.id, instanceId: i.id, version: i.version, reason: patch.message, host: i.host, slaveId: i.agentId });
          this.sendKill(i, patch.message!);
        }
      });
    }
    await this.write(ops);
    for (const a of after) a();
    this.soon();
  }

  private async tick(): Promise<void> {
    const now = this.now;
    this.checks.retain((id) => this.state.instances.has(id));
    const ops: ServicesOp[] = [];
    const kills: Instance[] = [];
    const demands: Demand[] = [];
    const finished: Deployment[] = [];
    const ids = new Set([...this.state.apps.keys()]);
    const healthyApps = new Set<string>();
    ops.push(...this.resident.tick(now));
    const drainKey = [...this.drainingAgents.keys()].sort().join(",");
    if (drainKey !== this.quietDrainKey) {
      this.quiet.clear();
      this.quietDrainKey = drainKey;
    }
    for (const appId of ids) {
      const app = this.state.apps.get(appId)!;
      const spec = this.spec(app);
      const removing = this.state.removing.has(appId);
      // Converged with no deployment and nothing changed since: its plan is the same (only
      // unreachable instances make plans change with time, and such an app is not quiet).
      const revision = this.views.revision(appId);
      if (this.quiet.get(appId) === revision) {
        if (healthNeeds(spec).scheduler) this.runChecks(appId, app, spec, instancesOf(this.state, appId), now);
        healthyApps.add(appId);
        continue;
      }
      const instances = instancesOf(this.state, appId);
      if (!removing) this.runChecks(appId, app, spec, instances, now);
      const plan = planApp(this.target(appId, app, removing), instances, now);
      const quiet =
        plan.converged && !removing && plan.kill.length === 0 && plan.expunge.length === 0 && plan.launch === 0 &&
        this.deploymentsOf(appId).length === 0 && !instances.some((i) => i.state === "unreachable");
      if (quiet) this.quiet.set(appId, revision);
      else this.quiet.delete(appId);
      for (const id of plan.expunge) ops.push({ t: "removeInstance", id });
      const version = configVersion(app);
      for (const k of plan.kill) {
        const i = this.state.instances.get(k.id)!;
        ops.push({ t: "updateInstance", id: k.id, patch: { goal: "stopped", message: k.reason } });
        kills.push(i);
        // A resident instance of the current version killed (scale-down, removal) gives its reservation up; an old one relaunches there.
        if (i.reservationId && (removing || i.version === version)) ops.push(...this.resident.releaseFor([i], k.reason));
      }
      if (plan.converged) healthyApps.add(appId);
      if (removing && plan.converged) {
        ops.push({ t: "removeApp", id: appId });
        for (const i of instances) ops.push({ t: "removeInstance", id: i.id });
        this.options.publish("app_terminated_event", { appId });
      }
      for (const d of this.deploymentsOf(appId)) {
        if (plan.converged) finished.push(d);
        else if (d.deadlineAt !== undefined && now >= d.deadlineAt) await this.failDeployment(d, ops);
      }
      // Launches wait for backoff and for the app's dependencies to be healthy.
      const b = this.backoff.get(appId);
      const waiting = plan.launch > 0;
      if (waiting && !this.waitingSince.has(appId)) this.waitingSince.set(appId, now);
      if (!waiting) {
        this.waitingSince.delete(appId);
        this.offerStats.delete(appId);
      }
      if (!waiting || (b && b.until > now)) continue;
      if (spec.dependencies.some((dep) => this.state.apps.has(dep) && !this.isConverged(dep))) continue;
      const demand = this.resident.demand({
        appId,
        spec,
        version,
        count: plan.launch,
        roles: spec.acceptedResourceRoles.length > 0 ? spec.acceptedResourceRoles : ["*", this.options.role],
        placed: instances.filter((i) => !TERMINAL.has(i.state) && i.goal === "running").map((i) => this.placement(i)),
      });
      if (demand) demands.push(demand);
    }
    for (const d of finished) ops.push({ t: "removeDeployment", id: d.id });
    await this.write(ops);
    for (const d of finished) {
      const plan = this.deploymentView(d, true);
      this.options.publish("deployment_step_success", { plan, currentStep: plan["steps"] });
      this.options.publish("deployment_success", { id: d.id, plan });
      // Readiness matters during a deployment only.
      for (const i of instancesOf(this.state, d.appId)) this.checks.forgetReadiness(i.id);
      this.notReady.delete(d.appId);
      this.views.touch(d.appId);
    }
    for (const i of kills) this.sendKill(i, i.message ?? "planned");
    this.retryKills(now);
    if (this.unconfirmed.size > 0) this.reconcileUnconfirmed(now);
    this.demands = demands.sort((a, b) => dependencyDepth(this.state, a.appId) - dependencyDepth(this.state, b.appId));
    await this.adjustOffers();
  }

  private isConverged(appId: string): boolean {
    const app = this.state.apps.get(appId);
    if (!app) return true;
    return planApp(this.target(appId, app, false), instancesOf(this.state, appId), this.now).converged;
  }

  private placement(i: Instance): Placement {
    return this.agents.get(i.agentId) ?? { hostname: i.host, attributes: {} };
  }

  private async adjustOffers(): Promise<void> {
    const launches = this.demands.length > 0;
    const want = launches || this.resident.agentsWaiting().size > 0;
    // Offers declined for 30 s while only resident work wanted some: launches clear those filters.
    const filtered = launches && !this.hadLaunches && this.suppressed === false;
    this.hadLaunches = launches;
    if ((want && this.suppressed !== false) || filtered) await this.askOffers(true);
    else if (!want && this.suppressed !== true) await this.askOffers(false);
  }

  /**
   * REVIVE (want) or SUPPRESS. A call that failed leaves the master's view unknown, and the
   * next plan (within tickMs) asks again: the master keeps a suppression until it hears a
   * REVIVE, and a leader that took a lost REVIVE for done waited for offers for ever (a
   * REVIVE refused while the driver resubscribed to a new leading master).
   */
  private async askOffers(want: boolean): Promise<void> {
    const what = want ? "REVIVE" : "SUPPRESS";
    this.log[this.offerCallFailed ? "debug" : "info"]({ apps: this.demands.length }, want ? "Reviving offers: instances wait to be launched" : "Suppressing offers: nothing to launch");
    this.suppressed = !want;
    try {
      await (want ? this.ctx.driver.revive() : this.ctx.driver.suppress());
      this.offerCallFailed = false;
    } catch (err) {
      this.suppressed = undefined;
      this.log[this.offerCallFailed ? "debug" : "info"]({ err: asDcosError(err).message }, `${what} failed; asking again at the next plan`);
      this.offerCallFailed = true;
    }
  }

  private async failDeployment(d: Deployment, ops: ServicesOp[]): Promise<void> {
    ops.push({ t: "removeDeployment", id: d.id });
    this.options.publish("deployment_step_failure", { plan: this.deploymentView(d), reason: "deadline passed" });
    this.options.publish("deployment_failed", { id: d.id, plan: this.deploymentView(d), reason: `the deployment did not finish by its deadline ${iso(d.deadlineAt!)}` });
    this.log.warn({ deployment: d.id, app: d.appId }, "Deployment failed: deadline passed");
    if (d.rollback && d.previousVersion && !d.rollbackOf) {
      await this.write(ops.splice(0));
      await this.rollback(d, "deadline passed");
    }
  }

  /** Reverts d's app to d.previousVersion (or removes a new app) with a new deployment. */
  private async rollback(d: Deployment, why: string): Promise<Deployment | undefined> {
    const previous = d.previousVersion ? this.state.versions.get(d.appId)?.get(d.previousVersion) : undefined;
    const ops: ServicesOp[] = [{ t: "removeDeployment", id: d.id }];
    let next: Deployment | undefined;
    if (d.kind === "start" || !previous) {
      next = { ...this.deploymentFor(this.state.apps.get(d.appId)!, undefined, "stop"), rollbackOf: d.id, rollback: false, deadlineAt: undefined };
      ops.push({ t: "markRemoving", id: d.appId }, { t: "putDeployment", d: next });
    } else {
      const version = this.nextVersion();
      const current = this.state.apps.get(d.appId);
      const scaleOnly = current !== undefined && onlyScaleDiffers(current, previous);
      const app: AppJson = { ...previous, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: scaleOnly && current ? configVersion(current) : version } };
      next = { ...this.deploymentFor(app, current, scaleOnly ? "scale" : "restart"), rollbackOf: d.id, rollback: false };
      ops.push({ t: "putApp", app }, { t: "putDeployment", d: next });
    }
    await this.write(ops);
    this.log.warn({ deployment: d.id, rollback: next.id, why }, `Rolling back deployment ${d.id} of ${d.appId}: ${why}`);
    this.publishDeploymentInfo(next);
    return next;
  }

  private publishDeploymentInfo(d: Deployment): void {
    const plan = this.deploymentView(d);
    this.options.publish("deployment_info", { plan, currentStep: (plan["steps"] as unknown[])[0] });
  }

  private sendKill(i: Instance, reason: string): void {
    // Told before the kill leaves: load balancers take the instance out of rotation while it
    // still runs (it shows TASK_KILLING), and it ends within its taskKillGracePeriodSeconds.
    if (!this.killSentAt.has(i.id)) this.publishInstanceChanged({ ...i, state: "killing" });
    this.killSentAt.set(i.id, this.now);
    this.killed?.inc();
    const spec = this.state.apps.get(i.appId) ? this.spec(this.state.apps.get(i.appId)!) : undefined;
    const grace = spec?.taskKillGracePeriodSeconds;
    this.log.debug({ instance: i.id, reason }, "Killing instance");
    void this.ctx.driver.kill(i.id, i.agentId || undefined, grace === undefined ? undefined : { gracePeriodSeconds: grace }).catch(() => undefined);
  }

  /**
   * Kills decided (written) but whose task still runs: sent again every killRetryMs, and at
   * once by a new leader (the kill may have been lost with the previous leader or master).
   */
  private retryKills(now: number): void {
    const every = this.options.killRetryMs ?? 10_000;
    for (const id of this.killSentAt.keys()) if (!this.state.instances.has(id)) this.killSentAt.delete(id);
    for (const i of this.state.instances.values()) {
      if (i.goal !== "stopped" || TERMINAL.has(i.state)) continue;
      const at = this.killSentAt.get(i.id);
      if (at === undefined || now - at >= every) this.sendKill(i, at === undefined ? "kill decided earlier" : "kill retried");
    }
  }

  // ---- offers ---------------------------------------------------------------------------

  private async onOffers(all: Offer[]): Promise<void> {
    // Agents being drained or with maintenance ahead get no new instance (their offers are declined below).
    const offers: Offer[] = [];
    const maintenance: Offer[] = [];
    for (const o of all) {
      const agentId = o.agentId?.value ?? "";
      if (agentId) this.agents.set(agentId, new OfferPlacement(o));
      if (o.unavailability) {
        if (!this.drainingAgents.has(agentId)) this.drainingAgents.set(agentId, { why: "maintenance" });
      } else if (this.drainingAgents.delete(agentId)) {
        this.log.info({ agent: agentId }, `Agent ${agentId} is offered again without maintenance: instances may go there again`);
        this.soon();
      }
      (this.drainingAgents.has(agentId) ? maintenance : offers).push(o);
    }
    if (maintenance.length > 0) {
      for (const d of this.demands) {
        const s = this.offerStats.get(d.appId) ?? { processed: 0, unused: 0, reasons: {} };
        s.processed += maintenance.length;
        s.unused += maintenance.length;
        s.reasons.AgentMaintenance = (s.reasons.AgentMaintenance ?? 0) + maintenance.length;
        s.lastDetail = `agent ${maintenance[0]!.hostname} is being drained or has maintenance scheduled`;
        this.offerStats.set(d.appId, s);
      }
    }
    const now = this.now;
    // Resident instances relaunch in place (their volumes are there), maintenance or not.
    const resident = this.resident.offers(all, now);
    // /v2/queue says why a resident instance waits: for its own agent's offer.
    for (const w of this.resident.waitingRelaunches()) {
      const st = this.offerStats.get(w.appId) ?? { processed: 0, unused: 0, reasons: {} };
      st.lastDetail = `waiting for agent ${w.host} (${w.agentId}) to offer reservation ${w.id}: the instance relaunches in place, where its volumes are`;
      this.offerStats.set(w.appId, st);
    }
    if (this.demands.length === 0 && resident.agents.size === 0) {
      await this.write(resident.ops);
      await this.decline(all, offers.length === all.length ? 30 : 5);
      return;
    }
    const round: RoundResult = this.demands.length > 0 ? launchRound(this.demands, offers) : { launches: [], unused: [...offers], stats: new Map() };
    for (const [appId, s] of round.stats) {
      const prev = this.offerStats.get(appId);
      const merged: OfferStats = prev
        ? { processed: prev.processed + s.processed, unused: prev.unused + s.unused, reasons: { ...prev.reasons }, lastDetail: s.lastDetail ?? prev.lastDetail }
        : s;
      if (prev) for (const [r, n] of Object.entries(s.reasons)) merged.reasons[r as keyof OfferStats["reasons"]] = (prev.reasons[r as keyof OfferStats["reasons"]] ?? 0) + n;
      this.offerStats.set(appId, merged);
    }
    // An agent with resident work gets one ACCEPT of all its offers used: DESTROY/UNRESERVE/CREATE, RESERVE/CREATE, then the LAUNCH.
    const byAgent = resident.agents;
    const ops: ServicesOp[] = [...resident.ops];
    const launches: { offer: Offer; agentId: string; instance: Instance; resources: InstanceLaunch["resources"]; pre: OperationInit[] }[] = [];
    for (const l of round.launches) {
      const spec = this.spec(this.state.apps.get(l.appId)!);
      const stem = `${taskPrefix(l.appId)}.instance-${this.random.uuid()}`;
      if (spec.residency) {
        const r = this.resident.reserve(l, spec, stem, now);
        if (!r) continue;
        ops.push({ t: "putReservation", r: r.reservation }, { t: "addInstance", i: r.launch.instance });
        launches.push({ offer: l.offer, agentId: l.agentId, instance: r.launch.instance, resources: r.launch.resources, pre: r.launch.operations });
        continue;
      }
      const instance: Instance = { id: `${stem}._app.1`, appId: l.appId, version: l.version, agentId: l.agentId, host: l.host, ports: l.ports, state: "provisioned", goal: "running", stagedAt: now };
      ops.push({ t: "addInstance", i: instance });
      launches.push({ offer: l.offer, agentId: l.agentId, instance, resources: l.resources, pre: [] });
    }
    for (const l of launches) if (l.pre.length > 0 && !byAgent.has(l.agentId)) byAgent.set(l.agentId, { offers: [], operations: [], launches: [] });
    // Write every instance and reservation before acting on any.
    await this.write(ops);
    const task = (i: Instance, resources: InstanceLaunch["resources"]) => {
      const spec = this.spec(this.state.apps.get(i.appId)!);
      return buildTask(spec, { taskId: i.id, agentId: i.agentId, host: i.host, version: i.version, resources, ports: i.ports }, spec.labels);
    };
    const used = new Set<Offer>();
    const perOffer = new Map<Offer, ReturnType<typeof buildTask>[]>();
    const agentTasks = new Map<string, { pre: OperationInit[]; tasks: ReturnType<typeof buildTask>[] }>();
    for (const [agentId, a] of byAgent) {
      for (const o of a.offers) used.add(o);
      agentTasks.set(agentId, { pre: [...a.operations, ...a.launches.flatMap((l) => l.operations)], tasks: a.launches.map((l) => task(l.instance, l.resources)) });
    }
    for (const l of launches) {
      used.add(l.offer);
      const entry = agentTasks.get(l.agentId);
      if (entry) {
        const a = byAgent.get(l.agentId)!;
        if (!a.offers.includes(l.offer)) a.offers.push(l.offer);
        entry.pre.push(...l.pre);
        entry.tasks.push(task(l.instance, l.resources));
      } else perOffer.set(l.offer, [...(perOffer.get(l.offer) ?? []), task(l.instance, l.resources)]);
    }
    for (const [offer, tasks] of perOffer) {
      this.launched?.inc(tasks.length);
      void this.ctx.driver.launch([offer.id!], tasks, { refuseSeconds: 1 }).catch((err: unknown) => this.launchFailed(err, tasks));
    }
    for (const [agentId, { pre, tasks }] of agentTasks) {
      this.launched?.inc(tasks.length);
      const operations: OperationInit[] = tasks.length > 0 ? [...pre, { kind: { case: "launch", value: { taskInfos: tasks } } }] : pre;
      void this.ctx.driver.accept(byAgent.get(agentId)!.offers.map((o) => o.id!), operations, { refuseSeconds: 1 }).catch((err: unknown) => this.launchFailed(err, tasks));
    }
    await this.decline(all.filter((o) => !used.has(o)), 5);
    for (const l of launches) this.publishInstanceChanged(l.instance);
    for (const a of byAgent.values()) for (const l of a.launches) this.publishInstanceChanged(l.instance);
    this.soon();
  }

  /**
   * The launch may or may not have reached the master: ask it until it answers; unknown
   * tasks come back TASK_UNKNOWN (or LOST) and are replaced. An ACCEPT refused while the
   * driver resubscribed to a new leading master, with its RECONCILE refused just the same,
   * left its instances provisioned for ever: no master knew them, nothing more was asked.
   */
  private launchFailed(err: unknown, tasks: readonly ReturnType<typeof buildTask>[]): void {
    this.log.warn({ err: asDcosError(err).message, tasks: tasks.length }, "Launch failed; reconciling its tasks");
    for (const t of tasks) this.unconfirmed.set(t.taskId!.value, { agentId: t.agentId?.value, askedAt: undefined });
    this.reconcileUnconfirmed(this.now);
  }

  /** RECONCILE of the failed launches not heard of yet that are due (unconfirmed). */
  private reconcileUnconfirmed(now: number): void {
    const every = this.options.killRetryMs ?? 10_000;
    const ask: { taskId: string; agentId?: string }[] = [];
    for (const [taskId, u] of this.unconfirmed) {
      if (this.state.instances.get(taskId)?.state !== "provisioned") {
        this.unconfirmed.delete(taskId); // heard of (a status came) or gone
        continue;
      }
      if (u.askedAt !== undefined && now - u.askedAt < every) continue;
      u.askedAt = now;
      ask.push({ taskId, agentId: u.agentId });
    }
    if (ask.length === 0) return;
    this.ctx.driver.reconcile(ask).catch((err: unknown) => {
      for (const a of ask) {
        const u = this.unconfirmed.get(a.taskId);
        if (u?.askedAt === now) u.askedAt = undefined;
      }
      this.log.debug({ err: asDcosError(err).message, tasks: ask.length }, "Could not reconcile failed launches; asking again at the next plan");
    });
  }

  /** Declines offers; an agent resident work waits on is refused for 1 s only (a relaunch in place must not wait). */
  private async decline(offers: readonly Offer[], refuseSeconds: number): Promise<void> {
    if (offers.length === 0) return;
    const waiting = this.resident.agentsWaiting();
    const soon = offers.filter((o) => waiting.has(o.agentId?.value ?? ""));
    const later = offers.filter((o) => !waiting.has(o.agentId?.value ?? ""));
    if (soon.length > 0) await this.ctx.driver.decline(soon.map((o) => o.id!), { refuseSeconds: 1 }).catch(() => undefined);
    if (later.length > 0) await this.ctx.driver.decline(later.map((o) => o.id!), { refuseSeconds }).catch(() => undefined);
  }

  // ---- status updates -------------------------------------------------------------------

  private async onStatuses(): Promise<void> {
    const batch = this.pendingStatuses;
    this.pendingStatuses = [];
    const ops: ServicesOp[] = [];
    const effects: (() => void)[] = [];
    for (const status of batch) {
      const i = this.state.instances.get(status.taskId?.value ?? "");
      if (i?.reservationId) ops.push(...this.resident.statusOps(i, instanceState(status.state), status.reason === TaskStatus_Reason.INVALID_OFFERS));
      const r = this.prepareStatus(status);
      if (r) {
        ops.push(r.op);
        effects.push(r.after);
      }
    }
    await this.write(ops);
    for (const e of effects) e();
    if (effects.length > 0) this.soon();
  }

  /** The op recording one status update, and what to do once it is written (events, backoff). */
  private prepareStatus(status: TaskStatus): { op: ServicesOp; after: () => void } | undefined {
    const taskId = status.taskId?.value ?? "";
    const i = this.state.instances.get(taskId);
    const state = instanceState(status.state);
    if (!i) {
      // A task we do not keep (expunged, wiped, or from before a lost write): kill it.
      if (!TERMINAL.has(state)) {
        this.log.info({ task: taskId }, `Killing task ${taskId}: it belongs to no instance`);
        void this.ctx.driver.kill(taskId, status.agentId?.value).catch(() => undefined);
      }
      return undefined;
    }
    const now = this.now;
    const before = { state: i.state, healthy: i.healthy };
    const patch: Partial<Instance> = { state, message: status.message || undefined };
    if (status.healthy !== undefined) patch.healthy = status.healthy;
    if (state === "running" && i.startedAt === undefined) patch.startedAt = now;
    if (state === "unreachable") patch.unreachableSince = i.unreachableSince ?? now;
    else patch.unreachableSince = undefined;
    if (status.agentId?.value && !i.agentId) patch.agentId = status.agentId.value;
    if (status.reason === TaskStatus_Reason.AGENT_DRAINING && i.agentId && this.drainingAgents.get(i.agentId)?.why !== "drain") {
      this.drainingAgents.set(i.agentId, { why: "drain" });
      this.log.info({ agent: i.agentId }, `Agent ${i.agentId} is being drained: its instances are replaced elsewhere`);
    }
    const terminal = TERMINAL.has(state);
    const changed = before.state !== state || (patch.healthy !== undefined && patch.healthy !== before.healthy);
    if (!changed && !terminal) return undefined;
    const op: ServicesOp = terminal ? { t: "removeInstance", id: i.id } : { t: "updateInstance", id: i.id, patch };
    return { op, after: () => this.statusWritten(i, status, state, patch, before, terminal, now) };
  }

  private statusWritten(
    i: Instance,
    status: TaskStatus,
    state: InstanceState,
    patch: Partial<Instance>,
    before: { state: InstanceState; healthy: boolean | undefined },
    terminal: boolean,
    now: number,
  ): void {
    if (terminal) Object.assign(i, patch);
    const app = this.state.apps.get(i.appId);
    const spec = app ? this.spec(app) : undefined;
    this.options.publish("status_update_event", {
      slaveId: i.agentId,
      taskId: i.id,
      taskStatus: taskStateName({ ...i, state }),
      message: status.message,
      appId: i.appId,
      host: i.host,
      ipAddresses: [],
      ports: i.ports,
      version: i.version,
    });
    this.publishInstanceChanged({ ...i, state });
    if (patch.healthy !== undefined && patch.healthy !== before.healthy) {
      this.options.publish("health_status_changed_event", { appId: i.appId, instanceId: i.id, taskId: i.id, version: i.version, alive: patch.healthy });
      if (!patch.healthy) {
        this.options.publish("failed_health_check_event", { appId: i.appId, taskId: i.id, instanceId: i.id, healthCheck: (spec?.executorCheck !== undefined ? spec.healthChecks[spec.executorCheck] : undefined) ?? {} });
      }
    }
    if (terminal) {
      this.killSentAt.delete(i.id);
      const unhealthyKill = status.reason === TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED || (state === "killed" && status.healthy === false);
      if (unhealthyKill) {
        this.options.publish("unhealthy_instance_kill_event", { appId: i.appId, taskId: i.id, instanceId: i.id, version: i.version, reason: status.message, host: i.host, slaveId: i.agentId });
      }
      // A drain's kill is not the app's failure: no backoff.
      if (i.goal === "running" && spec && status.reason !== TaskStatus_Reason.AGENT_DRAINING) {
        this.views.touch(i.appId);
        this.failures.set(i.appId, {
          appId: i.appId,
          host: i.host,
          message: status.message,
          state: taskStateName({ ...i, state }),
          taskId: i.id,
          timestamp: iso(now),
          version: i.version,
          slaveId: i.agentId,
        });
        const b = this.backoff.get(i.appId);
        const delayMs = b ? Math.min(b.delayMs * spec.backoffFactor, spec.maxLaunchDelaySeconds * 1000) : spec.backoffSeconds * 1000;
        this.backoff.set(i.appId, { delayMs, until: now + delayMs });
      }
    } else if (state === "running" && isHealthy({ ...i, ...patch } as Instance, (spec?.healthChecks.length ?? 0) > 0)) {
      // A healthy instance ends the app's backoff streak.
      const b = this.backoff.get(i.appId);
      if (b && b.until <= now) this.backoff.delete(i.appId);
    }
  }

  private publishInstanceChanged(i: Instance): void {
    this.options.publish("instance_changed_event", {
      instanceId: i.id,
      condition: i.state.charAt(0).toUpperCase() + i.state.slice(1),
      runSpecId: i.appId,
      agentId: i.agentId,
      host: i.host,
      runSpecVersion: i.version,
      timestamp: iso(this.now),
    });
  }

  /** An app's view as JSON, from the cache unless the app changed since it was made. */
  appViewJson(app: AppJson, embed: Parameters<typeof appJson>[5]): string {
    const variant = `${embed.tasks ? "t" : ""}${embed.counts === false ? "" : "c"}${embed.deployments ? "d" : ""}${embed.lastTaskFailure ? "f" : ""}${embed.readiness ? "r" : ""}`;
    return this.views.json(String(app["id"]), variant, () => this.appView(app, embed));
  }

  /** GET /v2/apps/{id} body. */
  appView(app: AppJson, embed: Parameters<typeof appJson>[5]): Record<string, unknown> {
    const id = String(app["id"]);
    const m = this.state.byApp.get(id);
    return appJson(app, this.spec(app), m ? m.values() : [], this.deploymentsOf(id), this.failures.get(id), embed, this.checks);
  }
}

class OfferPlacement implements Placement {
  readonly hostname: string;
  readonly attributes: Record<string, string>;
  constructor(o: Offer) {
    this.hostname = o.hostname;
    this.attributes = {};
    for (const a of o.attributes) this.attributes[a.name] = a.text?.value ?? (a.scalar ? String(a.scalar.value) : "");
  }
}

/** "/prod/web" → "prod_web" (Marathon's task id prefix). */
export function taskPrefix(appId: string): string {
  return appId.split("/").filter(Boolean).join("_");
}

export function parentOf(id: string): string {
  const i = id.lastIndexOf("/");
  return i <= 0 ? "/" : id.slice(0, i);
}

function dependencyDepth(s: ServicesState, appId: string, seen = new Set<string>()): number {
  if (seen.has(appId)) return 0;
  seen.add(appId);
  const app = s.apps.get(appId);
  const deps = app && Array.isArray(app["dependencies"]) ? (app["dependencies"] as string[]) : [];
  let depth = 0;
  for (const d of deps) depth = Math.max(depth, 1 + dependencyDepth(s, d, seen));
  return depth;
}
