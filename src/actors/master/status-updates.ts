/**
 * Status updates flow agent → master → scheduler, acknowledgements scheduler → master →
 * agent. The master keeps each task's latest state (what the agent says is current) and
 * the update awaiting acknowledgement; an acknowledged terminal update ends the task's
 * life in the master. Executor exits and executor messages travel the same way.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  StatusUpdateAcknowledgementSchema,
  type ExitedExecutor,
  type FrameworkMessage,
  type StatusUpdate,
  type UpdateAgent,
} from "../../gen/dcos/v1/internal_pb.js";
import type { AcknowledgeBatchRequest, AcknowledgeBatchResponseSchema, AcknowledgeRequest, Acknowledgement } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { Pid } from "../../runtime/pid.js";
import { AgentState } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { drainingStatus, drainProgress } from "./drain.js";
import { requireId } from "./validation.js";

/** How many past statuses the master keeps per task (the latest matter for /state). */
const KEPT_STATUSES = 10;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bytes in a buffer of their own (the same array when it already is, or empty). Not slice(): on a Node Buffer that is a view. */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.length === 0 || (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) ? bytes : new Uint8Array(bytes);
}

export function statusUpdate(core: MasterState, from: Pid, update: StatusUpdate): void {
  core.metrics.message("status_update");
  const agent = core.agentFrom(from, "a status update");
  if (!agent) return;
  const taskId = update.status?.taskId?.value;
  if (!update.status || !taskId) {
    core.drop("invalid_status_updates", `Ignoring a status update without a task id from agent ${agent.id}`);
    return;
  }
  const frameworkId = update.frameworkId?.value ?? "";
  const framework = core.frameworks.get(frameworkId);
  if (!framework) {
    core.drop("invalid_status_updates", `Ignoring ${taskStateName(update.status.state)} for task ${taskId} from agent ${agent.id}: unknown framework '${frameworkId}'`);
    return;
  }
  // Copies, not views: a decoded bytes field is a view into the whole transport frame it came
  // in (many agents' messages), which a status the master keeps would keep alive with it.
  const uuid = ownBytes(update.uuid.length > 0 ? update.uuid : update.status.uuid);
  // A shallow copy is a complete TaskStatus (protobuf-es messages are plain objects); create() would walk every field again.
  const reported: TaskStatus = {
    ...update.status,
    uuid,
    data: ownBytes(update.status.data),
    agentId: update.status.agentId?.value === agent.id ? update.status.agentId : ids.agent(agent.id),
  };
  // A kill caused by a drain reaches the framework with the drain's reason (drain.ts).
  const status = drainingStatus(core, agent, reported);
  const task = framework.tasks.get(taskId);
  if (task) {
    if (task.agentId?.value !== agent.id) {
      core.drop("invalid_status_updates", `Ignoring a status update for task ${taskId} from agent ${agent.id}: the task runs on agent ${task.agentId?.value}`);
      return;
    }
    const heardAt = uuid.length > 0 ? task.statuses.findIndex((s) => sameBytes(s.uuid, uuid)) : -1;
    // Statuses the master made itself (TASK_UNREACHABLE, …) carry no uuid and do not count as later updates.
    if (heardAt >= 0 && task.statuses.slice(heardAt + 1).some((s) => s.uuid.length > 0)) {
      // A stale copy: the task has had later updates since (a copy sent on a connection cut
      // by a failover can arrive late). It goes on to the framework (delivery is at least
      // once; the framework recognizes the uuid) but must not move the task back to an older
      // state. Its agent waits for no acknowledgement of it: an agent sends a task's next
      // update only once the previous one is acknowledged.
      core.log.debug({ framework: frameworkId, task: taskId }, `Forwarding a stale copy of the ${taskStateName(reported.state)} update of task ${taskId}`);
    } else {
      // New, or the agent resending the newest (its acknowledgement was lost): awaits one again.
      if (heardAt < 0) {
        task.statuses.push(status);
        if (task.statuses.length > KEPT_STATUSES) task.statuses.splice(0, task.statuses.length - KEPT_STATUSES);
      }
      task.statusUpdateState = status.state;
      task.statusUpdateUuid = uuid;
      const latest = update.latestState !== TaskState.UNSPECIFIED ? update.latestState : reported.state;
      core.setTaskState(task, latest === reported.state ? status.state : latest);
    }
  } else {
    core.log.info({ framework: frameworkId, task: taskId }, `Forwarding an update for task ${taskId}, which the master does not know`);
  }
  core.metrics.validStatusUpdates.inc();
  // How old the update is when the master handles it (the agent's stamp, on its clock): splits a
  // launch's legs at the leader (docs/scale.md, "Session 9"). A real agent stamps an update when
  // it makes it, so its wait behind the task's earlier updates counts too; the scale harness's
  // simulated agents stamp each send.
  if (reported.timestamp > 0) core.metrics.statusUpdateAge.observe(core.now() - reported.timestamp * 1000);
  core.publish(() => ({ case: "statusUpdate", value: { $typeName: "dcos.v1.ClusterEvent.StatusUpdate", frameworkId: framework.info.id, status } }));
  core.forwardStatus(framework, status);
  if (isTerminal(status.state)) drainProgress(core, agent);
}

