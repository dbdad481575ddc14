/**
 * Registration storms: the admissions the leading master decides within one turn of its
 * mailbox go to the registry as one Raft entry (`admitAgents`), not one entry each
 * (turn-batch.ts). 10,000 agents registering at once cost tens of entries instead of 10,000.
 * The entry is all or none: if it fails, every agent of it is forgotten and registers again.
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { MasterState } from "./master-state.js";
import { perTerm, TurnBatch } from "./turn-batch.js";

interface Admission {
  agentId: string;
  info: AgentInfo;
}

const admissions = perTerm(
  (core) =>
    new TurnBatch<Admission>(
      core,
      (items) => (items.length === 1 ? { kind: "admitAgent", agentId: items[0]!.agentId, info: items[0]!.info } : { kind: "admitAgents", agents: items }),
      (n) => core.metrics.admissionsPerEntry.observe(n),
    ),
);

/** Admits the agent through the registrar with the other admissions of this turn; `then` runs once committed. */
export function admitAgent(core: MasterState, agentId: string, info: AgentInfo, then: () => void, onError: (err: unknown) => void): void {
  admissions(core).add({ agentId, info }, then, onError);
}
