/**
 * The master's gauges counted the slow way, from its records (what the incremental
 * MasterCounts must always agree with): tasks per state, agents and frameworks by state,
 * resources total / used / offered.
 */
import { AgentState } from "../../src/actors/master/agent.js";
import type { MasterCore } from "../../src/actors/master/core.js";
import { addResources, type AgentCounts, type FrameworkCounts } from "../../src/actors/master/counts.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Quantities } from "../../src/resources/index.js";
import { METERED_RESOURCES } from "../../src/actors/master/resource-usage.js";

export interface MasterTally {
  tasks: Record<string, number>;
  agents: AgentCounts;
  frameworks: FrameworkCounts;
  resources: Record<string, number>;
}

function resourceFigures(total: Quantities, used: Quantities, offered: Quantities): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of METERED_RESOURCES) Object.assign(out, { [`${r}_total`]: total.get(r), [`${r}_used`]: used.get(r), [`${r}_offered`]: offered.get(r) });
  return out;
}

const STATES = Object.values(TaskState).filter((s): s is TaskState => typeof s === "number");

export function recountMaster(core: MasterCore): MasterTally {
  const tasks = Object.fromEntries(STATES.map((s) => [TaskState[s], 0])) as Record<string, number>;
  const agents: AgentCounts = { active: 0, inactive: 0, connected: 0, disconnected: 0, unreachable: 0 };
  const total = new Quantities();
  const used = new Quantities();
  const offered = new Quantities();
  for (const a of core.agents.values()) {
    for (const t of a.tasks.values()) tasks[TaskState[t.state]]!++;
    if (a.state === AgentState.UNREACHABLE) agents.unreachable++;
    else if (a.state !== AgentState.ACTIVE) agents.inactive++;
    else {
      agents.active++;
      if (a.missedPings === 0) agents.connected++;
      else agents.disconnected++;
      addResources(total, a.info.resources);
      for (const t of a.tasks.values()) if (!isTerminal(t.state)) addResources(used, t.resources);
      for (const executors of a.executors.values()) for (const e of executors.values()) addResources(used, e.resources);
    }
  }
  for (const o of core.offers.values()) addResources(offered, o.resources);
  const connected = [...core.frameworks.values()].filter((f) => f.connected).length;
  const disconnected = core.frameworks.size - connected;
  return { tasks, agents, frameworks: { connected, active: connected, disconnected, inactive: disconnected }, resources: resourceFigures(total, used, offered) };
}

/** The same figures as the master's incremental counts hold them. */
export function incrementalTally(core: MasterCore): MasterTally {
  const c = core.counts;
  const tasks = Object.fromEntries(STATES.map((s) => [TaskState[s], c.tasksIn(s)])) as Record<string, number>;
  return { tasks, agents: c.agents(), frameworks: c.frameworks(), resources: resourceFigures(c.total, c.used, core.offers.offered) };
}
