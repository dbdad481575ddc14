/**
 * The scheduler's unary calls other than ACCEPT, SUBSCRIBE and ACKNOWLEDGE: each checks
 * that the caller is the framework's current scheduler, then acts. Bad input throws a
 * DcosError that the gRPC service turns into a status.
 */
import { create } from "@bufbuild/protobuf";
import { FrameworkMessageSchema, KillTaskSchema, ShutdownExecutorSchema } from "../../gen/dcos/v1/internal_pb.js";
import type {
  DeclineRequest,
  KillRequest,
  MessageRequest,
  ReviveRequest,
  ShutdownRequest,
  SuppressRequest,
} from "../../gen/dcos/v1/scheduler_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { AgentState, type AgentRecord } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import { FrameworkState, type FrameworkRecord } from "./framework-record.js";
import { DEFAULT_REFUSE_SECONDS } from "./options.js";
import { reconcileTask } from "./reconciliation.js";
import { isTerminal } from "../task-states.js";
import { requireId, validateCallRoles, validateFilters } from "./validation.js";
import { offersDeclined } from "./cluster-events.js";

/** The framework a call is for, if the caller holds its current stream. */
export function callerFramework(core: MasterState, frameworkId: { value: string } | undefined, streamId: string): FrameworkRecord {
  const id = requireId(frameworkId, "framework_id");
  const f = core.frameworks.get(id);
  if (!f) {
    const removed = core.registrar.state().removedFrameworks.has(id);
    throw new DcosError(Code.NOT_FOUND, removed ? `Framework ${id} was removed` : `Framework ${id} is not known to this master`);
  }
  if (f.state !== FrameworkState.CONNECTED) throw new DcosError(Code.FAILED_PRECONDITION, `Framework ${id} is not subscribed (its scheduler disconnected); subscribe again`);
  if (!streamId) throw new DcosError(Code.INVALID_ARGUMENT, "stream_id is required (from the SUBSCRIBED event)");
  if (streamId !== f.streamId) {
    throw new DcosError(Code.FAILED_PRECONDITION, `stream_id ${streamId} is not framework ${id}'s current stream (a newer scheduler subscribed)`);
  }
  return f;
}

export function decline(core: MasterState, f: FrameworkRecord, request: DeclineRequest): void {
  core.metrics.message("decline");
  validateFilters(request.filters);
  const refuseSeconds = request.filters?.refuseSeconds ?? DEFAULT_REFUSE_SECONDS;
  const declined: typeof request.offerIds = [];
  const unknown: string[] = [];
  for (const offerId of request.offerIds) {
    const offer = core.offers.get(offerId.value);
    if (!offer || offer.frameworkId?.value !== f.id) {
      core.drop("invalid_offers", `Ignoring the decline of offer ${offerId.value} by framework ${f.id}: not an outstanding offer of it`);
      unknown.push(offerId.value);
      continue;
    }
    core.offers.remove(offerId.value);
    core.metrics.offersDeclined.inc();
    core.recoverOffer(f.id, offer.agentId!.value, offer.resources, refuseSeconds);
    declined.push(offerId);
  }
  if (declined.length > 0) {
    offersDeclined(core, f, declined, refuseSeconds);
    core.offersHeldChanged(f.id);
  }
  if (unknown.length > 0) {
    const rest = declined.length > 0 ? `; the other ${declined.length} offer(s) were declined` : "";
    throw new DcosError(
      Code.NOT_FOUND,
      `Offer(s) ${unknown.join(", ")} are not outstanding offers of framework ${f.id} (already accepted, declined or rescinded, or never made)${rest}`,
    );
  }
}

export function revive(core: MasterState, f: FrameworkRecord, request: ReviveRequest): void {
  core.metrics.message("revive");
  validateCallRoles(request.roles, f.info.roles);
  const roles = request.roles.length > 0 ? request.roles : f.info.roles;
  for (const r of roles) f.suppressedRoles.delete(r);
  core.changed();
  core.allocator.reviveOffers(f.id, request.roles);
}

export function suppress(core: MasterState, f: FrameworkRecord, request: SuppressRequest): void {
  core.metrics.message("suppress");
  validateCallRoles(request.roles, f.info.roles);
  const roles = request.roles.length > 0 ? request.roles : f.info.roles;
  for (const r of roles) f.suppressedRoles.add(r);
  core.changed();
  core.allocator.suppressOffers(f.id, request.roles);
}

function reachableAgent(core: MasterState, agentId: string, what: string): AgentRecord {
  const agent = core.agents.get(agentId);
  if (!agent) throw new DcosError(Code.NOT_FOUND, `${what}: agent ${agentId} is not registered`);
  if (agent.state !== AgentState.ACTIVE) throw new DcosError(Code.FAILED_PRECONDITION, `${what}: agent ${agentId} is ${agent.state.toLowerCase()}`);
  return agent;
}

export function kill(core: MasterState, f: FrameworkRecord, request: KillRequest): void {
  core.metrics.message("kill");
  const taskId = requireId(request.taskId, "task_id");
  const task = f.tasks.get(taskId);
  if (!task) {
    core.log.info({ framework: f.id, task: taskId }, `Asked to kill unknown task ${taskId}; answering as reconciliation`);
    reconcileTask(core, f, taskId, request.agentId?.value || undefined);
    return;
  }
  if (isTerminal(task.state)) {
    core.log.info({ framework: f.id, task: taskId }, `Not killing task ${taskId}: it is already terminal`);
    return;
  }
  const agent = core.agents.get(task.agentId?.value ?? "");
  if (!agent || agent.state !== AgentState.ACTIVE) {
    core.drop("invalid_kills", `Cannot kill task ${taskId} now: its agent ${task.agentId?.value} is not reachable`);
    return;
  }
  core.sendToAgent(agent, create(KillTaskSchema, { frameworkId: ids.framework(f.id), taskId: ids.task(taskId), killPolicy: request.killPolicy ?? task.killPolicy }));
}

export function shutdownExecutor(core: MasterState, f: FrameworkRecord, request: ShutdownRequest): void {
  core.metrics.message("shutdown");
  const executorId = requireId(request.executorId, "executor_id");
  const agent = reachableAgent(core, requireId(request.agentId, "agent_id"), `Cannot shut down executor ${executorId}`);
  core.sendToAgent(agent, create(ShutdownExecutorSchema, { frameworkId: ids.framework(f.id), executorId: ids.executor(executorId) }));
}

export function frameworkMessage(core: MasterState, f: FrameworkRecord, request: MessageRequest): void {
  core.metrics.message("framework_to_executor");
  const executorId = requireId(request.executorId, "executor_id");
  let agent: AgentRecord;
  try {
    agent = reachableAgent(core, requireId(request.agentId, "agent_id"), `Cannot send a message to executor ${executorId}`);
  } catch (err) {
    core.drop("invalid_framework_to_executor_messages", (err as Error).message);
    throw err;
  }
  core.sendToAgent(
    agent,
    create(FrameworkMessageSchema, { frameworkId: ids.framework(f.id), executorId: ids.executor(executorId), agentId: ids.agent(agent.id), data: request.data }),
  );
}
