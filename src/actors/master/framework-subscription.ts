/**
 * Framework lifecycle: subscribe (first time or scheduler failover), stream loss and the
 * failover timeout, removal (teardown or timeout: tasks killed, offers rescinded), and
 * UPDATE_FRAMEWORK. State changes that must survive a master failover go through the
 * registrar first; the rest happens when it answers.
 */
import { clone, create } from "@bufbuild/protobuf";
import { FrameworkInfoSchema, type FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { ShutdownFrameworkSchema, UpdateFrameworkSchema } from "../../gen/dcos/v1/internal_pb.js";
import type { SubscribeRequest, UpdateFrameworkRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { AllocatorFramework } from "../allocator/allocator.js";
import { AgentState } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import { FrameworkRecord, FrameworkState, type EventSink } from "./framework-record.js";
import { validateFrameworkInfo } from "./validation.js";
import { frameworkAdded, frameworkRemoved, frameworkUpdated } from "./cluster-events.js";

export interface Subscription {
  frameworkId: string;
  streamId: string;
}

function allocatorView(f: FrameworkRecord): AllocatorFramework {
  return { roles: f.info.roles, suppressedRoles: [...f.suppressedRoles], active: f.connected };
}

/** What the framework's tasks hold, per agent (for the allocator on (re)adding it). */
function usedByAgent(core: MasterState, f: FrameworkRecord): Map<string, Resource[]> {
  const used = new Map<string, Resource[]>();
  for (const t of f.tasks.values()) {
    const agentId = t.agentId?.value ?? "";
    if (core.agents.get(agentId)?.state !== AgentState.ACTIVE) continue;
    let list = used.get(agentId);
    if (!list) used.set(agentId, (list = []));
    list.push(...t.resources);
  }
  return used;
}

function guardPending(core: MasterState, id: string): void {
  if (core.pendingFrameworks.has(id)) {
    throw new DcosError(Code.UNAVAILABLE, `Framework ${id} is being subscribed, updated or removed right now; retry`);
  }
}

/** SUBSCRIBE: validates, persists, then attaches the stream and sends SUBSCRIBED. */
export function subscribe(core: MasterState, request: SubscribeRequest, sink: EventSink, limits: { maxFrameworksPerPrincipal?: number } = {}): Promise<Subscription> {
  core.metrics.message("subscribe");
  const info = clone(FrameworkInfoSchema, validateFrameworkInfo(request.frameworkInfo, request.suppressedRoles));
  const requestedId = info.id?.value ?? "";
  let existing: FrameworkRecord | undefined;
  if (requestedId) {
    guardPending(core, requestedId);
    if (core.registrar.state().removedFrameworks.has(requestedId)) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Framework ${requestedId} was removed; subscribe without an id to start a new one`);
    }
    existing = core.frameworks.get(requestedId);
    if (!existing) throw new DcosError(Code.NOT_FOUND, `Framework ${requestedId} is not known to this master; subscribe without an id`);
    if (existing.info.principal !== info.principal) {
      throw new DcosError(
        Code.PERMISSION_DENIED,
        `Framework ${requestedId} is registered with principal '${existing.info.principal}', not '${info.principal}'`,
      );
    }
  }
  const max = limits.maxFrameworksPerPrincipal;
  if (!existing && max !== undefined) {
    let held = 0;
    for (const f of core.frameworks.values()) if (f.info.principal === info.principal) held++;
    if (held >= max) {
      throw new DcosError(Code.RESOURCE_EXHAUSTED, `Principal '${info.principal}' already has ${held} frameworks registered (at most ${max}); tear one down first`);
    }
  }
  const id = requestedId || core.newFrameworkId();
  info.id = ids.framework(id);
  core.pendingFrameworks.add(id);
  return new Promise<Subscription>((resolve, reject) => {
    core.persist(
      existing ? { kind: "updateFramework", info } : { kind: "addFramework", info },
      () => {
        core.pendingFrameworks.delete(id);
        resolve(attach(core, id, info, request.suppressedRoles, sink));
      },
      (err) => {
        core.pendingFrameworks.delete(id);
        reject(err);
      },
    );
  });
}

function attach(core: MasterState, id: string, info: FrameworkInfo, suppressedRoles: readonly string[], sink: EventSink): Subscription {
  let f = core.frameworks.get(id);
  const failover = f !== undefined;
  // Which roles it subscribed suppressed decides whether it gets offers at all: worth a word.
  const suppressed = suppressedRoles.length > 0 ? `, offers suppressed for ${suppressedRoles.join(", ")}` : "";
  if (!f) {
    f = new FrameworkRecord(id, info, FrameworkState.CONNECTED);
    core.frameworks.set(id, f);
    core.log.info({ framework: id, roles: info.roles, suppressedRoles }, `Added framework ${id} (${info.name}) with roles ${info.roles.join(", ")}${suppressed}`);
  } else {
    if (f.sink) {
      f.emit(core.event({ case: "error", value: { $typeName: "dcos.v1.Event.Error", message: "Framework failed over: a newer scheduler subscribed" } }));
      f.closeStream();
    }
    core.rescindOffers(core.offers.ofFramework(id), "the framework failed over", { framework: id });
    f.stopTimers();
    f.info = info;
    f.transition(FrameworkState.CONNECTED, core.log, `scheduler (re)subscribed${suppressed}`);
  }
  f.suppressedRoles.clear();
  for (const r of suppressedRoles) f.suppressedRoles.add(r);
  f.sink = sink;
  f.backedUp = false;
  f.offersPaused = false;
  f.streamId = core.newStreamId();
  f.registeredAt = core.now();
  if (failover) {
    core.allocator.updateFramework(id, allocatorView(f));
    core.allocator.activateFramework(id);
    notifyAgents(core, f);
  } else {
    core.allocator.addFramework(id, allocatorView(f), usedByAgent(core, f));
  }
  core.emit(f, {
    case: "subscribed",
    value: {
      $typeName: "dcos.v1.Event.Subscribed",
      frameworkId: ids.framework(id),
      streamId: f.streamId,
      heartbeatIntervalSeconds: core.options.heartbeatIntervalMs / 1000,
      masterInfo: core.masterInfo(),
    },
  });
  scheduleHeartbeat(core, f);
  if (failover) frameworkUpdated(core, f);
  else frameworkAdded(core, f);
  return { frameworkId: id, streamId: f.streamId };
}

function scheduleHeartbeat(core: MasterState, f: FrameworkRecord): void {
  f.heartbeatTimer?.cancel();
  f.heartbeatTimer = core.host.delay(core.options.heartbeatIntervalMs, () => {
    f.heartbeatTimer = undefined;
    if (!f.connected) return;
    core.emit(f, { case: "heartbeat", value: { $typeName: "dcos.v1.Event.Heartbeat" } });
    scheduleHeartbeat(core, f);
  });
}

/** Tells agents running the framework's tasks about its new info. */
function notifyAgents(core: MasterState, f: FrameworkRecord): void {
  const message = create(UpdateFrameworkSchema, { frameworkId: ids.framework(f.id), frameworkInfo: f.info });
  // The agents of its tasks, gathered once (not a walk of its tasks per agent: 10,000 agents × 400 tasks).
  const withTasks = new Set<string>();
  for (const t of f.tasks.values()) if (t.agentId) withTasks.add(t.agentId.value);
  for (const agent of core.agents.values()) {
    if (agent.state === AgentState.ACTIVE && (agent.executors.has(f.id) || withTasks.has(agent.id))) core.sendToAgent(agent, message);
  }
}

/** The scheduler's stream ended: the framework waits failover_timeout for a new scheduler. */
export function streamClosed(core: MasterState, frameworkId: string, streamId: string): void {
  const f = core.frameworks.get(frameworkId);
  if (!f || f.streamId !== streamId || !f.connected) return;
  f.sink = undefined;
  f.streamId = "";
  f.backedUp = false;
  f.offersPaused = false;
  f.stopTimers();
  f.transition(FrameworkState.DISCONNECTED, core.log, "its scheduler's stream closed");
  core.allocator.deactivateFramework(frameworkId);
  core.rescindOffers(core.offers.ofFramework(frameworkId), "the framework disconnected", { framework: frameworkId });
  startFailover(core, f);
  frameworkUpdated(core, f);
}

/**
 * The scheduler's stream is backed up (events queued unread: EventStreamLimits.backedUpEvents)
 * or has caught up. While backed up the framework gets no offers (the allocator holds it
 * inactive, as Mesos does a deactivated framework): offers it cannot read in time only age
 * in its queue while other frameworks could use the agents. Offers it holds stay its own.
 */
export function schedulerBackedUp(core: MasterState, frameworkId: string, streamId: string, backedUp: boolean): void {
  const f = core.frameworks.get(frameworkId);
  if (!f || f.streamId !== streamId || !f.connected || f.backedUp === backedUp) return;
  f.backedUp = backedUp;
  if (backedUp) {
    core.metrics.schedulersBackedUp.inc();
    core.log.info({ framework: frameworkId }, `No offers to ${f.info.name} while its stream is backed up`);
    core.allocator.deactivateFramework(frameworkId);
  } else {
    core.log.info({ framework: frameworkId }, `Offers to ${f.info.name} again: it read what waited`);
    // Unless it still holds too many offers (offersHeldChanged resumes it then).
    if (!f.offersPaused) core.allocator.activateFramework(frameworkId);
  }
}

/** The scheduler read its stream too slowly and was cut off: counted, logged, then as a lost stream. */
export function streamStalled(core: MasterState, frameworkId: string, streamId: string, why: string): void {
  const f = core.frameworks.get(frameworkId);
  if (!f || f.streamId !== streamId || !f.connected) return;
  core.metrics.slowSchedulersDisconnected.inc();
  core.log.warn({ framework: frameworkId, why }, `Disconnecting ${f.name} because ${why}; it may subscribe again within its failover timeout`);
  streamClosed(core, frameworkId, streamId);
}

/** Waits failover_timeout for a new scheduler, then removes the framework. */
export function startFailover(core: MasterState, f: FrameworkRecord): void {
  const frameworkId = f.id;
  const timeoutMs = f.info.failoverTimeout * 1000;
  core.log.info({ framework: frameworkId, failoverTimeoutMs: timeoutMs }, `Framework ${frameworkId} has ${timeoutMs} ms to fail over`);
  f.failoverTimer = core.host.delay(timeoutMs, () => {
    f.failoverTimer = undefined;
    if (f.state !== FrameworkState.DISCONNECTED) return;
    removeFramework(core, f, "its failover timeout expired").catch((err: unknown) =>
      core.log.error({ err, framework: frameworkId }, "Removing a framework after its failover timeout failed"),
    );
  });
}

/** Removes a framework for good: kills its tasks on every agent and forgets it. */
export function removeFramework(core: MasterState, f: FrameworkRecord, why: string): Promise<void> {
  guardPending(core, f.id);
  core.pendingFrameworks.add(f.id);
  return new Promise<void>((resolve, reject) => {
    core.persist(
      { kind: "removeFramework", frameworkId: f.id },
      () => {
        core.pendingFrameworks.delete(f.id);
        forget(core, f, why);
        resolve();
      },
      (err) => {
        core.pendingFrameworks.delete(f.id);
        reject(err);
      },
    );
  });
}

function forget(core: MasterState, f: FrameworkRecord, why: string): void {
  if (f.state === FrameworkState.REMOVED) return;
  core.rescindOffers(core.offers.ofFramework(f.id), `the framework is removed (${why})`, { framework: f.id });
  f.stopTimers();
  f.transition(FrameworkState.REMOVED, core.log, why);
  f.closeStream();
  core.allocator.removeFramework(f.id);
  const shutdown = create(ShutdownFrameworkSchema, { frameworkId: ids.framework(f.id) });
  const agentIds = new Set<string>(core.agentsHostingFramework(f.id));
  for (const task of [...f.tasks.values()]) {
    agentIds.add(task.agentId?.value ?? "");
    core.setTaskState(task, TaskState.KILLED, false);
    core.removeTask(task);
  }
  for (const agentId of agentIds) {
    const agent = core.agents.get(agentId);
    if (!agent) continue;
    agent.executors.delete(f.id);
    if (agent.state === AgentState.ACTIVE) core.sendToAgent(agent, shutdown);
  }
  core.frameworks.delete(f.id);
  core.completedFrameworks.add(f.info);
  core.metrics.frameworksRemoved.inc();
  frameworkRemoved(core, f.info, why);
  core.log.info({ framework: f.id, reason: TaskStatus_Reason[TaskStatus_Reason.FRAMEWORK_REMOVED] }, `Removed framework ${f.id}: ${why}`);
}

/** UPDATE_FRAMEWORK: new info (same id and principal), persisted, told to allocator and agents. */
export function updateFramework(core: MasterState, f: FrameworkRecord, request: UpdateFrameworkRequest): Promise<void> {
  const info = clone(FrameworkInfoSchema, validateFrameworkInfo(request.frameworkInfo, request.suppressedRoles));
  const infoId = info.id?.value ?? "";
  if (infoId && infoId !== f.id) throw new DcosError(Code.INVALID_ARGUMENT, `framework_info.id ${infoId} differs from framework_id ${f.id}`);
  if (info.principal !== f.info.principal) {
    throw new DcosError(Code.INVALID_ARGUMENT, `framework_info.principal cannot change (from '${f.info.principal}' to '${info.principal}')`);
  }
  if (info.user !== f.info.user) throw new DcosError(Code.INVALID_ARGUMENT, `framework_info.user cannot change (from '${f.info.user}' to '${info.user}')`);
  info.id = ids.framework(f.id);
  guardPending(core, f.id);
  core.pendingFrameworks.add(f.id);
  return new Promise<void>((resolve, reject) => {
    core.persist(
      { kind: "updateFramework", info },
      () => {
        core.pendingFrameworks.delete(f.id);
        if (f.state === FrameworkState.REMOVED) return reject(new DcosError(Code.NOT_FOUND, `Framework ${f.id} was removed`));
        f.info = info;
        f.suppressedRoles.clear();
        for (const r of request.suppressedRoles) f.suppressedRoles.add(r);
        core.allocator.updateFramework(f.id, allocatorView(f));
        notifyAgents(core, f);
        core.log.info({ framework: f.id, roles: info.roles }, `Updated framework ${f.id}`);
        frameworkUpdated(core, f);
        resolve();
      },
      (err) => {
        core.pendingFrameworks.delete(f.id);
        reject(err);
      },
    );
  });
}