type AcknowledgementFields = Pick<Acknowledgement, "agentId" | "taskId" | "uuid">;

/** The ids of one acknowledgement, or INVALID_ARGUMENT (`what` prefixes the field names). */
function checkAcknowledgement(a: AcknowledgementFields, what = ""): { agentId: string; taskId: string; uuid: Uint8Array } {
  const agentId = requireId(a.agentId, `${what}agent_id`);
  const taskId = requireId(a.taskId, `${what}task_id`);
  if (a.uuid.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, `${what}uuid is required`);
  return { agentId, taskId, uuid: a.uuid };
}

/**
 * ACKNOWLEDGE: forwarded to the agent when it matches the task's pending update; otherwise
 * NOT_FOUND saying why (nothing forwarded, counted as invalid). An acknowledgement for a task
 * this master does not know at all goes to the agent it names (when active): a master
 * elected after the update was sent may not know the task, and the agent that holds the
 * update retries it until acknowledged; the agent checks the uuid itself.
 */
export function acknowledge(core: MasterState, framework: FrameworkRecord, request: AcknowledgeRequest): void {
  const unmatched = applyAcknowledgement(core, framework, checkAcknowledgement(request));
  if (unmatched) throw new DcosError(Code.NOT_FOUND, unmatched);
}

/**
 * ACKNOWLEDGE_BATCH: every acknowledgement is checked first (INVALID_ARGUMENT names it), then
 * each applies as one ACKNOWLEDGE; those that match no pending update are answered in `ignored`.
 */
export function acknowledgeBatch(core: MasterState, framework: FrameworkRecord, request: AcknowledgeBatchRequest): MessageInitShape<typeof AcknowledgeBatchResponseSchema> {
  if (request.acknowledgements.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "acknowledgements must hold at least one acknowledgement");
  const checked = request.acknowledgements.map((a, i) => checkAcknowledgement(a, `acknowledgements[${i}].`));
  const ignored: { index: number; reason: string }[] = [];
  checked.forEach((a, index) => {
    const reason = applyAcknowledgement(core, framework, a);
    if (reason) ignored.push({ index, reason });
  });
  return { ignored };
}

/** Forwards the acknowledgement; when it matches no update awaiting one, says why instead (undefined: applied). */
function applyAcknowledgement(core: MasterState, framework: FrameworkRecord, a: { agentId: string; taskId: string; uuid: Uint8Array }): string | undefined {
  core.metrics.message("acknowledge");
  const { agentId, taskId, uuid } = a;
  const task = framework.tasks.get(taskId);
  const unmatched = (why: string): string => {
    const reason = `No status update of task '${taskId}' of framework ${framework.id} awaits this acknowledgement: ${why}`;
    core.drop("invalid_status_update_acknowledgements", reason);
    return reason;
  };
  const ignore = (why: string): undefined => void core.drop("invalid_status_update_acknowledgements", `Ignoring an acknowledgement for task ${taskId} of framework ${framework.id}: ${why}`);
  const agent = core.agents.get(agentId);
  const reachable = agent !== undefined && agent.state === AgentState.ACTIVE;
  if (!task && reachable) {
    core.sendToAgent(agent, create(StatusUpdateAcknowledgementSchema, { agentId: ids.agent(agentId), frameworkId: ids.framework(framework.id), taskId: ids.task(taskId), uuid }));
    core.metrics.validAcknowledgements.inc();
    core.log.info({ framework: framework.id, task: taskId, agent: agentId }, `Forwarded an acknowledgement for task ${taskId}, which this master does not know, to agent ${agentId}`);
    return undefined;
  }
  if (!task) return unmatched(`the task is unknown (already acknowledged as terminal?) and agent ${agentId} is not reachable`);
  if (task.agentId?.value !== agentId) return unmatched(`the task runs on agent ${task.agentId?.value}, not ${agentId}`);
  if (!sameBytes(task.statusUpdateUuid, uuid)) {
    const why = task.statusUpdateUuid.length === 0 ? "its updates are all acknowledged (a duplicate?)" : "the uuid is not that of the update awaiting acknowledgement (an older one?)";
    // An update of this task already acknowledged (an agent sends one update of a task at a
    // time): a copy delivered twice (at least once: the agent resends what is not
    // acknowledged in time) and acknowledged twice. Normal, not an invalid message.
    if (uuid.length > 0 && task.statuses.some((st) => sameBytes(st.uuid, uuid))) {
      core.metrics.duplicateAcknowledgements.inc();
      core.log.debug({ framework: framework.id, task: taskId }, `Ignoring a repeated acknowledgement for task ${taskId}: ${why}`);
      return `No status update of task '${taskId}' of framework ${framework.id} awaits this acknowledgement: ${why}`;
    }
    return unmatched(why);
  }
  // The update is real and the agent resends it until acknowledged: nothing for the framework to fix.
  if (!reachable) return ignore(`agent ${agentId} is not reachable`);
  // The task's own id messages (never mutated) go along; create() keeps messages as they are.
  core.sendToAgent(agent, create(StatusUpdateAcknowledgementSchema, { agentId: task.agentId, frameworkId: task.frameworkId ?? ids.framework(framework.id), taskId: task.taskId, uuid }));
  core.metrics.validAcknowledgements.inc();
  const acknowledgedState = task.statusUpdateState;
  task.statusUpdateUuid = new Uint8Array();
  task.statusUpdateState = TaskState.UNSPECIFIED;
  if (isTerminal(acknowledgedState)) core.removeTask(task);
}

