/**
 * GET /state-summary in the shape Mesos operators' tools read: agents and frameworks with
 * their task counts per state, the frameworks on each agent (agents of each framework) and
 * what their live tasks and executors use, without listing tasks. Built from the master's
 * incremental counts (counts.ts TaskTally) and the bounded history of completed tasks, so
 * it costs O(agents + frameworks + offers), not O(tasks). `used_resources` here holds the
 * scalars (cpus, mem, disk, gpus, ...); port ranges in use are in /state.
 */
import { drainView } from "../actors/master/drain-view.js";
import { create } from "@bufbuild/protobuf";
import { GetStateResponseSchema } from "../gen/dcos/v1/operator_pb.js";
import type { Task, TaskState } from "../gen/dcos/v1/tasks_pb.js";
import type { MasterView } from "../actors/master/master-view.js";
import type { TaskTally } from "../actors/master/counts.js";
import type { AgentRecord } from "../actors/master/agent-record.js";
import type { FrameworkRecord } from "../actors/master/framework-record.js";
import { agentEntry, frameworkEntry, visibleAgent, type Usage } from "../actors/master/state-view.js";
import { taskStateName } from "../actors/task-states.js";
import { agentJson, frameworkInfoJson, masterFields, type MasterJsonContext } from "./master-state-json.js";
import { quantitiesJson, resourcesJson } from "./resources-json.js";

const SUMMARY_STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_UNREACHABLE"];

type Json = Record<string, unknown>;

/** Adds the per-state counts of one agent or framework to its JSON: its tally plus its tasks in the completed history. */
function addStates(out: Json, tally: TaskTally | undefined, completed: Map<TaskState, number> | undefined): void {
  for (const s of SUMMARY_STATES) out[s] = 0;
  for (const counts of [tally?.states, completed]) {
    for (const [state, n] of counts ?? []) {
      const name = taskStateName(state);
      if (name in out) (out[name] as number) += n;
    }
  }
}

/** The completed history's tasks per agent and per framework (at most the history's size). */
function completedCounts(tasks: readonly Task[], key: (t: Task) => string): Map<string, Map<TaskState, number>> {
  const out = new Map<string, Map<TaskState, number>>();
  for (const t of tasks) {
    const k = key(t);
    let m = out.get(k);
    if (!m) out.set(k, (m = new Map()));
    m.set(t.state, (m.get(t.state) ?? 0) + 1);
  }
  return out;
}

/** What is offered on an agent or to a framework (the tally has what is used). */
function offered(core: MasterView, offerIds: Iterable<string>): Usage {
  const u: Usage = { allocated: [], offered: [], offers: [] };
  for (const id of offerIds) {
    const offer = core.offers.get(id);
    if (!offer) continue;
    u.offered.push(...offer.resources);
    u.offers.push(offer);
  }
  return u;
}

/** The completed history's task counts per agent and per framework (tasks in no agent's records any more). */
export interface CompletedCounts {
  onAgent: Map<string, Map<TaskState, number>>;
  ofFramework: Map<string, Map<TaskState, number>>;
}

export function completedSummary(core: MasterView): CompletedCounts {
  const completed = core.completedTasks.values();
  return { onAgent: completedCounts(completed, (t) => t.agentId?.value ?? ""), ofFramework: completedCounts(completed, (t) => t.frameworkId?.value ?? "") };
}

/** One agent in /state-summary. */
export function summaryAgentJson(core: MasterView, a: AgentRecord, completed: CompletedCounts, frameworkVisible: (id: string) => boolean = () => true): Json {
  const tally = core.counts.ofAgent(a.id);
  const json = agentJson(agentEntry(a, offered(core, core.offers.onAgent(a.id)), drainView(core, a.id)));
  if (tally) json.used_resources = quantitiesJson(tally.used);
  addStates(json, tally, completed.onAgent.get(a.id));
  json.framework_ids = [...(tally?.peers.keys() ?? [])].filter(frameworkVisible);
  return json;
}

/** One framework in /state-summary. */
export function summaryFrameworkJson(core: MasterView, f: FrameworkRecord, completed: CompletedCounts): Json {
  const tally = core.counts.ofFramework(f.id);
  const entry = frameworkEntry(f, offered(core, core.offers.ofFramework(f.id)));
  const json = frameworkInfoJson(entry.frameworkInfo!);
  json.active = entry.active;
  json.connected = entry.connected;
  json.used_resources = tally ? quantitiesJson(tally.used) : resourcesJson([]);
  json.offered_resources = resourcesJson(entry.offeredResources);
  addStates(json, tally, completed.ofFramework.get(f.id));
  json.slave_ids = [...(tally?.peers.keys() ?? [])];
  return json;
}

/** The summary's first fields (the master's), before "slaves". */
export function summaryHeadJson(core: MasterView, startedAtMs: number, ctx: MasterJsonContext): Json {
  return masterFields(create(GetStateResponseSchema, { masterInfo: core.masterInfo(), startTime: startedAtMs / 1000, stateVersion: BigInt(core.stateVersion) }), ctx);
}

/**
 * /state-summary built whole (summary-fragments.ts assembles the same bytes from kept
 * fragments). `frameworkVisible`: which frameworks the caller may see (view_frameworks; default all).
 */
export function masterSummaryJson(core: MasterView, startedAtMs: number, ctx: MasterJsonContext, frameworkVisible: (id: string) => boolean = () => true): Json {
  const completed = completedSummary(core);
  return {
    ...summaryHeadJson(core, startedAtMs, ctx),
    slaves: [...core.agents.values()].filter(visibleAgent).map((a) => summaryAgentJson(core, a, completed, frameworkVisible)),
    frameworks: [...core.frameworks.values()].filter((f) => frameworkVisible(f.id)).map((f) => summaryFrameworkJson(core, f, completed)),
  };
}
