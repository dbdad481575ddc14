/**
 * GET /state-summary assembled from fragments kept between builds, as /state is
 * (state-fragments.ts): one per agent and one per framework, each kept with what it was
 * made from — the record's info and total resources, state, registration time, drain
 * entry, its TaskTally (counts.ts) and that tally's change count, its tasks' counts in the
 * completed history, and its offers — compared by identity as a build walks the records.
 * Agents are cut into groups (fragment-groups.ts), so after one task update a build remakes
 * that task's agent and framework, one group of agents and the frameworks' part.
 *
 * The bytes are exactly those of JSON.stringify(masterSummaryJson(…)), the whole build
 * (master-summary-json.ts), which test/operator/state-fragments.test.ts compares them with
 * after every kind of change.
 */
import type { FrameworkRecord } from "../actors/master/framework-record.js";
import type { AgentRecord } from "../actors/master/agent-record.js";
import { agentDrain } from "../actors/master/drain-view.js";
import type { MasterView } from "../actors/master/master-view.js";
import { visibleAgent } from "../actors/master/state-view.js";
import type { TaskState } from "../gen/dcos/v1/tasks_pb.js";
import { BodyPart, PartsBody } from "./body-parts.js";
import type { FrameworkInfo } from "../gen/dcos/v1/cluster_pb.js";
import { VisibleTo } from "../actors/master/state-filter.js";
import type { ViewPermissions } from "../security/auth/view-acls.js";
import { ArrayWalk, Assembly, Deps, filteredArray, hash, open, type Fragment, type FragmentStats, type Group, type Kept } from "./fragment-groups.js";
import type { MasterJsonContext } from "./master-state-json.js";
import { completedSummary, summaryAgentJson, summaryFrameworkJson, summaryHeadJson } from "./master-summary-json.js";

/** Agents per group (a summary agent is ~700 bytes of JSON); frameworks per group. */
const AGENTS_PER_GROUP = 64;
const FRAMEWORKS_PER_GROUP = 8;

/** A record's tasks in the completed history as one comparable value ("" for none). */
function countsKey(counts: Map<TaskState, number> | undefined): string {
  if (!counts) return "";
  let key = "";
  for (const [state, n] of counts) key += `${state}:${n},`;
  return key;
}

/** An agent's summary text, with its framework_ids (its last field, which a filtered view cuts). */
interface AgentFragment extends Fragment {
  readonly frameworkIds: readonly string[];
}

/** A framework's summary text with its id. */
interface FrameworkFragment extends Fragment {
  readonly id: string;
}

/** What one build assembled /state-summary from: enough to assemble it for a filtered view. */
interface SummaryLayout {
  readonly head: string;
  readonly agents: readonly Group[];
  readonly frameworks: readonly Group[];
  /** The frameworks' and removed frameworks' infos (whose user a view filter needs). */
  readonly infos: FrameworkInfo[];
}

/** /state-summary's body with what it was assembled from. */
export class SummaryBody extends PartsBody {
  constructor(
    parts: readonly BodyPart[],
    readonly layout: SummaryLayout,
  ) {
    super(parts);
  }
}

export class SummaryFragments {
  private readonly agents = new WeakMap<AgentRecord, Kept<AgentFragment>>();
  private readonly frameworks = new WeakMap<FrameworkRecord, Kept<FrameworkFragment>>();
  private groups: ReadonlyMap<Fragment, Group> = new Map();
  private texts: ReadonlyMap<string, BodyPart> = new Map();
  /** What the last build remade. */
  last: FragmentStats = { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 };

  constructor(private readonly ctx: Pick<MasterJsonContext, "cluster" | "flags">) {}

