/**
 * GET /state assembled from JSON fragments kept between builds: one per task, per agent
 * and per framework, each remade only when what it shows changed. A build walks the
 * master's records once (inside the master actor, so the body is one state version) and
 * checks each fragment against what it was made from — object identities and the few
 * fields the master changes in place — instead of being told of changes: no part of the
 * master has to remember to mark anything, and a fragment is never stale.
 *
 * - a task's text is kept per Task object with its state, its status count and last
 *   status, its labels and resources (the master changes a task in place only there);
 * - an agent's with its info and total resources, state, registration time, drain entry,
 *   the live tasks and executors that make its used resources, and the offers on it;
 * - a framework's fields before and after its task lists with its info, connection,
 *   registration time, suppressed roles, the live tasks and executors that make its used
 *   resources, and its offers.
 *
 * The body is a list of parts (body-parts.ts): agents and each framework's task lists are
 * cut into groups of consecutive fragments at fragments whose id hashes to a boundary (so
 * one agent coming or going changes one group, not every later one); a group is kept while
 * it holds the same fragments, with its bytes and its compressed bytes. The text between
 * groups (headers, a framework's fields) is kept by its content. So after one task update
 * a build remakes one task's text, one group and its framework's fields, and gzip
 * compresses those few parts again.
 *
 * The bytes are exactly those of JSON.stringify(masterStateJson(stateResponse(…))), the
 * whole build (master-state-json.ts), which stays as the reference: test/http/state-fragments.test.ts
 * compares the two after every kind of change.
 */
import { create } from "@bufbuild/protobuf";
import type { FrameworkInfo } from "../gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../gen/dcos/v1/offers_pb.js";
import { GetStateResponseSchema } from "../gen/dcos/v1/operator_pb.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import type { ExecutorInfo, Task } from "../gen/dcos/v1/tasks_pb.js";
import { AgentState, type AgentRecord } from "../actors/master/agent-record.js";
import { agentDrain } from "../actors/master/drain-view.js";
import type { AgentDrain } from "../actors/master/registry.js";
import type { FrameworkRecord } from "../actors/master/framework-record.js";
import { maintenanceStatus } from "../actors/master/maintenance.js";
import { VisibleTo } from "../actors/master/state-filter.js";
import type { ViewPermissions } from "../security/auth/view-acls.js";
import type { MasterView } from "../actors/master/master-view.js";
import { agentEntry, frameworkEntry, visibleAgent, type Usage } from "../actors/master/state-view.js";
import { isTerminal } from "../actors/task-states.js";
import { BodyPart, PartsBody } from "./body-parts.js";
import { ArrayWalk, Assembly, Deps, filteredArray, hash, open, rest, type Fragment, type FragmentStats, type Group, type Kept } from "./fragment-groups.js";
import {
  agentJson,
  completedFrameworkHeadJson,
  frameworkHeadJson,
  frameworkTailJson,
  maintenanceJson,
  stateHeadJson,
  taskJson,
  type MasterJsonContext,
  type SlaveCounts,
} from "./master-state-json.js";

/** How many fragments a group holds on average (a task is ~200 bytes of JSON, an agent ~600). */
export interface GroupSizes {
  tasksPerGroup: number;
  agentsPerGroup: number;
}

/** Groups of ~50 KB: gzip keeps most of its ratio (bench `state`), and a change recompresses little. */
const GROUP_SIZES: GroupSizes = { tasksPerGroup: 256, agentsPerGroup: 64 };
/** A build that made more task texts than this was a cold one: the next is made ahead in slices too. */
const COLD_TASKS = 2000;

class TaskFragment implements Fragment {
  readonly state;
  readonly count;
  readonly last;
  readonly labels;
  readonly resources;
  readonly text: string;
  readonly hash: number;

  constructor(readonly task: Task) {
    const t = task;
    this.state = t.state;
    this.count = t.statuses.length;
    this.last = t.statuses[this.count - 1];
    this.labels = t.labels;
    this.resources = t.resources;
    this.text = JSON.stringify(taskJson(t));
    this.hash = hash(`${t.frameworkId?.value ?? ""}/${t.taskId?.value ?? ""}`);
  }

  /** Still what the task shows (the master changes a task in place only in these fields). */
  shows(t: Task): boolean {
    return t.state === this.state && t.statuses.length === this.count && t.statuses[this.count - 1] === this.last && t.labels === this.labels && t.resources === this.resources;
  }
}

