/**
 * Agents joining and leaving: registration (a new id, admitted through the registrar),
 * reregistration (a known id after an agent restart, a partition, or a master failover,
 * with the tasks it runs), and unregistration. Health checking is in agent-health.ts.
 */
import { create, equals } from "@bufbuild/protobuf";
import { AgentInfoSchema, type AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { FrameworkID } from "../../gen/dcos/v1/common_pb.js";
import {
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  ReconcileAgentTasksSchema,
  ShutdownAgentSchema,
  type AgentReregistered,
  type RegisterAgent,
  type ReregisterAgent,
  type UnregisterAgent,
} from "../../gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { TaskState, TaskStatus_Reason, type Task } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../resources/index.js";
import { actsAs, describePeer, type PeerIdentity } from "../../runtime/identity.js";
import type { Pid } from "../../runtime/pid.js";
import { admitAgent } from "./admission-batch.js";
import { markAgentReachable } from "./agent-changes.js";
import { startPinging } from "./agent-health.js";
import { AgentRecord, AgentState, taskKey } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import type { RegistryOperation, RegistryState } from "./registry.js";
import { agentAdded, agentRemoved } from "./cluster-events.js";
import { forgetAgentRecord, reportAgentTasks, withdrawAgent } from "./agent-removal.js";
import { offerable, resumeDrain } from "./drain.js";
import { agentMaintenance, machineDownReason } from "./maintenance.js";
import { answerPending } from "./reconciliation.js";
import { noteReregistered } from "./registry-recovery.js";
import { isTerminal } from "../task-states.js";
import { ByteBuffer, messageWriter } from "../../runtime/binary-writer.js";

/**
 * The agent's resources parsed (the allocator takes them as they are: parsed once per
 * registration), or why its info cannot be taken.
 */
function checkedAgentInfo(info: AgentInfo | undefined): { problem: string; resources?: undefined } | { problem?: undefined; resources: Resources } {
  if (!info) return { problem: "agent_info is missing" };
  if (!info.hostname) return { problem: "agent_info.hostname is empty" };
  try {
    return { resources: Resources.of(info.resources) };
  } catch (err) {
    return { problem: `agent_info.resources: ${(err as Error).message}` };
  }
}

function refuse(core: MasterState, from: Pid, why: string): void {
  core.drop("invalid_agent_messages", `Refusing agent ${from.toString()}: ${why}`, { from: from.toString() });
  core.host.send(from, create(ShutdownAgentSchema, { message: why }));
}

function pingIntervalSeconds(core: MasterState): number {
  return core.options.agentPingTimeoutMs / 1000;
}

/** The answer to a reregistration, every field given (a plain message: no create() walk per agent). */
function reregistered(core: MasterState, id: string, unknownFrameworks: FrameworkID[]): AgentReregistered {
  return { $typeName: AgentReregisteredSchema.typeName, agentId: ids.agent(id), pingIntervalSeconds: pingIntervalSeconds(core), unknownFrameworks };
}

/** The agent's info as the master keeps it: id, pid and principal are the master's, never the agent's. */
function normalizedInfo(info: AgentInfo, id: string, from: Pid, sender: PeerIdentity): AgentInfo {
  return create(AgentInfoSchema, { ...info, id: ids.agent(id), pid: from.toString(), principal: sender.authenticated ? sender.name : "" });
}

/**
 * Why a message from `from` may not be taken as an agent's, or undefined: its connection
 * must be an agent's, and, once an agent registered at that pid with an identity, of that
 * same identity (a master accepts agent messages only from that agent's own connection).
 */
export function agentSenderProblem(core: MasterState, from: Pid, sender: PeerIdentity): string | undefined {
  if (!actsAs(sender, "agent")) return `its connection is ${describePeer(sender)}, and only agents send agent messages`;
  if (!sender.authenticated) return undefined;
  const id = core.agentsByPid.get(from.toString());
  const owner = id === undefined ? "" : (core.agents.get(id)?.info.principal ?? "");
  if (owner !== "" && owner !== sender.name) return `agent ${id} at ${from.toString()} is '${owner}', and this connection is agent '${sender.name}'`;
  return undefined;
}

/** Why `sender` may not reregister agent `id`: it belongs to another identity (in memory or in the registry). */
function reregistrationProblem(core: MasterState, id: string, sender: PeerIdentity): string | undefined {
  if (!sender.authenticated) return undefined;
  const registry = core.registrar.state();
  const owner = core.agents.get(id)?.info.principal || registry.agents.get(id)?.principal || registry.unreachable.get(id)?.info.principal || "";
  if (owner !== "" && owner !== sender.name) return `agent ${id} registered as '${owner}', and this connection is agent '${sender.name}'`;
  return undefined;
}

export function registerAgent(core: MasterState, from: Pid, message: RegisterAgent, sender: PeerIdentity): void {
  core.metrics.message("register_agent");
  const { problem, resources } = checkedAgentInfo(message.agentInfo);
  if (problem !== undefined) return refuse(core, from, `invalid registration: ${problem}`);
  const down = machineDownReason(core, message.agentInfo);
  if (down) return refuse(core, from, down);
  const known = core.agentsByPid.get(from.toString());
  const existing = known === undefined ? undefined : core.agents.get(known);
  if (existing?.state === AgentState.ADMITTING) {
    // Routine in a registration storm (agents retry while their admission waits for the log): debug.
    core.log.debug({ agent: existing.id }, `Ignoring a repeated registration from ${from.toString()}: admission in progress`);
    return;
  }
  if (existing?.state === AgentState.ACTIVE) {
    core.log.info({ agent: existing.id }, `Agent at ${from.toString()} registered again; re-sending its id ${existing.id}`);
    core.sendToAgent(existing, create(AgentRegisteredSchema, { agentId: ids.agent(existing.id), pingIntervalSeconds: pingIntervalSeconds(core) }));
    return;
  }
  const id = core.newAgentId();
  const info = normalizedInfo(message.agentInfo!, id, from, sender);
  const agent = new AgentRecord(id, info, from, AgentState.ADMITTING);
  core.agents.set(id, agent);
  core.agentsByPid.set(from.toString(), id);
  admitAgent(
    core,
    id,
    info,
    () => {
      if (agent.state !== AgentState.ADMITTING) return;
      agent.transition(AgentState.ACTIVE, core.log, "admitted by the registrar");
      agent.registeredAt = core.now();
      core.metrics.agentRegistrations.inc();
      core.sendToAgent(agent, create(AgentRegisteredSchema, { agentId: ids.agent(id), pingIntervalSeconds: pingIntervalSeconds(core) }));
      core.allocator.addAgent(id, { hostname: info.hostname, attributes: info.attributes, total: info.resources, parsedTotal: resources, active: true }, new Map());
      startPinging(core, agent);
      agentAdded(core, agent);
    },
    () => forgetAgentRecord(core, agent),
  );
}

export function reregisterAgent(core: MasterState, from: Pid, message: ReregisterAgent, sender: PeerIdentity): void {
  core.metrics.message("reregister_agent");
  const id = message.agentInfo?.id?.value ?? "";
  const impostor = id ? reregistrationProblem(core, id, sender) : undefined;
  if (impostor) return core.drop("unauthorized_agent_messages", `Refusing the reregistration of ${from.toString()}: ${impostor}`, { from: from.toString(), agent: id });
  const { problem, resources } = checkedAgentInfo(message.agentInfo);
  if (problem !== undefined || !id) return refuse(core, from, `invalid reregistration: ${problem ?? "agent_info.id is empty"}`);
  const down = machineDownReason(core, message.agentInfo);
  if (down) return refuse(core, from, down);
  const registry = core.registrar.state();
  if (registry.gone.has(id)) return refuse(core, from, `agent ${id} was marked gone and may not come back`);
  const existing = core.agents.get(id);
  if (existing?.state === AgentState.ADMITTING) return;
  if (existing?.state === AgentState.ACTIVE) {
    if (!existing.pid.equals(from)) {
      core.agentsByPid.delete(existing.pid.toString());
      existing.pid = from;
      core.agentsByPid.set(from.toString(), id);
    }
    // A RunTask sent while the agent was disconnected was dropped there; but this message may
    // also be an older retry of a reregistration already answered, sent before tasks launched
    // since: only the agent can tell which (askAgentAbout).
    const missing = missingTasks([...existing.tasks.values()], message);
    // A plain retry (nothing missing) is routine after a failover (thousands of agents retry
    // while the new leader works through their first copies): at debug; a list that misses
    // tasks is worth seeing.
    const level = missing.length > 0 ? "info" : "debug";
    core.log[level]({ agent: id, missing: missing.length }, `Agent ${id} reregistered while active; asking it about ${missing.length} task(s) it does not report, acknowledging again`);
    core.sendToAgent(existing, reregistered(core, id, []));
    askAgentAbout(core, existing, missing);
    return;
  }
  const given = normalizedInfo(message.agentInfo!, id, from, sender);
  const op = reregistrationOperation(registry, id, given);
  // Back unchanged (a failover: every agent): the registry's info, equal to the one given,
  // serves the record and the allocator too, and the decoded one is dropped (a second
  // AgentInfo with its resources per agent was ~0.7 KB of a new leader's heap). Nothing
  // changes an info in place (AgentRecord.setTotalResources makes a new one).
  const info = op ? given : registry.agents.get(id)!;
  const total = op ? resources : Resources.of(info.resources);
  let agent = existing;
  if (agent) {
    core.agentsByPid.delete(agent.pid.toString());
    agent.pid = from;
    agent.info = info;
  } else {
    agent = new AgentRecord(id, info, from, AgentState.ADMITTING);
    core.agents.set(id, agent);
  }
  core.agentsByPid.set(from.toString(), id);
  const record = agent;
  const wasState = agent.state;
  // Written with the other reregistrations and admissions of this turn (one Raft entry each batch).
  const written = (then: () => void, onError: () => void): void => {
    if (!op) return then();
    if (op.kind === "markAgentReachable") return markAgentReachable(core, id, info, then, onError);
    admitAgent(core, id, info, then, onError);
  };
  written(
    () => {
      if (record.state !== wasState) return;
      // An agent back unchanged after a failover is one of thousands (a line each was 2% of
      // a new leader's CPU at 10,000 agents): at debug, with a line per 1,000 at info.
      record.transition(AgentState.ACTIVE, core.log, "reregistered", op ? "info" : "debug");
      record.registeredAt = core.now();
      core.metrics.agentReregistrations.inc();
      const count = core.metrics.agentReregistrations.value;
      if (count % 1000 === 0) core.log.info({ reregistrations: count }, `${count} agent reregistrations so far`);
      noteReregistered(core, id);
      const { unknown, missing } = adoptRunning(core, record, message);
      core.sendToAgent(
        record,
        reregistered(core, id, unknown.size === 0 ? [] : [...unknown].map((f) => ids.framework(f))),
      );
      askAgentAbout(core, record, missing);
      core.allocator.addAgent(id, { hostname: info.hostname, attributes: info.attributes, total: info.resources, parsedTotal: total, active: offerable(core, id) }, usedOnAgent(record));
      startPinging(core, record);
      agentAdded(core, record);
      resumeDrain(core, record);
      agentMaintenance(core, record);
      answerPending(core, id);
    },
    () => {
      if (wasState === AgentState.ADMITTING) forgetAgentRecord(core, record);
    },
  );
}

/**
 * What the registry must record for a reregistration, or nothing: an agent it holds as
 * admitted and reachable with the same info (a master failover: every agent comes back
 * unchanged) needs no entry, as in Mesos; one marked unreachable, one whose info changed
 * (a new pid after a restart) or one the registry never admitted does. After a failover at
 * 10,000 agents that is 10,000 Raft entries (and their snapshots) saved.
 */
function reregistrationOperation(registry: RegistryState, id: string, info: AgentInfo): Extract<RegistryOperation, { kind: "markAgentReachable" | "admitAgent" }> | undefined {
  const admitted = registry.agents.get(id);
  if (admitted) return sameAgentInfo(admitted, info) ? undefined : { kind: "markAgentReachable", agentId: id, info };
  return registry.unreachable.has(id) ? { kind: "markAgentReachable", agentId: id, info } : { kind: "admitAgent", agentId: id, info };
}

const writeAgentInfo = messageWriter(AgentInfoSchema);
const infoBytes = new ByteBuffer(1024);

/**
 * Whether two AgentInfos are equal: the same bytes (binary-writer.ts) are the same message;
 * different bytes are checked field by field (equals: a map written in another order).
 * equals alone, reflection over every resource, was 0.5 s of a new leader's 20 s while
 * 10,000 agents reregistered unchanged.
 */
export function sameAgentInfo(a: AgentInfo, b: AgentInfo): boolean {
  infoBytes.pos = 0;
  writeAgentInfo(infoBytes, a);
  const end = infoBytes.pos;
  writeAgentInfo(infoBytes, b);
  if (infoBytes.pos - end === end) {
    const buf = infoBytes.buf;
    let i = 0;
    while (i < end && buf[i] === buf[end + i]) i++;
    if (i === end) return true;
  }
  return equals(AgentInfoSchema, a, b);
}

/**
 * Takes over the tasks and executors the agent reports; returns frameworks the master does not
 * know, and the tasks the master had on the agent that the agent did not report. Those stay
 * on the agent (with their executors) until the agent answers askAgentAbout: their RunTask
 * may have been lost while the agent was away or restarting, or the reregistration may be
 * older than it.
 */
const NO_TASKS: Task[] = [];

function adoptRunning(core: MasterState, agent: AgentRecord, message: ReregisterAgent): { unknown: Set<string>; missing: Task[] } {
  const unknown = new Set<string>();
  // A failover's new leader knows no task on the agent yet: nothing to keep from before
  // (no copies, no set of the reported tasks' keys to compare against).
  const hadAny = agent.tasks.size > 0 || agent.executors.size > 0;
  const before = hadAny ? [...agent.tasks.values()] : NO_TASKS;
  const executorsBefore = hadAny ? new Map([...agent.executors].map(([fw, m]) => [fw, new Map(m)])) : undefined;
  if (hadAny) {
    agent.tasks.clear();
    agent.executors.clear();
  }
  for (const e of message.executors) {
    const fw = e.frameworkId?.value ?? "";
    if (!core.frameworks.has(fw)) unknown.add(fw);
    else if (e.executorInfo) agent.addExecutor(fw, e.executorInfo);
  }
  for (const reported of message.tasks) {
    const fw = reported.frameworkId?.value ?? "";
    const framework = core.frameworks.get(fw);
    if (!framework) {
      unknown.add(fw);
      continue;
    }
    const taskId = reported.taskId?.value ?? "";
    const previous = framework.tasks.get(taskId);
    if (previous) core.removeTask(previous);
    // The decoded message is the master's own: its task is kept as it is (a spread copy per
    // task was garbage at 250,000 tasks), with the agent id the master knows it by. Its ids
    // are the records' shared ones and its plain resources shared with the tasks holding
    // equal ones (shared-resources.ts): the decoded ones would live as long as the task,
    // each one more object for the collector to copy and promote.
    reported.agentId = agent.idMessage;
    reported.frameworkId = framework.idMessage;
    core.sharedResources.share(reported.resources);
    core.addTask(framework, agent, reported);
  }
  const missing = before.length > 0 ? missingTasks(before, message) : NO_TASKS;
  for (const task of missing) {
    const fw = task.frameworkId?.value ?? "";
    agent.tasks.set(taskKey(fw, task.taskId?.value ?? ""), task);
    const exId = task.executorId?.value ?? "";
    const executor = exId ? executorsBefore?.get(fw)?.get(exId) : undefined;
    if (executor && !agent.executor(fw, exId)) agent.addExecutor(fw, executor);
  }
  unknown.delete("");
  return { unknown, missing };
}

/** Of the tasks the master had on the agent, those its reregistration does not report. */
function missingTasks(before: readonly Task[], message: ReregisterAgent): Task[] {
  const reported = new Set(message.tasks.map((t) => `${t.frameworkId?.value ?? ""}/${t.taskId?.value ?? ""}`));
  return before.filter((t) => !reported.has(`${t.frameworkId?.value ?? ""}/${t.taskId?.value ?? ""}`));
}

/**
 * Tasks the master holds on the agent that its reregistration did not list. An agent resends
 * its reregistration until one is answered, so a retry can reach the master after it
 * reregistered the agent and launched tasks there: the master cannot tell a lost RunTask
 * from a stale list. It asks the agent (ReconcileAgentTasks, after AgentReregistered and any
 * RunTask on the same connection) and keeps the tasks: a task the agent does not know comes
 * back from the agent as TASK_DROPPED (partition-aware frameworks) or TASK_LOST, reason
 * RECONCILIATION, through its status update stream; a task it runs reports as usual. Tasks
 * already terminal here, or of frameworks the master forgot, are just removed.
 */
function askAgentAbout(core: MasterState, agent: AgentRecord, missing: readonly Task[]): void {
  const perFramework = new Map<string, Task[]>();
  for (const task of missing) {
    const fw = task.frameworkId?.value ?? "";
    if (isTerminal(task.state) || !core.frameworks.has(fw)) {
      core.removeTask(task);
      continue;
    }
    let list = perFramework.get(fw);
    if (!list) perFramework.set(fw, (list = []));
    list.push(task);
  }
  for (const [fw, tasks] of perFramework) {
    const unknownState = core.frameworks.get(fw)!.partitionAware ? TaskState.DROPPED : TaskState.LOST;
    core.log.info({ agent: agent.id, framework: fw, tasks: tasks.map((t) => t.taskId?.value) }, `Asking agent ${agent.id} about ${tasks.length} task(s) of framework ${fw} its reregistration did not list`);
    core.metrics.agentTaskReconciliations.inc(tasks.length);
    core.sendToAgent(
      agent,
      create(ReconcileAgentTasksSchema, { frameworkId: ids.framework(fw), taskIds: tasks.map((t) => t.taskId!), unknownState }),
    );
  }
}

/** Resources held by non-terminal tasks on the agent, per framework. */
function usedOnAgent(agent: AgentRecord): Map<string, Resource[]> {
  const used = new Map<string, Resource[]>();
  for (const t of agent.tasks.values()) {
    if (isTerminal(t.state)) continue;
    const fw = t.frameworkId?.value ?? "";
    let list = used.get(fw);
    if (!list) used.set(fw, (list = []));
    list.push(...t.resources);
  }
  return used;
}

export function unregisterAgent(core: MasterState, from: Pid, message: UnregisterAgent): void {
  core.metrics.message("unregister_agent");
  const agent = core.agentFrom(from, "UnregisterAgent");
  if (!agent) return;
  if (message.agentId?.value && message.agentId.value !== agent.id) {
    core.drop("invalid_agent_messages", `Ignoring UnregisterAgent for ${message.agentId.value} from ${from.toString()}, which is agent ${agent.id}`);
    return;
  }
  core.persist(
    { kind: "removeAgent", agentId: agent.id },
    () => {
      if (agent.state === AgentState.REMOVED) return;
      withdrawAgent(core, agent, `agent ${agent.id} unregistered`);
      agent.transition(AgentState.REMOVED, core.log, "it unregistered");
      reportAgentTasks(core, agent, TaskState.GONE, `Agent ${agent.id} (${agent.info.hostname}) shut down`);
      forgetAgentRecord(core, agent);
      agentRemoved(core, agent, "the agent unregistered");
      core.metrics.agentRemovals.inc();
    },
    () => undefined,
  );
}
