/**
 * Registration storms: the admissions the leading master decides within one turn of its
 * mailbox go to the registry as one Raft entry (`admitAgents`), not one entry each. 10,000
 * agents registering at once cost tens of entries instead of 10,000: one proposal, one
 * AppendEntries round, one apply per batch. The batch is proposed from a 0 ms timer, so every
 * RegisterAgent already queued in the mailbox joins it; at most MAX_ADMISSIONS_PER_ENTRY
 * agents go in one entry (an entry stays well under the Raft entry size limit). The entry
 * is all or none: if it fails, every agent of it is forgotten and registers again.
 */
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Timer } from "../../runtime/clock.js";
import type { MasterState } from "./master-state.js";
import type { RegistryOperation } from "./registry.js";

export const MAX_ADMISSIONS_PER_ENTRY = 500;

interface Admission {
  agentId: string;
  info: AgentInfo;
  then: () => void;
  onError: (err: unknown) => void;
}

interface Batch {
  pending: Admission[];
  timer: Timer | undefined;
}

const batches = new WeakMap<MasterState, Batch>();

/** Admits the agent through the registrar with the other admissions of this turn; `then` runs once committed. */
export function admitAgent(core: MasterState, agentId: string, info: AgentInfo, then: () => void, onError: (err: unknown) => void): void {
  let batch = batches.get(core);
  if (!batch) batches.set(core, (batch = { pending: [], timer: undefined }));
  batch.pending.push({ agentId, info, then, onError });
  if (batch.pending.length >= MAX_ADMISSIONS_PER_ENTRY) propose(core, batch);
  else if (!batch.timer) {
    const b = batch;
    b.timer = core.host.delay(0, () => {
      b.timer = undefined;
      propose(core, b);
    });
  }
}

function propose(core: MasterState, batch: Batch): void {
  batch.timer?.cancel();
  batch.timer = undefined;
  const admissions = batch.pending.splice(0);
  if (admissions.length === 0) return;
  const op: RegistryOperation =
    admissions.length === 1
      ? { kind: "admitAgent", agentId: admissions[0]!.agentId, info: admissions[0]!.info }
      : { kind: "admitAgents", agents: admissions.map(({ agentId, info }) => ({ agentId, info })) };
  core.metrics.admissionsPerEntry.observe(admissions.length);
  core.persist(
    op,
    () => {
      for (const a of admissions) a.then();
    },
    (err) => {
      for (const a of admissions) a.onError(err);
    },
  );
}