/** Something that holds resources: a live task or an executor. */
type Holder = Task | ExecutorInfo;

/** What holders and the offers at the end of a dependency list hold, as the usage the master's entries take. */
function usageOf(holders: readonly Holder[], deps: readonly unknown[], from: number): Usage {
  const allocated: Resource[] = [];
  const offered: Resource[] = [];
  const offers: Offer[] = [];
  for (const h of holders) allocated.push(...h.resources);
  for (let i = from; i < deps.length; i++) {
    const o = deps[i] as Offer;
    offered.push(...o.resources);
    offers.push(o);
  }
  return { allocated, offered, offers };
}

/** `next` when it holds other items than `kept`, else `kept` (so that identity tells a change). */
function sameOr<T>(kept: readonly T[] | undefined, next: readonly T[]): readonly T[] {
  if (!kept || kept.length !== next.length) return next;
  for (let i = 0; i < next.length; i++) if (kept[i] !== next[i]) return next;
  return kept;
}

/** One agent's tasks of one framework, and what they and its executors there hold. */
interface Segment {
  readonly framework: string;
  /** Live tasks (under "tasks", or "unreachable_tasks" on an unreachable agent). */
  readonly live: TaskFragment[];
  readonly completed: TaskFragment[];
  /** The framework's live tasks then its executors on the agent (its used resources, in the master's order). */
  readonly holders: Holder[];
}

/** An agent's tasks read once per change of its tasks (AgentRecord.tasksVersion), by framework. */
interface AgentTasks {
  readonly version: number;
  readonly unreachable: boolean;
  /** Live tasks then executors: the agent's used resources, in the master's order (the kept array while the same). */
  holders: readonly Holder[];
  /** In the order the frameworks first appear among the agent's tasks, then its executors. */
  readonly segments: Segment[];
}

/** A framework's task lists (by the id its tasks name) and, for a framework with a record, its dependencies. */
interface Lists {
  /** The live tasks and executors of the framework, in the agents' order. */
  holders: Holder[];
  tasks: ArrayWalk;
  unreachable: ArrayWalk;
  completed: ArrayWalk;
}

/** A framework id's task lists (its groups) and holders as a build made them. */
interface Arrays {
  readonly tasks: readonly Group[];
  readonly unreachable: readonly Group[];
  readonly completed: readonly Group[];
  readonly holders: readonly Holder[];
}

const NO_ARRAYS: Arrays = { tasks: [], unreachable: [], completed: [], holders: [] };

/**
 * What the last build walked: a build whose agents are the same records in the same
 * order, with the same frameworks, walks again only the task lists of the frameworks whose
 * tasks changed (an agent read again, the completed history) and keeps the others' groups.
 */
interface Walked {
  readonly core: WeakRef<MasterView>;
  readonly agents: readonly AgentRecord[];
  readonly reads: readonly AgentTasks[];
  readonly known: string;
  readonly history: readonly TaskFragment[];
  readonly arrays: ReadonlyMap<string, Arrays>;
  readonly orphans: readonly Group[];
}

export type { FragmentStats } from "./fragment-groups.js";

/** A framework's kept texts and task lists' groups in one build. */
interface FrameworkLayout {
  readonly id: string;
  /** Its fields up to `"tasks":[` (no leading comma). */
  readonly head: string;
  /** From the completed tasks' closing bracket to its end. */
  readonly tail: string;
  readonly tasks: readonly Group[];
  readonly unreachable: readonly Group[];
  readonly completed: readonly Group[];
}

/** What one build assembled /state from: enough to assemble it again for a filtered view. */
interface Layout {
  /** The master's fields up to `"slaves":[`. */
  readonly head: string;
  readonly agents: readonly BodyPart[];
  /** From the agents' closing bracket to `"frameworks":[`. */
  readonly maintenance: string;
  readonly frameworks: FrameworkLayout[];
  readonly completed: Array<{ readonly id: string; readonly head: string; readonly completed: readonly Group[] }>;
  readonly orphans: readonly Group[];
  /** The frameworks' and removed frameworks' infos (whose user a view filter needs). */
  readonly infos: FrameworkInfo[];
}

/** What a filtered view keeps (state-filter.ts VisibleTo). */
interface Filter {
  framework(id: string): boolean;
  task(t: Task): boolean;
}

