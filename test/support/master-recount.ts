/**
 * The master's gauges counted the slow way, from its records (what the incremental
 * MasterCounts must always agree with): tasks per state, agents and frameworks by state,
 * resources total / used / offered, and per agent and per framework the tasks per state,
 * the peers of their live tasks and the scalars held (/state-summary).
 */
import { AgentState } from "../../src/actors/master/agent-record.js";
import type { MasterState } from "../../src/actors/master/master-state.js";
import { addResources, type AgentCounts, type FrameworkCounts, TaskTally } from "../../src/actors/master/counts.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Quantities } from "../../src/resources/index.js";
import { METERED_RESOURCES } from "../../src/actors/master/resource-usage.js";

export interface MasterTally {
  tasks: Record<string, number>;
  agents: AgentCounts;
  frameworks: FrameworkCounts;
  resources: Record<string, number>;
  byAgent: Record<string, Tally>;
  byFramework: Record<string, Tally>;
}

/** A TaskTally as plain data (sorted), to compare. */
export interface Tally {
  states: Record<string, number>;
  peers: Record<string, number>;
  used: Record<string, number>;
}

function plain(t: TaskTally): Tally {
  const sorted = <V>(entries: Iterable<[string, V]>) => Object.fromEntries([...entries].sort(([a], [b]) => a.localeCompare(b)));
  return {
    states: sorted([...t.states].map(([s, n]) => [TaskState[s], n])),
    peers: sorted(t.peers),
    used: sorted([...t.used.names()].map((n) => [n, t.used.get(n)])),
  };
}

/** Per agent and per framework, the slow way: every task and executor in the agents' records. */
function recountTallies(core: MasterState): { byAgent: Record<string, Tally>; byFramework: Record<string, Tally> } {
  const agents = new Map<string, TaskTally>();
  const frameworks = new Map<string, TaskTally>();
  const tally = (m: Map<string, TaskTally>, id: string): TaskTally => m.get(id) ?? (m.set(id, new TaskTally()), m.get(id)!);
  for (const a of core.agents.values()) {
    for (const t of a.tasks.values()) {
      const f = t.frameworkId?.value ?? "";
      for (const [x, peer] of [[tally(agents, a.id), f], [tally(frameworks, f), a.id]] as const) {
        x.states.set(t.state, (x.states.get(t.state) ?? 0) + 1);
        if (isTerminal(t.state)) continue;
        x.peers.set(peer, (x.peers.get(peer) ?? 0) + 1);
        addResources(x.used, t.resources);
      }
    }
    for (const [f, executors] of a.executors) {
      for (const e of executors.values()) for (const x of [tally(agents, a.id), tally(frameworks, f)]) addResources(x.used, e.resources);
    }
  }
  const out = (m: Map<string, TaskTally>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([id, t]) => [id, plain(t)]));
  return { byAgent: out(agents), byFramework: out(frameworks) };
}

function resourceFigures(total: Quantities, used: Quantities, offered: Quantities): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of METERED_RESOURCES) Object.assign(out, { [`${r}_total`]: total.get(r), [`${r}_used`]: used.get(r), [`${r}_offered`]: offered.get(r) });
  return out;
}

const STATES = Object.values(TaskState).filter((s): s is TaskState => typeof s === "number");

export function recountMaster(core: MasterState): MasterTally {
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
  return { tasks, agents, frameworks: { connected, active: connected, disconnected, inactive: disconnected }, resources: resourceFigures(total, used, offered), ...recountTallies(core) };
}

/** The same figures as the master's incremental counts hold them. */
export function incrementalTally(core: MasterState): MasterTally {
  const c = core.counts;
  const tasks = Object.fromEntries(STATES.map((s) => [TaskState[s], c.tasksIn(s)])) as Record<string, number>;
  const ids = (keys: Iterable<string>) => [...new Set(keys)].sort((a, b) => a.localeCompare(b));
  const byAgent: Record<string, Tally> = {};
  for (const id of ids(core.agents.keys())) {
    const t = c.ofAgent(id);
    if (t) byAgent[id] = plain(t);
  }
  const byFramework: Record<string, Tally> = {};
  const frameworkIds = [...core.agents.values()].flatMap((a) => [...[...a.tasks.values()].map((t) => t.frameworkId?.value ?? ""), ...a.executors.keys()]);
  for (const id of ids([...core.frameworks.keys(), ...frameworkIds])) {
    const t = c.ofFramework(id);
    if (t) byFramework[id] = plain(t);
  }
  return { tasks, agents: c.agents(), frameworks: c.frameworks(), resources: resourceFigures(c.total, c.used, core.offers.offered), byAgent, byFramework };
}
