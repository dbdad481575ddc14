import { JobSpecError, type JobSpec } from "./job-spec.js";

/** The jobs' parent → child edges, checked for unknown parents and cycles. */
export interface DependencyGraph {
  /** Child job names per parent. */
  children: Map<string, string[]>;
  /** Job names in an order where every parent comes before its children. */
  order: string[];
}

/**
 * Builds the graph of `jobs` with `changed` put in (replacing a job of the same name), or
 * throws a JobSpecError naming an unknown parent or the jobs on a cycle.
 */
export function checkDependencies(jobs: ReadonlyMap<string, Pick<JobSpec, "name" | "parents">>, changed?: Pick<JobSpec, "name" | "parents">): DependencyGraph {
  const all = new Map(jobs);
  if (changed) all.set(changed.name, changed);
  const children = new Map<string, string[]>();
  for (const j of all.values()) {
    for (const p of j.parents) {
      if (!all.has(p)) throw new JobSpecError(`Job '${j.name}' names an unknown parent '${p}'`);
      let c = children.get(p);
      if (!c) children.set(p, (c = []));
      c.push(j.name);
    }
  }
  // Kahn's algorithm; what is left over lies on or behind a cycle.
  const indegree = new Map<string, number>();
  for (const j of all.values()) indegree.set(j.name, j.parents.length);
  const ready = [...all.keys()].filter((n) => indegree.get(n) === 0).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const c of children.get(n) ?? []) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0) ready.push(c);
    }
  }
  if (order.length < all.size) throw new JobSpecError(`Dependency cycle: ${findCycle((n) => all.get(n)?.parents, [...all.keys()].sort()).join(" -> ")}`);
  return { children, order };
}

/**
 * Checks putting `changed` into the acyclic graph of the jobs `parentsOf` knows (replacing
 * a job of the same name) by walking only its ancestors: throws a JobSpecError naming an
 * unknown parent or the jobs on the cycle it would close. A new cycle must pass through
 * `changed`, so it exists exactly when `changed` is among the ancestors of its own
 * parents. The cost is that of its ancestry, not of all the jobs (putting n jobs one by
 * one stays linear).
 */
export function checkParents(parentsOf: (name: string) => readonly string[] | undefined, changed: Pick<JobSpec, "name" | "parents">): void {
  for (const p of changed.parents) {
    if (p !== changed.name && parentsOf(p) === undefined) throw new JobSpecError(`Job '${changed.name}' names an unknown parent '${p}'`);
  }
  const withChanged = (n: string) => (n === changed.name ? changed.parents : parentsOf(n));
  const seen = new Set<string>();
  const stack = [...changed.parents];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n === changed.name) throw new JobSpecError(`Dependency cycle: ${findCycle(withChanged, [changed.name]).join(" -> ")}`);
    if (seen.has(n)) continue;
    seen.add(n);
    for (const p of parentsOf(n) ?? []) if (!seen.has(p)) stack.push(p);
  }
}

/** A cycle reachable from `starts` (following parents), as names from a job back to it; [] if none. */
function findCycle(parentsOf: (name: string) => readonly string[] | undefined, starts: readonly string[]): string[] {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const p of parentsOf(n) ?? []) {
      if (state.get(p) === 1) return [...stack.slice(stack.indexOf(p)), p].reverse();
      if (!state.has(p)) {
        const c = visit(p);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of starts) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return [];
}

/** Jobs that name `name` as a parent. */
export function childrenOf(jobs: Iterable<Pick<JobSpec, "name" | "parents">>, name: string): string[] {
  const out: string[] = [];
  for (const j of jobs) if (j.parents.includes(name)) out.push(j.name);
  return out.sort();
}

const dotId = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** Graphviz text of the graph, one edge per parent → child (GET /v1/scheduler/graph/dot). */
export function graphDot(jobs: Iterable<Pick<JobSpec, "name" | "parents">>, lastOutcome: (name: string) => string): string {
  const list = [...jobs].sort((a, b) => (a.name < b.name ? -1 : 1));
  const lines = ["digraph G {", "  node [style=filled];"];
  const color: Record<string, string> = { success: "lightgreen", failure: "salmon", running: "lightblue", fresh: "white" };
  for (const j of list) lines.push(`  ${dotId(j.name)} [fillcolor=${color[lastOutcome(j.name)] ?? "white"}];`);
  for (const j of list) for (const p of j.parents) lines.push(`  ${dotId(p)} -> ${dotId(j.name)};`);
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** CSV rows `node,<name>,<last outcome>,<state>` and `link,<parent>,<child>` (GET /v1/scheduler/graph/csv). */
export function graphCsv(jobs: Iterable<Pick<JobSpec, "name" | "parents">>, lastOutcome: (name: string) => string, state: (name: string) => string): string {
  const list = [...jobs].sort((a, b) => (a.name < b.name ? -1 : 1));
  const rows: string[] = [];
  for (const j of list) rows.push(`node,${j.name},${lastOutcome(j.name)},${state(j.name)}`);
  for (const j of list) for (const p of j.parents) rows.push(`link,${p},${j.name}`);
  return rows.join("\n") + (rows.length ? "\n" : "");
}