/** /state's body, with the body of /frameworks made of the same parts and what it was assembled from. */
export class StateBody extends PartsBody {
  constructor(
    parts: readonly BodyPart[],
    readonly frameworks: PartsBody,
    readonly layout: Layout,
  ) {
    super(parts);
  }
}

/** A task array's groups, or (filtered) groups of the tasks the view keeps: a group kept whole is the kept part. */
function taskArray(out: Assembly, groups: readonly Group[], filter: Filter | undefined): void {
  if (!filter) return out.add(groups.map((g) => g.part));
  filteredArray(out, groups, (f) => (filter.task((f as TaskFragment).task) ? f.text : undefined));
}

/** /state (and /frameworks from the same parts) from a layout, for everyone or for a filtered view. */
function assemble(layout: Layout, out: Assembly, filter?: Filter): StateBody {
  out.text(layout.head);
  out.add(layout.agents);
  out.text(layout.maintenance);
  const frameworksFrom = out.mark();
  let first = true;
  for (const f of layout.frameworks) {
    if (filter && !filter.framework(f.id)) continue;
    out.text(`${first ? "" : ","}${f.head}`);
    taskArray(out, f.tasks, filter);
    out.text(`],"unreachable_tasks":[`);
    taskArray(out, f.unreachable, filter);
    out.text(`],"completed_tasks":[`);
    taskArray(out, f.completed, filter);
    out.text(f.tail);
    first = false;
  }
  const frameworksTo = out.mark();
  out.text(`],"completed_frameworks":[`);
  const completedFrom = out.mark();
  first = true;
  for (const f of layout.completed) {
    if (filter && !filter.framework(f.id)) continue;
    out.text(`${first ? "" : ","}${f.head}`);
    taskArray(out, f.completed, filter);
    out.text("]}");
    first = false;
  }
  const completedTo = out.mark();
  out.text(`],"orphan_tasks":[`);
  taskArray(out, layout.orphans, filter);
  out.text(`],"unregistered_frameworks":[]}`);
  const parts = out.finish().parts;
  // /frameworks is /state's "frameworks" and "completed_frameworks": the same parts.
  const frameworks = new PartsBody([FRAMEWORKS_OPEN, ...out.between(frameworksFrom, frameworksTo), FRAMEWORKS_MIDDLE, ...out.between(completedFrom, completedTo), FRAMEWORKS_CLOSE]);
  return new StateBody(parts, frameworks, layout);
}

/** /frameworks' own text around /state's parts (Mesos's /master/frameworks shape). */
const FRAMEWORKS_OPEN = new BodyPart('{"frameworks":[');
const FRAMEWORKS_MIDDLE = new BodyPart('],"completed_frameworks":[');
const FRAMEWORKS_CLOSE = new BodyPart('],"unregistered_frameworks":[]}');

export class StateFragments {
  /** The completed history's task texts (the agents' are in their AgentTasks). */
  private history = new Map<Task, TaskFragment>();
  private readonly agentTasks = new WeakMap<AgentRecord, AgentTasks>();
  private readonly agents = new WeakMap<AgentRecord, Kept<Fragment>>();
  private readonly frameworks = new WeakMap<FrameworkRecord, Kept<{ head: string; tail: string }>>();
  private readonly completedHeads = new WeakMap<FrameworkInfo, string>();
  /** The last build's groups by first fragment (only those it used: nothing stale stays). */
  private groups: ReadonlyMap<Fragment, Group> = new Map();
  private texts: ReadonlyMap<string, BodyPart> = new Map();
  private readonly sizes: GroupSizes;
  private stats: FragmentStats = { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 };
  /** What the last build remade. */
  last: FragmentStats = { ...this.stats };
  private lastCore: WeakRef<MasterView> | undefined;
  private walked: Walked | undefined;

  constructor(
    private readonly ctx: Pick<MasterJsonContext, "cluster" | "flags">,
    sizes: Partial<GroupSizes> = {},
  ) {
    this.sizes = { ...GROUP_SIZES, ...sizes };
  }

  /** The task's text: the kept one while it still shows the task, else made now. */
  private task(t: Task, kept: ReadonlyMap<Task, TaskFragment> | undefined): TaskFragment {
    const f = kept?.get(t);
    if (f?.shows(t)) return f;
    this.stats.tasks++;
    return new TaskFragment(t);
  }

