import { create } from "@bufbuild/protobuf";
import { RaftEntryType, type RaftEntry, type RaftMessage } from "../../../src/gen/dcos/v1/raft_pb.js";
import { MemoryStorage } from "../../../src/raft/core/log-storage.js";
import { Raft, type RaftConfig } from "../../../src/raft/core/raft.js";
import type { Ready, ReadState } from "../../../src/raft/core/ready.js";
import { Random } from "../../../src/runtime/random.js";

/** A state machine for tests: the applied commands in order, snapshotted as JSON. */
export class AppliedLog {
  entries: { index: number; term: number; data: string }[] = [];
  /** The index the state machine has reached (also the snapshot's index). */
  index = 0;

  apply(e: RaftEntry): void {
    this.index = Number(e.index);
    if (e.type === RaftEntryType.NORMAL) this.entries.push({ index: this.index, term: Number(e.term), data: new TextDecoder().decode(e.data) });
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ index: this.index, entries: this.entries }));
  }

  restore(data: Uint8Array): void {
    const s = JSON.parse(new TextDecoder().decode(data)) as { index: number; entries: AppliedLog["entries"] };
    this.index = s.index;
    this.entries = s.entries;
  }

  data(): string[] {
    return this.entries.map((e) => e.data);
  }
}

export interface NodeOptions extends Partial<Omit<RaftConfig, "id" | "storage" | "random">> {
  seed?: number;
}

/**
 * One member driven like the raft actor drives it: ready → persist (MemoryStorage is the
 * "disk") → send → apply → advance. A crash loses the core and the state machine but keeps
 * the storage; restart rebuilds both from it.
 */
export class TestNode {
  raft: Raft;
  sm = new AppliedLog();
  readStates: ReadState[] = [];
  alive = true;
  /** Every NORMAL entry applied, over all incarnations (for exactly-once checks). */
  readonly lifetimeApplied: { index: number; term: number; data: string; incarnation: number }[] = [];
  incarnation = 0;
  /** Called for each entry applied (after the state machine applied it). */
  onApply: ((e: RaftEntry) => void) | undefined;
  private readonly random: Random;

  constructor(
    readonly id: string,
    readonly storage: MemoryStorage,
    private readonly options: NodeOptions,
  ) {
    this.random = new Random(options.seed ?? 1);
    this.raft = this.create();
  }

  private create(): Raft {
    const snap = this.storage.snapshot();
    if (snap.metadata && snap.metadata.index > 0n) this.sm.restore(snap.data);
    return new Raft({ ...this.options, id: this.id, storage: this.storage, random: this.random.fork(), applied: this.sm.index || undefined });
  }

  /** Takes the next Ready, if any (the write starts). */
  takeReady(): Ready | undefined {
    return this.raft.hasReady() ? this.raft.ready() : undefined;
  }

  /** The write of `rd` is durable: persist, apply, advance; returns the messages to send. */
  completeReady(rd: Ready): RaftMessage[] {
    const messages = this.persistReady(rd);
    this.applyReady(rd);
    return messages;
  }

  /** The write of `rd` reaches the disk (the "disk" is the storage); returns its messages. */
  persistReady(rd: Ready): RaftMessage[] {
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    return rd.messages;
  }

  /** After persistReady (and sending): restore, apply, serve reads, advance. */
  applyReady(rd: Ready): void {
    if (rd.snapshot) this.sm.restore(rd.snapshot.data);
    for (const e of rd.committedEntries) {
      this.sm.apply(e);
      if (e.type === RaftEntryType.NORMAL) {
        this.lifetimeApplied.push({ index: Number(e.index), term: Number(e.term), data: new TextDecoder().decode(e.data), incarnation: this.incarnation });
      }
      this.onApply?.(e);
    }
    for (const r of rd.readStates) this.readStates.push(r);
    this.raft.advance(rd);
  }

  /** Snapshots the state machine at its applied index and drops the log up to `keep` entries before it. */
  compact(keep: number): void {
    const index = this.sm.index;
    if (index <= Number(this.storage.snapshot().metadata?.index ?? 0n)) return;
    this.storage.createSnapshot(index, this.raft.membershipAt(index).toProto(), this.sm.snapshot());
    const to = index - keep;
    if (to >= this.storage.firstIndex()) this.storage.compact(to);
  }

  crash(): void {
    this.alive = false;
  }

  /** The write of `rd` was cut short by a crash: only a prefix of its entries reached the disk. */
  tornWrite(rd: Ready, entries: number): void {
    this.storage.append(rd.entries.slice(0, entries));
  }

  restart(): void {
    this.sm = new AppliedLog();
    this.readStates = [];
    this.incarnation++;
    this.raft = this.create();
    this.alive = true;
  }
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export { create };
