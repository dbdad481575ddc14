/**
 * The executor API's work inside the agent (the ExecutorService calls Agent.subscribe /
 * update / message / disconnected, which run these in the actor, held while the agent
 * recovers): an executor subscribes (and gets its queued tasks), sends its tasks' status
 * updates (validated, then checkpointed by the status update manager) and framework
 * messages for its scheduler, and disconnects.
 */
import { create } from "@bufbuild/protobuf";
import { AgentIDSchema } from "../../gen/dcos/v1/common_pb.js";
import {
  ExecutorEventSchema,
  type ExecutorServiceMessageRequest,
  type ExecutorServiceSubscribeRequest,
  type ExecutorServiceUpdateRequest,
} from "../../gen/dcos/v1/executor_pb.js";
import { FrameworkMessageSchema } from "../../gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { ExecutorPhase, type ExecutorRecord, type FrameworkOnAgent } from "./agent-records.js";
import type { ExecutorLink } from "./executor-link.js";
import { flushQueue } from "./launch.js";
import { wrapStatus } from "./status-update.js";

/** States an executor may report; STAGING and UNSPECIFIED are the master's and the agent's. */
const EXECUTOR_STATES = new Set<TaskState>([
  TaskState.STARTING,
  TaskState.RUNNING,
  TaskState.KILLING,
  TaskState.FINISHED,
  TaskState.FAILED,
  TaskState.KILLED,
  TaskState.ERROR,
  TaskState.LOST,
]);

function knownExecutor(a: AgentContext, fwId: string, exId: string, what: string): { fw: FrameworkOnAgent; ex: ExecutorRecord } {
  const fw = a.frameworks.get(fwId);
  const ex = fw?.executors.get(exId);
  if (!fw || !ex) {
    a.metrics.dropped.inc();
    throw new DcosError(Code.NOT_FOUND, `Cannot accept ${what}: executor '${exId}' of framework '${fwId}' is not known to this agent`);
  }
  return { fw, ex };
}

export function executorSubscribed(a: AgentContext, request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
  const { fw, ex } = knownExecutor(a, request.frameworkId?.value ?? "", request.executorId?.value ?? "", "a subscription");
  if (ex.phase === ExecutorPhase.TERMINATING || ex.phase === ExecutorPhase.TERMINATED || ex.phase === ExecutorPhase.LAUNCHING) {
    a.metrics.dropped.inc();
    throw new DcosError(Code.FAILED_PRECONDITION, `Cannot subscribe executor '${ex.id}': it is ${ex.phase}`);
  }
  if (ex.link && ex.link !== link) {
    a.log.info({ executorId: ex.id }, `Executor ${ex.id} subscribed again; closing its previous stream`);
    ex.link.close();
  }
  ex.link = link;
  if (ex.phase === ExecutorPhase.REGISTERING) {
    ex.registrationTimer?.cancel();
    ex.registrationTimer = undefined;
    ex.transition(ExecutorPhase.RUNNING, a.log);
  }
  link.send(
    create(ExecutorEventSchema, {
      kind: {
        case: "subscribed",
        value: { executorInfo: ex.info, frameworkInfo: fw.info, agentInfo: a.info, containerId: { value: ex.containerId } },
      },
    }),
  );
  const resent = request.unacknowledgedUpdates.map((u) => executorUpdate(a, u).catch((err: unknown) => a.log.warn({ err }, "A resent update was refused")));
  if (ex.recovered) dropUndelivered(a, fw, ex, request);
  flushQueue(a, fw, ex);
  return Promise.all(resent).then(() => undefined);
}

/**
 * After an agent restart: a task the agent never heard about from its executor, which
 * the executor does not list either, was not delivered before the crash. It is LOST (as
 * in Mesos), not launched again behind the scheduler's back.
 */
function dropUndelivered(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, request: ExecutorServiceSubscribeRequest): void {
  const known = new Set(request.unacknowledgedTasks.map((t) => t.taskId?.value ?? ""));
  for (const t of ex.liveTasks()) {
    const id = t.info.taskId!.value;
    if (t.state !== TaskState.STAGING || known.has(id)) continue;
    a.taskStatus(fw.id, ex.id, id, TaskState.LOST, TaskStatus_Reason.AGENT_RESTARTED, "The task was not delivered to its executor before the agent restarted");
  }
}

export function executorUpdate(a: AgentContext, request: ExecutorServiceUpdateRequest): Promise<void> {
  const fwId = request.frameworkId?.value ?? "";
  const { ex } = knownExecutor(a, fwId, request.executorId?.value ?? "", "a status update");
  const status = request.status;
  const taskId = status?.taskId?.value ?? "";
  const refuse = (why: string): never => {
    a.metrics.invalidStatusUpdates.inc();
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid status update from executor '${ex.id}': ${why}`);
  };
  if (!status) return refuse("it has no status");
  if (status.uuid.length === 0) return refuse(`the status of task '${taskId}' has no uuid`);
  if (!EXECUTOR_STATES.has(status.state)) return refuse(`an executor cannot report ${taskStateName(status.state)}`);
  const rec = ex.tasks.get(taskId);
  if (!rec) {
    a.metrics.invalidStatusUpdates.inc();
    throw new DcosError(Code.NOT_FOUND, `Invalid status update from executor '${ex.id}': task '${taskId}' is not known to it`);
  }
  a.metrics.validStatusUpdates.inc();
  status.source = TaskStatus_Source.EXECUTOR;
  status.agentId = create(AgentIDSchema, { value: a.agentId });
  status.executorId = ex.info.executorId;
  status.sandboxDirectory = ex.sandbox;
  if (!status.timestamp) status.timestamp = a.clock.now() / 1000;
  a.recordState(rec, status.state);
  a.log[isTerminal(status.state) ? "info" : "debug"]({ frameworkId: fwId, taskId, state: taskStateName(status.state) }, `Task ${taskId} is ${taskStateName(status.state)} (from executor ${ex.id})`);
  return a.statusUpdates.update(wrapStatus(status, fwId, a.agentId, ex.id)).then(() => undefined);
}

export function executorMessage(a: AgentContext, request: ExecutorServiceMessageRequest): void {
  const fwId = request.frameworkId?.value ?? "";
  const { ex } = knownExecutor(a, fwId, request.executorId?.value ?? "", "a framework message");
  if (a.phase !== AgentPhase.RUNNING) {
    a.metrics.invalidFrameworkMessages.inc();
    throw new DcosError(Code.UNAVAILABLE, "Cannot pass the message on: the agent is not connected to a master");
  }
  a.metrics.validFrameworkMessages.inc();
  a.host.send(
    a.masters.current,
    create(FrameworkMessageSchema, { frameworkId: { value: fwId }, executorId: ex.info.executorId, agentId: { value: a.agentId }, data: request.data }),
  );
}

/** An executor's stream ended (it may reconnect). */
export function executorDisconnected(a: AgentContext, link: ExecutorLink): void {
  for (const fw of a.frameworks.values()) {
    for (const ex of fw.executors.values()) {
      if (ex.link !== link) continue;
      ex.link = undefined;
      // An executor whose tasks all ended (or that was told to stop) disconnects as it exits: normal.
      const expected = ex.shuttingDown || ex.liveTasks().length === 0;
      a.log[expected ? "debug" : "warn"]({ executorId: ex.id, frameworkId: fw.id }, `Executor ${ex.id} of framework ${fw.id} disconnected`);
    }
  }
}