  /** The agent's tasks by framework, read again only when they changed. */
  private tasksOf(agent: AgentRecord): AgentTasks {
    const unreachable = agent.state === AgentState.UNREACHABLE;
    const kept = this.agentTasks.get(agent);
    if (kept && kept.version === agent.tasksVersion && kept.unreachable === unreachable) return kept;
    const holders: Holder[] = [];
    const read: AgentTasks = { version: agent.tasksVersion, unreachable, holders, segments: [] };
    const texts = kept && new Map<Task, TaskFragment>(kept.segments.flatMap((seg) => [...seg.live, ...seg.completed].map((f) => [f.task, f])));
    const byFramework = new Map<string, Segment>();
    const segment = (framework: string): Segment => {
      let seg = byFramework.get(framework);
      if (!seg) {
        byFramework.set(framework, (seg = { framework, live: [], completed: [], holders: [] }));
        read.segments.push(seg);
      }
      return seg;
    };
    for (const t of agent.tasks.values()) {
      const seg = segment(t.frameworkId?.value ?? "");
      if (isTerminal(t.state)) seg.completed.push(this.task(t, texts));
      else {
        seg.live.push(this.task(t, texts));
        seg.holders.push(t);
        holders.push(t);
      }
    }
    for (const [framework, executors] of agent.executors) {
      const seg = segment(framework);
      for (const e of executors.values()) {
        seg.holders.push(e);
        holders.push(e);
      }
    }
    read.holders = sameOr(kept?.holders, holders);
    this.agentTasks.set(agent, read);
    return read;
  }

  /** The agent's fragment: the kept one while made from the same dependencies, else made now. */
  private agentFragment(agent: AgentRecord, read: AgentTasks, drain: AgentDrain | undefined, offers: readonly Offer[]): Fragment {
    const kept = this.agents.get(agent);
    const deps = new Deps(kept?.deps);
    deps.push(agent.info);
    deps.push(agent.info.resources);
    deps.push(agent.state);
    deps.push(agent.registeredAt);
    deps.push(drain);
    deps.push(read.holders);
    for (const o of offers) deps.push(o);
    const changed = deps.changed();
    if (kept && !changed) return kept.value;
    const entry = agentEntry(agent, usageOf(read.holders, changed!, 6), { deactivated: drain !== undefined, drainInfo: drain?.drainInfo });
    const fragment = { text: JSON.stringify(agentJson(entry)), hash: hash(agent.id) };
    this.agents.set(agent, { deps: changed!, value: fragment });
    this.stats.agents++;
    return fragment;
  }

  /** Whether a build now would make most fragments anew (none made yet, or for another state object). */
  cold(core: MasterView): boolean {
    return this.lastCore?.deref() !== core || this.last.tasks > COLD_TASKS;
  }

  /**
   * Makes fragments ahead of a build, for at most about `budgetMs` (inside the master
   * actor, in turns between its other work): a first build then holds the master only for
   * what changed since. True when every agent's fragments are made.
   */
  warm(core: MasterView, budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    this.stats = { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 };
    let n = 0;
    for (const agent of core.agents.values()) {
      const kept = this.agentTasks.get(agent);
      if (kept && kept.version === agent.tasksVersion && kept.unreachable === (agent.state === AgentState.UNREACHABLE) && this.agents.has(agent)) continue;
      const read = this.tasksOf(agent);
      if (visibleAgent(agent)) this.agentFragment(agent, read, agentDrain(core, agent.id), core.offers.onAgent(agent.id).map((id) => core.offers.get(id)!));
      if (++n % 16 === 0 && performance.now() > until) return false;
    }
    return true;
  }

