/**
 * Taking an agent out of the master's books, the steps every way out shares (unregistration
 * in agent-registration.ts, missed pings in agent-health.ts, a drain or maintenance marking it gone):
 * withdraw it from the allocator and its offers, tell schedulers about its tasks, forget
 * its record.
 */
import { TaskState, TaskStatus_Reason } from "../../gen/dcos/v1/tasks_pb.js";
import type { AgentRecord } from "./agent-record.js";
import type { MasterState } from "./master-state.js";
import { isTerminal } from "../task-states.js";

export function forgetAgentRecord(core: MasterState, agent: AgentRecord): void {
  agent.stopTimers();
  if (core.agentsByPid.get(agent.pid.toString()) === agent.id) core.agentsByPid.delete(agent.pid.toString());
  core.agents.delete(agent.id);
}

/**
 * Tells schedulers about the tasks of an agent that is gone or unreachable. Partition-aware
 * frameworks hear `awareState`; others hear TASK_LOST and forget the task.
 */
export function reportAgentTasks(core: MasterState, agent: AgentRecord, awareState: TaskState, why: string): void {
  for (const task of [...agent.tasks.values()]) {
    const framework = core.frameworks.get(task.frameworkId?.value ?? "");
    if (isTerminal(task.state) || !framework) {
      core.removeTask(task);
      continue;
    }
    const state = framework.partitionAware ? awareState : TaskState.LOST;
    const status = core.masterStatus(
      { taskId: task.taskId!.value, agentId: agent.id, executorId: task.executorId?.value },
      state,
      TaskStatus_Reason.AGENT_REMOVED,
      why,
    );
    task.statuses.push(status);
    core.setTaskState(task, state, false);
    core.forwardStatus(framework, status);
    if (isTerminal(state)) core.removeTask(task);
  }
}

/** The agent leaves the allocator and loses its offers (it is unreachable or gone). */
export function withdrawAgent(core: MasterState, agent: AgentRecord, why: string): void {
  agent.stopTimers();
  core.rescindOffers(core.offers.onAgent(agent.id), why, { agent: agent.id });
  core.allocator.removeAgent(agent.id);
}