  /** The body of /state-summary for everything `core` holds now (inside the master actor). */
  build(core: MasterView, startedAtMs: number): SummaryBody {
    const stats: FragmentStats = { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 };
    const groups = { kept: this.groups, used: new Map<Fragment, Group>() };
    const completed = completedSummary(core);

    const agents = new ArrayWalk(groups, AGENTS_PER_GROUP, stats);
    for (const a of core.agents.values()) {
      if (!visibleAgent(a)) continue;
      const kept = this.agents.get(a);
      const deps = new Deps(kept?.deps);
      const tally = core.counts.ofAgent(a.id);
      for (const x of [a.info, a.info.resources, a.state, a.registeredAt, agentDrain(core, a.id), tally, tally?.changes, countsKey(completed.onAgent.get(a.id))]) deps.push(x);
      for (const id of core.offers.onAgent(a.id)) deps.push(core.offers.get(id));
      const changed = deps.changed();
      if (kept && !changed) agents.push(kept.value);
      else {
        const json = summaryAgentJson(core, a, completed);
        const value = { text: JSON.stringify(json), hash: hash(a.id), frameworkIds: json.framework_ids as string[] };
        this.agents.set(a, { deps: changed!, value });
        stats.agents++;
        agents.push(value);
      }
    }

    const frameworks = new ArrayWalk(groups, FRAMEWORKS_PER_GROUP, stats);
    for (const f of core.frameworks.values()) {
      const kept = this.frameworks.get(f);
      const deps = new Deps(kept?.deps);
      const tally = core.counts.ofFramework(f.id);
      for (const x of [f.info, f.connected, tally, tally?.changes, countsKey(completed.ofFramework.get(f.id))]) deps.push(x);
      for (const id of core.offers.ofFramework(f.id)) deps.push(core.offers.get(id));
      const changed = deps.changed();
      if (kept && !changed) frameworks.push(kept.value);
      else {
        const value = { text: JSON.stringify(summaryFrameworkJson(core, f, completed)), hash: hash(f.id), id: f.id };
        this.frameworks.set(f, { deps: changed!, value });
        stats.frameworks++;
        frameworks.push(value);
      }
    }

    const out = new Assembly(this.texts, stats);
    const head = `${open(summaryHeadJson(core, startedAtMs, { ...this.ctx, leader: core.masterInfo(), electedTime: startedAtMs / 1000 }))},"slaves":[`;
    out.text(head);
    out.array(agents);
    out.text(`],"frameworks":[`);
    out.array(frameworks);
    out.text("]}");
    const infos = [...[...core.frameworks.values()].map((f) => f.info), ...core.completedFrameworks.values()];
    const body = new SummaryBody(out.finish().parts, { head, agents: agents.groups, frameworks: frameworks.groups, infos });
    this.texts = out.texts;
    this.groups = groups.used;
    this.last = stats;
    return body;
  }

  /**
   * /state-summary as a caller restricted by view ACLs sees it, from a body this built
   * (outside the master actor): the frameworks it may see, and each agent's framework_ids
   * cut to those (an agent whose frameworks it sees all keeps its kept text, a group of
   * such agents its kept part). The bytes are those of the whole filtered build
   * (masterSummaryJson with the caller's framework filter).
   */
  filtered(body: SummaryBody, view: ViewPermissions): SummaryBody {
    if (view.all) return body;
    const visible = new VisibleTo(view);
    for (const info of body.layout.infos) visible.learn(info);
    const out = new Assembly(new Map(), { tasks: 0, agents: 0, frameworks: 0, groups: 0, texts: 0 });
    out.text(body.layout.head);
    filteredArray(out, body.layout.agents, (f) => {
      const { text, frameworkIds } = f as AgentFragment;
      const seen = frameworkIds.filter((id) => visible.framework(id));
      if (seen.length === frameworkIds.length) return text;
      // framework_ids is the last field: its array, then the closing brace.
      return `${text.slice(0, text.length - JSON.stringify(frameworkIds).length - 1)}${JSON.stringify(seen)}}`;
    });
    out.text(`],"frameworks":[`);
    filteredArray(out, body.layout.frameworks, (f) => (visible.framework((f as FrameworkFragment).id) ? f.text : undefined));
    out.text("]}");
    return new SummaryBody(out.finish().parts, body.layout);
  }
}