  /** The body of /state for everything `core` holds now (inside the master actor). */
  build(core: MasterView, startedAtMs: number): StateBody {
    this.lastCore = new WeakRef(core);
    const stats: FragmentStats = (this.stats = { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 });
    const groups = { kept: this.groups, used: new Map<Fragment, Group>() };
    const walk = (size: number): ArrayWalk => new ArrayWalk(groups, size, stats);
    const taskSize = this.sizes.tasksPerGroup;

    // Which frameworks' task lists to walk: all, unless the agents and frameworks are the
    // last build's; then those with a task on an agent read again or in a changed history.
    const agentList = [...core.agents.values()];
    const reads = agentList.map((agent) => this.tasksOf(agent));
    const known = new Set<string>();
    for (const f of core.frameworks.values()) known.add(f.info.id?.value ?? "");
    const knownKey = [...known].join("\n");
    const historyList: TaskFragment[] = [];
    const history = new Map<Task, TaskFragment>();
    for (const t of core.completedTasks.values()) {
      const f = this.task(t, this.history);
      history.set(t, f);
      historyList.push(f);
    }
    this.history = history;
    const prev = this.walked;
    let all = !prev || prev.core.deref() !== core || prev.known !== knownKey || prev.agents.length !== agentList.length;
    const dirty = new Set<string>();
    for (let i = 0; !all && i < agentList.length; i++) {
      if (prev!.agents[i] !== agentList[i]) all = true;
      else if (prev!.reads[i] !== reads[i]) for (const read of [prev!.reads[i]!, reads[i]!]) for (const seg of read.segments) dirty.add(seg.framework);
    }
    if (!all && sameOr(prev!.history, historyList) !== prev!.history) for (const f of [...prev!.history, ...historyList]) dirty.add(f.task.frameworkId?.value ?? "");
    const walks = (id: string): boolean => all || dirty.has(id);
    const orphansWalked = all || [...dirty].some((id) => !known.has(id));

    // Per framework id walked: its task lists and its holders.
    const lists = new Map<string, Lists>();
    const listsOf = (id: string): Lists => {
      let l = lists.get(id);
      if (!l) lists.set(id, (l = { holders: [], tasks: walk(taskSize), unreachable: walk(taskSize), completed: walk(taskSize) }));
      return l;
    };
    const offersOnAgent = new Map<string, Offer[]>();
    const offersOfFramework = new Map<string, Offer[]>();
    for (const o of core.offers.values()) {
      listIn(offersOnAgent, o.agentId!.value).push(o);
      listIn(offersOfFramework, o.frameworkId!.value).push(o);
    }
    for (const f of historyList) {
      const id = f.task.frameworkId?.value ?? "";
      if (walks(id)) listsOf(id).completed.push(f);
    }

    const agents = walk(this.sizes.agentsPerGroup);
    const orphans = walk(taskSize);
    const counts: SlaveCounts = { activated: 0, deactivated: 0, unreachable: 0 };
    for (let i = 0; i < agentList.length; i++) {
      const agent = agentList[i]!;
      const read = reads[i]!;
      let unknown = 0;
      for (const seg of read.segments) {
        if (seg.live.length > 0 && !known.has(seg.framework)) unknown++;
        if (!walks(seg.framework)) continue;
        const l = listsOf(seg.framework);
        for (const h of seg.holders) l.holders.push(h);
        l.completed.pushAll(seg.completed);
        if (seg.live.length > 0 && known.has(seg.framework)) (read.unreachable ? l.unreachable : l.tasks).pushAll(seg.live);
      }
      if (orphansWalked && unknown > 0 && !read.unreachable) this.orphans(agent, known, orphans, unknown === 1 ? read.segments.find((seg) => seg.live.length > 0 && !known.has(seg.framework)) : undefined);
      if (!visibleAgent(agent)) continue;
      const drain = agentDrain(core, agent.id);
      agents.push(this.agentFragment(agent, read, drain, offersOnAgent.get(agent.id) ?? []));
      if (agent.state === AgentState.ACTIVE) counts.activated++;
      if (read.unreachable) counts.unreachable++;
      if (drain !== undefined) counts.deactivated++;
    }
    // This build's lists: the walked ones made now, the others the last build's groups (kept for the next build).
    const arrays = new Map<string, Arrays>(all ? [] : prev!.arrays);
    for (const [id, l] of lists) {
      const groupsOf = (w: ArrayWalk): readonly Group[] => (w.finish(), w.groups);
      arrays.set(id, { tasks: groupsOf(l.tasks), unreachable: groupsOf(l.unreachable), completed: groupsOf(l.completed), holders: sameOr(prev?.arrays.get(id)?.holders, l.holders) });
    }
    for (const id of dirty) if (!lists.has(id)) arrays.delete(id);
    if (!all) {
      for (const [id, a] of arrays) if (!lists.has(id)) for (const g of [...a.tasks, ...a.unreachable, ...a.completed]) groups.used.set(g.items[0]!, g);
      if (!orphansWalked) for (const g of prev!.orphans) groups.used.set(g.items[0]!, g);
    }
    stats.walked = lists.size;
    const orphanGroups = orphansWalked ? (orphans.finish(), orphans.groups) : prev!.orphans;
    this.walked = { core: new WeakRef(core), agents: agentList, reads, known: knownKey, history: historyList, arrays, orphans: orphanGroups };

    const masterInfo = core.masterInfo();
    const header = create(GetStateResponseSchema, { masterInfo, startTime: startedAtMs / 1000, stateVersion: BigInt(core.stateVersion) });
    const ctx: MasterJsonContext = { ...this.ctx, leader: masterInfo, electedTime: startedAtMs / 1000 };
    const layout: Layout = {
      head: `${open(stateHeadJson(header, ctx, counts))},"slaves":[`,
      agents: agents.finish(),
      maintenance: `],"maintenance_status":${JSON.stringify(maintenanceJson(maintenanceStatus(core)))},"frameworks":[`,
      frameworks: [],
      completed: [],
      orphans: orphanGroups,
      infos: [],
    };
    for (const f of core.frameworks.values()) {
      const a = arrays.get(f.info.id?.value ?? "") ?? NO_ARRAYS;
      const holders = f.id === (f.info.id?.value ?? "") ? a.holders : (arrays.get(f.id) ?? NO_ARRAYS).holders;
      let kept = this.frameworks.get(f);
      const deps = new Deps(kept?.deps);
      for (const x of [f.info, f.connected, f.registeredAt, JSON.stringify([...f.suppressedRoles]), holders]) deps.push(x);
      for (const o of offersOfFramework.get(f.id) ?? []) deps.push(o);
      const changed = deps.changed();
      if (changed || !kept) {
        const entry = frameworkEntry(f, usageOf(holders, changed!, 5));
        kept = { deps: changed!, value: { head: `${open(frameworkHeadJson(entry))},"tasks":[`, tail: `],${rest(frameworkTailJson(entry))}` } };
        this.frameworks.set(f, kept);
        stats.frameworks++;
      }
      layout.frameworks.push({ id: f.info.id?.value ?? "", ...kept.value, tasks: a.tasks, unreachable: a.unreachable, completed: a.completed });
      layout.infos.push(f.info);
    }
    for (const info of core.completedFrameworks.values()) {
      let head = this.completedHeads.get(info);
      if (head === undefined) this.completedHeads.set(info, (head = `${open(completedFrameworkHeadJson(info))},"completed_tasks":[`));
      layout.completed.push({ id: info.id?.value ?? "", head, completed: (arrays.get(info.id?.value ?? "") ?? NO_ARRAYS).completed });
      layout.infos.push(info);
    }
    const out = new Assembly(this.texts, stats);
    const body = assemble(layout, out);
    this.texts = out.texts;
    this.groups = groups.used;
    this.last = stats;
    return body;
  }

