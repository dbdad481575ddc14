/**
 * Explicit reconciliation the master could not answer yet: tasks it does not know on
 * agents that are still "transitioning" after a failover (admitted in the registry, not yet
 * reregistered with this master), and tasks named without an agent while any agent is.
 * As Mesos, the master stays silent rather than answer TASK_UNKNOWN for a task that may
 * come back with its agent; unlike Mesos it remembers the question and answers once the
 * agent reregisters or is marked unreachable, so a scheduler need not retry to hear.
 * Per leadership term (it lives in the term's MasterState).
 */

/** The key for tasks named without an agent id. */
const NO_AGENT = "";

export class PendingReconciliation {
  /** agent id (or NO_AGENT) -> framework id -> task ids. */
  private readonly byAgent = new Map<string, Map<string, Set<string>>>();
  /** Questions held (kept as they come and go: a reconciliation call reads it twice). */
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(agentId: string | undefined, frameworkId: string, taskId: string): void {
    const key = agentId ?? NO_AGENT;
    let frameworks = this.byAgent.get(key);
    if (!frameworks) this.byAgent.set(key, (frameworks = new Map()));
    let tasks = frameworks.get(frameworkId);
    if (!tasks) frameworks.set(frameworkId, (tasks = new Set()));
    if (tasks.has(taskId)) return;
    tasks.add(taskId);
    this.count++;
  }

  /** Removes and returns the questions about tasks on agentId (undefined: those without an agent). */
  take(agentId: string | undefined): Array<{ frameworkId: string; taskId: string }> {
    const key = agentId ?? NO_AGENT;
    const frameworks = this.byAgent.get(key);
    if (!frameworks) return [];
    this.byAgent.delete(key);
    const out: Array<{ frameworkId: string; taskId: string }> = [];
    for (const [frameworkId, tasks] of frameworks) for (const taskId of tasks) out.push({ frameworkId, taskId });
    this.count -= out.length;
    return out;
  }

  hasAgentless(): boolean {
    return this.byAgent.has(NO_AGENT);
  }
}
