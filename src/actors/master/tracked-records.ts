/**
 * The master's agents and frameworks maps: putting a record in attaches the master's
 * MasterCounts to it (the record then reports its own changes) and counts it; taking it
 * out uncounts and detaches it. So no code that adds or removes records has to remember
 * the gauges.
 */
import type { AgentRecord, AgentRecordWatcher } from "./agent-record.js";
import type { MasterCounts } from "./counts.js";
import type { FrameworkRecord, FrameworkRecordWatcher } from "./framework-record.js";

interface Tracked {
  counts: AgentRecordWatcher | FrameworkRecordWatcher | undefined;
}

abstract class TrackedMap<R extends Tracked> extends Map<string, R> {
  constructor(protected readonly counts: MasterCounts) {
    super();
  }

  protected abstract count(record: R, sign: 1 | -1): void;

  override set(key: string, record: R): this {
    const old = this.get(key);
    if (old === record) return this;
    if (old) this.untrack(old);
    super.set(key, record);
    record.counts = this.counts;
    this.count(record, 1);
    return this;
  }

  override delete(key: string): boolean {
    const old = this.get(key);
    if (old) this.untrack(old);
    return super.delete(key);
  }

  override clear(): void {
    for (const key of [...this.keys()]) this.delete(key);
  }

  private untrack(record: R): void {
    this.count(record, -1);
    record.counts = undefined;
  }
}

export class TrackedAgents extends TrackedMap<AgentRecord> {
  protected count(record: AgentRecord, sign: 1 | -1): void {
    this.counts.agent(record, sign);
  }
}

export class TrackedFrameworks extends TrackedMap<FrameworkRecord> {
  protected count(record: FrameworkRecord, sign: 1 | -1): void {
    this.counts.framework(record.state, sign);
  }
}
