/**
 * Registry writes the leading master decides within one turn of its mailbox, proposed as
 * one Raft entry instead of one entry each: admissions (admission-batch.ts) and agents
 * marked reachable or unreachable (agent-changes.ts). Storms of them come together (10,000
 * agents registering at once; after a failover the changed agents' reregistrations, or every
 * agent that did not come back when the reregistration window closes): one proposal, one
 * AppendEntries round, one apply per batch. The batch is proposed from a 0 ms timer, so
 * every message already queued in the mailbox joins it; at most MAX_CHANGES_PER_ENTRY items
 * go in one entry (an entry stays well under the Raft entry size limit), and an item about
 * an agent already in the batch starts a new one (an entry names each agent once). The entry
 * is all or none: if it fails, every item's onError runs.
 */
import type { Timer } from "../../runtime/clock.js";
import type { MasterState } from "./master-state.js";
import type { RegistryOperation } from "./registry.js";

export const MAX_CHANGES_PER_ENTRY = 500;

interface Pending<T> {
  item: T;
  then: () => void;
  onError: (err: unknown) => void;
}

export class TurnBatch<T extends { agentId: string }> {
  private pending: Pending<T>[] = [];
  private readonly agents = new Set<string>();
  private timer: Timer | undefined;

  constructor(
    private readonly core: MasterState,
    /** The entry for the items of one batch (one item: the single operation it always was). */
    private readonly entry: (items: T[]) => RegistryOperation,
    /** Told each batch's size as it is proposed (a metric). */
    private readonly proposed?: (items: number) => void,
  ) {}

  /** Writes the item with the others of this turn; `then` runs once the entry committed. */
  add(item: T, then: () => void, onError: (err: unknown) => void): void {
    if (this.agents.has(item.agentId)) this.propose();
    this.pending.push({ item, then, onError });
    this.agents.add(item.agentId);
    if (this.pending.length >= MAX_CHANGES_PER_ENTRY) this.propose();
    else
      this.timer ??= this.core.host.delay(0, () => {
        this.timer = undefined;
        this.propose();
      });
  }

  private propose(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.agents.clear();
    if (batch.length === 0) return;
    this.proposed?.(batch.length);
    this.core.persist(
      this.entry(batch.map((p) => p.item)),
      () => {
        for (const p of batch) p.then();
      },
      (err) => {
        for (const p of batch) p.onError(err);
      },
    );
  }
}

/** One TurnBatch of a kind per master term (MasterState). */
export function perTerm<T extends { agentId: string }>(make: (core: MasterState) => TurnBatch<T>): (core: MasterState) => TurnBatch<T> {
  const batches = new WeakMap<MasterState, TurnBatch<T>>();
  return (core) => {
    let b = batches.get(core);
    if (!b) batches.set(core, (b = make(core)));
    return b;
  };
}
