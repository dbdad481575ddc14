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
import { MAX_REREGISTER_SPREAD_MS } from "./options.js";

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
 * How long the registry's `agents` get to spread their first reregistration over: as many
 * as the master plans to take per second (agentReregistrationRate), within
 * MAX_REREGISTER_SPREAD_MS; 0 (at once) when the rate is 0.
 */
export function reregisterSpreadMs(agents: number, ratePerS: number): number {
  if (!(ratePerS > 0) || agents <= 0) return 0;
  return Math.min(MAX_REREGISTER_SPREAD_MS, Math.ceil((agents / ratePerS) * 1000));
}

/**
 * Tells every agent the registry knows (reachable or not) that this master leads now, and
 * over how long to spread their reregistrations (reregisterSpreadMs).
 */
function announce(core: MasterState, term: number): void {
  const registry = core.registrar.state();
  const infos = [...registry.agents.values(), ...[...registry.unreachable.values()].map((u) => u.info)];
  const within = reregisterSpreadMs(infos.length, core.options.agentReregistrationRate);
  const message = create(LeadingMasterSchema, { pid: core.host.self.toString(), term: BigInt(term), reregisterWithinMs: within });
  for (const info of infos) {
    const pid = Pid.tryParse(info.pid);
    if (pid) core.host.send(pid, message);
    else core.log.warn({ agent: info.id?.value, pid: info.pid }, `Cannot announce leadership to agent ${info.id?.value}: bad pid '${info.pid}'`);
  }
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
