/**
 * Explicit reconciliation the master could not answer yet: tasks it does not know on
 * agents that are still "transitioning" after a failover (admitted in the registry, not yet
 * reregistered with this master), and tasks named without an agent while any agent is.
 * As Mesos, the master stays silent rather than answer TASK_UNKNOWN for a task that may
 * come back with its agent; unlike Mesos it remembers the question and answers once the
 * agent reregisters or is marked unreachable, so a scheduler need not retry to hear.
 * Per leadership term (it lives in the term's MasterState).
 *
 * Schedulers that follow Mesos's advice ask again, with backoff, about every task not heard
 * yet: after a failover at 50,000 agents the frameworks named each task 3.6 times while
 * its agent was on its way back (docs/scale.md, "Session 13"). A call's questions are
 * remembered through `questions(agent, framework)`, one list per agent and framework that
 * the call holds on to while it names tasks of the same agent (most name an agent's tasks
 * together), so a question costs one set insertion, not a walk of three maps.
 */

/** The key for tasks named without an agent id. */
const NO_AGENT = "";

/** What take gives for an agent with no questions (most agents that reregister). */
const NONE: ReadonlyMap<string, PendingQuestions> = new Map<string, PendingQuestions>();

/** The questions about one agent's (or no agent's) tasks of one framework. */
export class PendingQuestions {
  readonly taskIds = new Set<string>();

  constructor(private readonly counter: { count: number }) {}

  /** Remembers a question (a repeated one is held once). */
  add(taskId: string): void {
    const before = this.taskIds.size;
    this.taskIds.add(taskId);
    this.counter.count += this.taskIds.size - before;
  }
}

export class PendingReconciliation {
  /** agent id (or NO_AGENT) -> framework id -> its questions. */
  private readonly byAgent = new Map<string, Map<string, PendingQuestions>>();
  /** Questions held (kept as they come and go: a reconciliation call reads it twice). */
  private readonly counter = { count: 0 };

  get size(): number {
    return this.counter.count;
  }

  /** The questions about framework frameworkId's tasks on agentId (undefined: named without an agent), to add to. */
  questions(agentId: string | undefined, frameworkId: string): PendingQuestions {
    const key = agentId ?? NO_AGENT;
    let frameworks = this.byAgent.get(key);
    if (!frameworks) this.byAgent.set(key, (frameworks = new Map()));
    let questions = frameworks.get(frameworkId);
    if (!questions) frameworks.set(frameworkId, (questions = new PendingQuestions(this.counter)));
    return questions;
  }

  add(agentId: string | undefined, frameworkId: string, taskId: string): void {
    this.questions(agentId, frameworkId).add(taskId);
  }

  /** Removes and returns the questions about tasks on agentId (undefined: those without an agent), by framework id. */
  take(agentId: string | undefined): ReadonlyMap<string, PendingQuestions> {
    const key = agentId ?? NO_AGENT;
    const frameworks = this.byAgent.get(key);
    if (!frameworks) return NONE;
    this.byAgent.delete(key);
    for (const questions of frameworks.values()) this.counter.count -= questions.taskIds.size;
    return frameworks;
  }

  hasAgentless(): boolean {
    return this.byAgent.has(NO_AGENT);
  }
}