  /**
   * /state as a caller restricted by view ACLs sees it, from a body this built (so from
   * the same version, without the master actor): the frameworks it may see, their tasks it
   * may see (a group whose tasks it sees all is the kept part, compressed once; others are
   * made of the kept task texts), agents and the rest as they are. The bytes are those of
   * the whole filtered build (masterStateJson(filterState(…))).
   */
  filtered(body: StateBody, view: ViewPermissions): StateBody {
    if (view.all) return body;
    const visible = new VisibleTo(view);
    for (const info of body.layout.infos) visible.learn(info);
    return assemble(body.layout, new Assembly(new Map(), { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 }), { framework: (id) => visible.framework(id), task: (t) => visible.task(t) });
  }

  /**
   * A reachable agent's live tasks of frameworks without a record, in the agent's order:
   * the one such segment, or (tasks of several such frameworks, rare) the tasks read again.
   */
  private orphans(agent: AgentRecord, known: ReadonlySet<string>, out: ArrayWalk, only: Segment | undefined): void {
    if (only) return out.pushAll(only.live);
    const live = new Map(this.tasksOf(agent).segments.flatMap((seg) => seg.live.map((f) => [f.task, f])));
    for (const t of agent.tasks.values()) if (!isTerminal(t.state) && !known.has(t.frameworkId?.value ?? "")) out.push(live.get(t)!);
  }
}

function listIn<T>(m: Map<string, T[]>, key: string): T[] {
  let l = m.get(key);
  if (!l) m.set(key, (l = []));
  return l;
}
