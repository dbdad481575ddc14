/**
 * Where the scale harness's preloaded tasks live (`npm run bench -- scale -- --preload=1`):
 * the simulated agents start already running them, with agent ids of their own, and
 * reregister with them at the first leader, which admits the agents (the registry did not
 * hold them: one Raft entry per batch, as a registration storm) and adopts their tasks
 * through its real reregistration path; the frameworks, subscribed before, know their tasks
 * and reconcile them. So a failover can be measured at 250,000 tasks without launching
 * them. Task g of T (0-based) belongs to framework floor(g / perFramework) and runs on
 * agent floor(g / perAgent): every agent runs the tasks of one or two frameworks, as after a
 * fill in batches.
 */

export interface PreloadLayout {
  agents: number;
  frameworks: number;
  tasks: number;
}

/** What a task of the layout asks of its agent (the harness's frameworks launch the same). */
export const PRELOAD_TASK_RESOURCES = "cpus:0.1;mem:32";
/** The most preloaded tasks an agent of the harness (cpus:8) can hold at 0.1 cpus each. */
const MAX_PER_AGENT = 80;

/** "agents,frameworks,tasks" (the processes' --preload flag). */
export function parsePreload(text: string): PreloadLayout {
  const [agents, frameworks, tasks] = text.split(",").map(Number);
  const l = { agents: agents ?? NaN, frameworks: frameworks ?? NaN, tasks: tasks ?? NaN };
  if (![l.agents, l.frameworks, l.tasks].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`--preload=${text}: expected agents,frameworks,tasks (positive integers)`);
  }
  if (perAgent(l) > MAX_PER_AGENT) throw new Error(`--preload=${text}: ${perAgent(l)} tasks per agent, more than an agent of the harness holds (${MAX_PER_AGENT})`);
  return l;
}

export function preloadArg(l: PreloadLayout): string {
  return `${l.agents},${l.frameworks},${l.tasks}`;
}

/** The agent id a preloaded agent starts with (the masters' own ids are `<master id>-S<n>`). */
export const preloadAgentId = (agent: number): string => `preload-S${agent}`;
/** A preloaded task's id: its framework's name (`scale-<f>`, scale-framework.ts) and its index there. */
export const preloadTaskId = (framework: number, index: number): string => `scale-${framework}-pre-${index}`;

const perAgent = (l: PreloadLayout): number => Math.ceil(l.tasks / l.agents);
const perFramework = (l: PreloadLayout): number => Math.ceil(l.tasks / l.frameworks);

/** The tasks agent `agent` starts with: whose (framework index) and their ids. */
export function agentTasks(l: PreloadLayout, agent: number): Array<{ framework: number; taskId: string }> {
  const pa = perAgent(l);
  const pf = perFramework(l);
  const out: Array<{ framework: number; taskId: string }> = [];
  for (let g = agent * pa; g < Math.min((agent + 1) * pa, l.tasks); g++) {
    const f = Math.floor(g / pf);
    out.push({ framework: f, taskId: preloadTaskId(f, g - f * pf) });
  }
  return out;
}

/** Framework `framework`'s preloaded tasks and the agent each runs on. */
export function frameworkTasks(l: PreloadLayout, framework: number): Array<{ taskId: string; agentId: string }> {
  const pa = perAgent(l);
  const pf = perFramework(l);
  const out: Array<{ taskId: string; agentId: string }> = [];
  for (let g = framework * pf; g < Math.min((framework + 1) * pf, l.tasks); g++) {
    out.push({ taskId: preloadTaskId(framework, g - framework * pf), agentId: preloadAgentId(Math.floor(g / pa)) });
  }
  return out;
}
