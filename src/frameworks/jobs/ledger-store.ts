/**
 * The jobs ledger as the framework kit's fenced state store holds it: the store's state is
 * the JobsLedger, its ops are ledger records, and a snapshot is one op per job. The
 * engine's LedgerLog writes through the store and reads each record's verdict.
 */
import type { FencedStateStore, StateMachine } from "../common/state-store.js";
import type { LedgerLog } from "./engine.js";
import { JobsLedger, type LedgerSnapshot } from "./ledger.js";
import type { LedgerRecord } from "./records.js";

export type JobsOp = LedgerRecord | { type: "snapshot-job"; job: LedgerSnapshot["jobs"][number] } | { type: "snapshot-applied"; applied: number };

/** Verdicts of the records being applied, collected for the write that wrote them. */
const collectors = new WeakMap<JobsLedger, (why: string | undefined) => void>();

export const jobsMachine: StateMachine<JobsLedger, JobsOp> = {
  empty: () => new JobsLedger(),
  apply(state, op) {
    if (op.type === "snapshot-job") return state.restoreJob(op.job);
    if (op.type === "snapshot-applied") {
      state.applied = op.applied;
      return;
    }
    const why = state.apply(op);
    collectors.get(state)?.(why);
  },
  snapshot(state) {
    const s = state.toJSON();
    return [{ type: "snapshot-applied", applied: s.applied }, ...s.jobs.map((job) => ({ type: "snapshot-job" as const, job }))];
  },
};

/** The engine's view of the store (the store is opened, and replayed, by the kit's runner). */
export function storeLedgerLog(store: FencedStateStore<JobsLedger, JobsOp>): LedgerLog {
  return {
    load: async () => store.state,
    write: async (records) => {
      const verdicts: (string | undefined)[] = [];
      collectors.set(store.state, (why) => verdicts.push(why));
      try {
        await store.write([...records]);
      } finally {
        collectors.delete(store.state);
      }
      return records.map((_, i) => verdicts[i]);
    },
  };
}