export function exitedExecutor(core: MasterState, from: Pid, message: ExitedExecutor): void {
  core.metrics.message("exited_executor");
  const agent = core.agentFrom(from, "ExitedExecutor");
  if (!agent) return;
  const frameworkId = message.frameworkId?.value ?? "";
  const executorId = message.executorId?.value ?? "";
  const executor = agent.removeExecutor(frameworkId, executorId);
  if (!executor) {
    // A torn-down framework's executors were forgotten with it; they exit afterwards as told.
    if (!core.frameworks.has(frameworkId)) {
      core.log.debug({ agent: agent.id, framework: frameworkId, executor: executorId, status: message.status }, `Executor ${executorId} of removed framework ${frameworkId} exited`);
      return;
    }
    // A command task's executor (the agent's built-in one, named after the task) is never
    // known to the master: its exit is the normal end of that task, not a bad message.
    if (commandExecutorOf(core, frameworkId, executorId)) {
      core.log.debug({ agent: agent.id, framework: frameworkId, executor: executorId, status: message.status }, `Command executor of task ${executorId} exited`);
      return;
    }
    core.drop("invalid_agent_messages", `Ignoring the exit of unknown executor '${executorId}' of framework '${frameworkId}' on agent ${agent.id}`);
    return;
  }
  core.log.info({ agent: agent.id, framework: frameworkId, executor: executorId, status: message.status }, `Executor ${executorId} exited with status ${message.status}`);
  core.changed();
  if (executor.resources.length > 0) core.recoverOffer(frameworkId, agent.id, Resources.of(executor.resources).toProto(), 0);
  const framework = core.frameworks.get(frameworkId);
  if (framework) {
    core.emit(framework, {
      case: "failure",
      value: { $typeName: "dcos.v1.Event.Failure", agentId: ids.agent(agent.id), executorId: ids.executor(executorId), status: message.status },
    });
  }
}

/** Whether `executorId` names a task of the framework, running or recently completed, that had no executor of its own. */
function commandExecutorOf(core: MasterState, frameworkId: string, executorId: string): boolean {
  const running = core.frameworks.get(frameworkId)?.tasks.get(executorId);
  if (running) return running.executorId === undefined || running.executorId.value === "";
  const done = core.completedTasks.values();
  for (let i = done.length - 1; i >= 0; i--) {
    const t = done[i]!;
    if (t.taskId?.value === executorId && t.frameworkId?.value === frameworkId) return t.executorId === undefined || t.executorId.value === "";
  }
  return false;
}

export function executorMessage(core: MasterState, from: Pid, message: FrameworkMessage): void {
  core.metrics.message("executor_to_framework");
  const agent = core.agentFrom(from, "an executor message");
  if (!agent) return;
  const framework = core.frameworks.get(message.frameworkId?.value ?? "");
  const sent =
    framework !== undefined &&
    core.emit(framework, {
      case: "message",
      value: { $typeName: "dcos.v1.Event.Message", agentId: ids.agent(agent.id), executorId: message.executorId, data: message.data },
    });
  if (!sent) core.drop("invalid_executor_to_framework_messages", `Dropping a message from an executor on agent ${agent.id}: framework '${message.frameworkId?.value}' is not connected`);
}

export function updateAgent(core: MasterState, from: Pid, message: UpdateAgent): void {
  core.metrics.message("update_agent");
  const agent = core.agentFrom(from, "UpdateAgent");
  if (!agent) return;
  try {
    Resources.of(message.totalResources);
  } catch (err) {
    core.drop("invalid_agent_messages", `Ignoring UpdateAgent from agent ${agent.id}: ${(err as Error).message}`);
    return;
  }
  agent.setTotalResources(message.totalResources);
  core.changed();
  if (agent.state === AgentState.ACTIVE) core.allocator.updateAgent(agent.id, message.totalResources);
}
