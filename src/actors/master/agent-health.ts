/**
 * Agent health by ping, as Mesos's SlaveObserver: the master pings every agent and waits
 * agent_ping_timeout for the pong; after max_agent_ping_timeouts missed pongs in a row the
 * agent is marked UNREACHABLE in the registry, its offers are rescinded, its resources leave
 * the allocator, and its tasks are reported (TASK_UNREACHABLE to partition-aware frameworks,
 * TASK_LOST to the others).
 */
import { create } from "@bufbuild/protobuf";
import { AgentPingSchema } from "../../gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Pid } from "../../runtime/pid.js";
import { AgentState, type AgentRecord } from "./agent.js";
import { reportAgentTasks, withdrawAgent } from "./agents.js";
import type { MasterCore } from "./core.js";
import { agentRemoved } from "./cluster-events.js";

export function startPinging(core: MasterCore, agent: AgentRecord): void {
  agent.stopTimers();
  agent.missedPings = 0;
  ping(core, agent);
}

function ping(core: MasterCore, agent: AgentRecord): void {
  agent.awaitingPong = true;
  core.sendToAgent(agent, create(AgentPingSchema, { connected: true }));
  agent.pingTimer = core.host.delay(core.options.agentPingTimeoutMs, () => {
    agent.pingTimer = undefined;
    if (agent.state !== AgentState.ACTIVE) return;
    if (agent.awaitingPong) {
      agent.missedPings++;
      core.log.warn({ agent: agent.id, missed: agent.missedPings }, `Agent ${agent.id} missed ping ${agent.missedPings} of ${core.options.maxAgentPingTimeouts}`);
      if (agent.missedPings >= core.options.maxAgentPingTimeouts) {
        markUnreachable(core, agent);
        return;
      }
    }
    ping(core, agent);
  });
}

export function pong(core: MasterCore, from: Pid): void {
  core.metrics.message("agent_pong");
  const id = core.agentsByPid.get(from.toString());
  const agent = id === undefined ? undefined : core.agents.get(id);
  if (!agent || agent.state !== AgentState.ACTIVE) {
    core.drop("invalid_pongs", `Ignoring a pong from ${from.toString()} because that agent is not registered and active`);
    // Tell it so: an agent that hears connected=false reregisters.
    core.host.send(from, create(AgentPingSchema, { connected: false }));
    return;
  }
  agent.awaitingPong = false;
  agent.missedPings = 0;
}

function markUnreachable(core: MasterCore, agent: AgentRecord): void {
  const why = `Agent ${agent.id} (${agent.info.hostname}) is unreachable: ${agent.missedPings} pings went unanswered`;
  agent.stopTimers();
  core.persist(
    { kind: "markAgentUnreachable", agentId: agent.id, unreachableAtMs: core.now() },
    () => {
      if (agent.state !== AgentState.ACTIVE) return;
      withdrawAgent(core, agent, "the agent is unreachable");
      agent.transition(AgentState.UNREACHABLE, core.log, why);
      core.metrics.agentsUnreachableCompleted.inc();
      reportAgentTasks(core, agent, TaskState.UNREACHABLE, why);
      agentRemoved(core, agent, why);
    },
    () => startPinging(core, agent),
  );
}

/** Count of agents by health, for the master/slaves_* gauges. */
export function agentCounts(core: MasterCore): { active: number; inactive: number; connected: number; disconnected: number; unreachable: number } {
  const c = { active: 0, inactive: 0, connected: 0, disconnected: 0, unreachable: 0 };
  for (const a of core.agents.values()) {
    if (a.state === AgentState.UNREACHABLE) c.unreachable++;
    else if (a.state === AgentState.ACTIVE) {
      c.active++;
      if (a.missedPings === 0) c.connected++;
      else c.disconnected++;
    } else c.inactive++;
  }
  return c;
}
