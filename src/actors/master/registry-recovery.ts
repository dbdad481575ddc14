/**
 * What a master does when it starts to lead: it loads the registry (weights, quota, frameworks,
 * admitted agents), tells the admitted agents that it leads, and gives them the agent
 * reregistration timeout to come back with their tasks (tasks are learned again from the
 * agents, as in Mesos). Agents still missing then are marked unreachable. Frameworks come
 * back disconnected; their failover timeout starts when that window closes, so a scheduler
 * always has at least the window to resubscribe with its framework id.
 */
import { create } from "@bufbuild/protobuf";
import { LeadingMasterSchema } from "../../gen/dcos/v1/internal_pb.js";
import { Pid } from "../../runtime/pid.js";
import { AgentState } from "./agent-record.js";
import type { MasterState } from "./master-state.js";
import { FrameworkRecord, FrameworkState } from "./framework-record.js";
import { startFailover } from "./framework-subscription.js";
import { evaluateMaintenance } from "./maintenance.js";
import { allocatorQuotas } from "./quota.js";
import { answerPending } from "./reconciliation.js";
import { markAgentReachable, markAgentUnreachable } from "./agent-changes.js";
import { PACING_DEFAULTS, ReregistrationPacer, type PacedAgent } from "./reregistration-pacing.js";

export function recoverRegistry(core: MasterState, term: number, agentReregisterTimeoutMs: number): void {
  const registry = core.registrar.state();
  if (registry.weights.size > 0) core.allocator.updateWeights(registry.weights);
  if (registry.quotas.size > 0) core.allocator.updateQuota(allocatorQuotas(registry.quotas));
  evaluateMaintenance(core);
  for (const [id, info] of registry.frameworks) {
    const f = new FrameworkRecord(id, info, FrameworkState.DISCONNECTED);
    core.frameworks.set(id, f);
    core.allocator.addFramework(id, { roles: info.roles, active: false }, new Map());
    f.failoverTimer = core.host.delay(agentReregisterTimeoutMs, () => {
      f.failoverTimer = undefined;
      if (f.state === FrameworkState.DISCONNECTED) startFailover(core, f);
    });
  }
  // The completed-task history of the earlier terms (the registry keeps as many as the master shows).
  for (const t of registry.completedTasks) core.completedTasks.add(t);
  const expected = [...registry.agents.keys()];
  for (const id of expected) core.recovering.add(id);
  core.awaitedBack.agents.clear();
  for (const id of expected) core.awaitedBack.agents.add(id);
  core.awaitedBack.since = core.now();
  announce(core, term);
  core.log.info(
    { term, agents: expected.length, unreachable: registry.unreachable.size, frameworks: registry.frameworks.size, timeoutMs: agentReregisterTimeoutMs },
    `Recovered the registry in term ${term}: waiting up to ${agentReregisterTimeoutMs} ms for ${expected.length} agents to reregister`,
  );
  core.host.delay(agentReregisterTimeoutMs, () => markMissingUnreachable(core, expected));
}

/**
 * Tells every agent the registry knows (reachable or not) that this master leads now, in
 * waves that follow how fast it takes them back (reregistration-pacing.ts; each agent
 * reregisters as soon as it hears: reregister_within_ms is 0, and retries no sooner than the
 * leader's patience: retry_after_ms), with one line at info once
 * the last wave is answered.
 */
function announce(core: MasterState, term: number): void {
  const registry = core.registrar.state();
  const infos = [...registry.agents.values(), ...[...registry.unreachable.values()].map((u) => u.info)];
  const agents: PacedAgent[] = [];
  for (const info of infos) {
    const pid = Pid.tryParse(info.pid);
    if (pid) agents.push({ id: info.id?.value ?? "", pid });
    else core.log.warn({ agent: info.id?.value, pid: info.pid }, `Cannot announce leadership to agent ${info.id?.value}: bad pid '${info.pid}'`);
  }
  const o = core.options;
  const pacer = new ReregistrationPacer(
    agents,
    {
      now: () => core.now(),
      delay: (ms, fn) => core.host.delay(ms, fn),
      // With the leader's patience now: the agent's first retry waits that long (its answer may take that long).
      announce: (pid) => core.host.send(pid, create(LeadingMasterSchema, { pid: core.host.self.toString(), term: BigInt(term), retryAfterMs: Math.round(pacer.patience()) })),
      lagMs: o.loopLag,
      finished: (s) =>
        core.log.info(
          { term, ...s, window: o.agentReregistrationWindow, ratePerS: o.agentReregistrationRate },
          `Announced term ${term} to ${s.announced} agents in ${s.ms} ms (at most ${s.peakOutstanding} waiting at once, window ${o.agentReregistrationWindow}; held ${s.held} times while the event loop ran late; ${s.expired} not back within their patience (${PACING_DEFAULTS.patienceMs} ms, or 3 x the answers' average, ${s.answerMs} ms at the end); ${s.skipped} came back before theirs)`,
        ),
    },
    { ...PACING_DEFAULTS, window: o.agentReregistrationWindow, ratePerS: o.agentReregistrationRate },
  );
  core.reregistrationPacer = pacer;
  pacer.start();
}

function reregistered(core: MasterState, agentId: string): boolean {
  const state = core.agents.get(agentId)?.state;
  return state === AgentState.ACTIVE || state === AgentState.ADMITTING;
}

/**
 * An agent the registry held when this term began is back. Each such agent logs at debug
 * (thousands come back after a failover); the last of them gets one line at info, so an
 * operator sees when the whole cluster has returned to the new leader.
 */
export function noteReregistered(core: MasterState, agentId: string): void {
  core.reregistrationPacer?.back(agentId);
  const awaited = core.awaitedBack.agents;
  if (!awaited.delete(agentId) || awaited.size > 0) return;
  const ms = core.now() - core.awaitedBack.since;
  core.log.info({ ms }, `Every agent the registry held when this term began has reregistered (${ms} ms after it began)`);
}

/** The reregistration window closed: admitted agents that did not come back are unreachable. */
function markMissingUnreachable(core: MasterState, expected: readonly string[]): void {
  const missing = expected.filter((id) => !reregistered(core, id) && core.registrar.state().agents.has(id));
  core.awaitedBack.agents.clear();
  core.log.info({ missing: missing.length, expected: expected.length }, `Agent reregistration window closed: ${missing.length} of ${expected.length} agents did not come back`);
  // One Raft entry per batch of them (agent-changes.ts), not one per agent.
  for (const agentId of missing) {
    markAgentUnreachable(
      core,
      agentId,
      core.now(),
      () => {
        const back = core.agents.get(agentId);
        if (back && reregistered(core, agentId)) {
          // It came back while the mark was being written: the registry follows the agent.
          markAgentReachable(core, agentId, back.info, () => undefined, () => undefined);
          return;
        }
        core.metrics.agentsUnreachableCompleted.inc();
        core.changed();
        core.log.warn({ agent: agentId }, `Agent ${agentId} did not reregister after the master failover; marked unreachable`);
        answerPending(core, agentId);
      },
      () => undefined,
    );
  }
}
