/**
 * Agents marked reachable (back from unreachable, or reregistering with changed info: a new
 * pid after a restart) and agents marked unreachable (missed pings, or not back when a new
 * leader's reregistration window closed), written with the others of the same turn as one
 * Raft entry (`markAgents`, turn-batch.ts) instead of one entry each. A single change is
 * written as the operation it always was.
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { MasterState } from "./master-state.js";
import { perTerm, TurnBatch } from "./turn-batch.js";

type Change = { agentId: string; info: AgentInfo; unreachableAtMs?: undefined } | { agentId: string; unreachableAtMs: number; info?: undefined };

const changes = perTerm(
  (core) =>
    new TurnBatch<Change>(
      core,
      (items) => {
        const one = items.length === 1 ? items[0]! : undefined;
        if (one?.info) return { kind: "markAgentReachable", agentId: one.agentId, info: one.info };
        if (one?.unreachableAtMs !== undefined) return { kind: "markAgentUnreachable", agentId: one.agentId, unreachableAtMs: one.unreachableAtMs };
        return {
          kind: "markAgents",
          reachable: items.flatMap((c) => (c.info ? [{ agentId: c.agentId, info: c.info }] : [])),
          unreachable: items.flatMap((c) => (c.unreachableAtMs !== undefined ? [{ agentId: c.agentId, unreachableAtMs: c.unreachableAtMs }] : [])),
        };
      },
      (n) => core.metrics.agentChangesPerEntry.observe(n),
    ),
);

/** Marks the agent reachable with `info` (registry entry shared with this turn's other changes). */
export function markAgentReachable(core: MasterState, agentId: string, info: AgentInfo, then: () => void, onError: (err: unknown) => void): void {
  changes(core).add({ agentId, info }, then, onError);
}

/** Marks the admitted agent unreachable as of `unreachableAtMs` (registry entry shared with this turn's other changes). */
export function markAgentUnreachable(core: MasterState, agentId: string, unreachableAtMs: number, then: () => void, onError: (err: unknown) => void): void {
  changes(core).add({ agentId, unreachableAtMs }, then, onError);
}
