/**
 * Taking an agent out of service (Mesos 1.9's DRAIN_AGENT, DEACTIVATE_AGENT,
 * REACTIVATE_AGENT). The registry records each agent's deactivation and drain
 * (`updateAgentDrain`), so a master that takes over goes on where the last one was.
 *
 * - Deactivated: the allocator makes no offers of the agent (outstanding ones are
 *   rescinded); its tasks keep running.
 * - Draining: deactivated, and every task on it is killed with its kill policy (its grace
 *   period capped by the drain's max_grace_period). Frameworks hear TASK_KILLED with reason
 *   REASON_AGENT_DRAINING, or TASK_GONE_BY_OPERATOR with that reason when the drain marks
 *   the agent gone, so they know to run the task elsewhere.
 * - Drained: no task left (terminal updates acknowledged or not). With mark_gone the
 *   agent is then marked gone: removed, never to come back under its id.
 * - Reactivated: deactivation and drain end; the agent is offered again.
 */
import { create } from "@bufbuild/protobuf";
import { DrainInfoSchema, DrainState, type DrainInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { KillTaskSchema, ShutdownAgentSchema } from "../../gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason, type Task, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { isTerminal } from "../task-states.js";
import { AgentState, type AgentRecord } from "./agent-record.js";
import { forgetAgentRecord, reportAgentTasks, withdrawAgent } from "./agent-removal.js";
import { agentRemoved } from "./cluster-events.js";
import type { MasterState } from "./master-state.js";
import { agentDrain } from "./drain-view.js";
import { persist } from "./operator-calls.js";

function knownAgent(core: MasterState, call: string, agentId: string): AgentRecord {
  if (!agentId) throw new DcosError(Code.INVALID_ARGUMENT, `${call}: agent_id is required`);
  const agent = core.agents.get(agentId);
  if (!agent || agent.state === AgentState.REMOVED || agent.state === AgentState.ADMITTING) {
    throw new DcosError(Code.NOT_FOUND, `${call}: unknown agent '${agentId}'${core.registrar.state().gone.has(agentId) ? " (it was marked gone)" : ""}`);
  }
  return agent;
}

/** Whether the allocator should offer the agent (not deactivated, not draining or drained). */
export function offerable(core: MasterState, agentId: string): boolean {
  return agentDrain(core, agentId) === undefined;
}

function liveTasks(agent: AgentRecord): Task[] {
  return [...agent.tasks.values()].filter((t) => !isTerminal(t.state));
}

function stopOffering(core: MasterState, agent: AgentRecord, why: string): void {
  core.allocator.deactivateAgent(agent.id);
  core.rescindOffers(core.offers.onAgent(agent.id), why, { agent: agent.id });
}

export function deactivateAgent(core: MasterState, agentId: string): Promise<void> {
  const agent = knownAgent(core, "DeactivateAgent", agentId);
  const current = agentDrain(core, agentId);
  if (current) return Promise.resolve(); // already deactivated (or draining): nothing changes
  return persist(core, { kind: "updateAgentDrain", drain: { agentId, deactivated: true } }, () => {
    stopOffering(core, agent, `the operator deactivated agent ${agentId}`);
    core.log.info({ agent: agentId }, `Deactivated agent ${agentId} (${agent.info.hostname}): no more offers of it`);
  });
}

export function drainAgent(core: MasterState, agentId: string, maxGracePeriodSeconds: number | undefined, markGone: boolean): Promise<void> {
  const agent = knownAgent(core, "DrainAgent", agentId);
  if (maxGracePeriodSeconds !== undefined && !(Number.isFinite(maxGracePeriodSeconds) && maxGracePeriodSeconds >= 0)) {
    throw new DcosError(Code.INVALID_ARGUMENT, `DrainAgent: max_grace_period_seconds must be a finite number >= 0, not ${maxGracePeriodSeconds}`);
  }
  const drainInfo = create(DrainInfoSchema, { state: DrainState.DRAINING, config: { maxGracePeriodSeconds, markGone } });
  return persist(core, { kind: "updateAgentDrain", drain: { agentId, deactivated: true, drainInfo } }, () => {
    stopOffering(core, agent, `the operator drains agent ${agentId}`);
    const tasks = liveTasks(agent);
    core.log.info(
      { agent: agentId, tasks: tasks.length, maxGracePeriodSeconds, markGone },
      `Draining agent ${agentId} (${agent.info.hostname}): killing ${tasks.length} task(s)${markGone ? "; it will be marked gone" : ""}`,
    );
    killForDrain(core, agent, drainInfo);
    drainProgress(core, agent);
  });
}

export function reactivateAgent(core: MasterState, agentId: string): Promise<void> {
  const agent = knownAgent(core, "ReactivateAgent", agentId);
  const current = agentDrain(core, agentId);
  if (!current) throw new DcosError(Code.FAILED_PRECONDITION, `ReactivateAgent: agent ${agentId} is neither deactivated nor draining`);
  return persist(core, { kind: "updateAgentDrain", drain: { agentId, deactivated: false } }, () => {
    if (agent.active) core.allocator.activateAgent(agentId);
    core.log.info({ agent: agentId }, `Reactivated agent ${agentId} (${agent.info.hostname}): it is offered again`);
  });
}

/** Sends KillTask for every live task of a draining agent (when the agent is reachable). */
function killForDrain(core: MasterState, agent: AgentRecord, drain: DrainInfo): void {
  if (!agent.active) return;
  const cap = drain.config?.maxGracePeriodSeconds;
  for (const task of liveTasks(agent)) {
    const own = task.killPolicy?.gracePeriodSeconds;
    const grace = cap === undefined ? own : Math.min(own ?? cap, cap);
    const killPolicy = grace === undefined ? task.killPolicy : { $typeName: "dcos.v1.KillPolicy" as const, gracePeriodSeconds: grace };
    core.sendToAgent(agent, create(KillTaskSchema, { frameworkId: task.frameworkId, taskId: task.taskId, killPolicy }));
  }
}

/** An agent came (back): it is offered only if not deactivated; a drain goes on. */
export function resumeDrain(core: MasterState, agent: AgentRecord): void {
  const drain = agentDrain(core, agent.id);
  if (!drain) return;
  core.allocator.deactivateAgent(agent.id);
  if (drain.drainInfo?.state === DrainState.DRAINING) {
    killForDrain(core, agent, drain.drainInfo);
    drainProgress(core, agent);
  }
}

/**
 * A status update from an agent being drained: a kill the drain caused reaches the
 * framework with REASON_AGENT_DRAINING, as TASK_GONE_BY_OPERATOR when the agent will be
 * marked gone.
 */
export function drainingStatus(core: MasterState, agent: AgentRecord, status: TaskStatus): TaskStatus {
  const info = agentDrain(core, agent.id)?.drainInfo;
  if (info?.state !== DrainState.DRAINING || status.state !== TaskState.KILLED) return status;
  const state = info.config?.markGone ? TaskState.GONE_BY_OPERATOR : TaskState.KILLED;
  return { ...status, state, reason: TaskStatus_Reason.AGENT_DRAINING, message: status.message || `Agent ${agent.id} (${agent.info.hostname}) is being drained` };
}

/** After a task of a draining agent changed: once none is live, the agent is DRAINED (and gone with mark_gone). */
export function drainProgress(core: MasterState, agent: AgentRecord): void {
  const drain = agentDrain(core, agent.id);
  if (drain?.drainInfo?.state !== DrainState.DRAINING || liveTasks(agent).length > 0) return;
  const drainInfo = create(DrainInfoSchema, { state: DrainState.DRAINED, config: drain.drainInfo.config });
  core.persist(
    { kind: "updateAgentDrain", drain: { agentId: agent.id, deactivated: true, drainInfo } },
    () => {
      core.log.info({ agent: agent.id }, `Agent ${agent.id} (${agent.info.hostname}) is drained: no task is left on it`);
      core.changed();
      if (drainInfo.config?.markGone) markGone(core, agent);
    },
    (err) => core.log.warn({ err, agent: agent.id }, `Could not record that agent ${agent.id} is drained`),
  );
}

function markGone(core: MasterState, agent: AgentRecord): void {
  core.persist(
    { kind: "markAgentGone", agentId: agent.id },
    () => {
      if (agent.state === AgentState.REMOVED) return;
      withdrawAgent(core, agent, `agent ${agent.id} was drained and marked gone`);
      agent.transition(AgentState.REMOVED, core.log, "drained and marked gone by the operator");
      reportAgentTasks(core, agent, TaskState.GONE_BY_OPERATOR, `Agent ${agent.id} (${agent.info.hostname}) was marked gone by the operator`);
      core.host.send(agent.pid, create(ShutdownAgentSchema, { message: `the operator drained agent ${agent.id} and marked it gone` }));
      forgetAgentRecord(core, agent);
      agentRemoved(core, agent, "drained and marked gone by the operator");
      core.metrics.agentRemovals.inc();
      core.changed();
    },
    (err) => core.log.warn({ err, agent: agent.id }, `Could not mark drained agent ${agent.id} gone`),
  );
}
