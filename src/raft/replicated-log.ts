import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ReplicatedLogCommandSchema,
  ReplicatedLogRecordSchema,
  ReplicatedLogStateSchema,
  type ReplicatedLogRecord,
} from "../gen/dcos/v1/raft_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import { Facade } from "../runtime/facade.js";
import type { RaftNode } from "./raft-node.js";
import type { ProposalId, StateMachine } from "./state-machine.js";

/**
 * The state machine of the replicated log for frameworks: records at positions 0, 1, 2…
 * (assigned when an append is applied), of which those before `begin` were truncated.
 */
export class ReplicatedLogMachine implements StateMachine {
  private begin = 0;
  private records: Uint8Array[] = [];

  get next(): number {
    return this.begin + this.records.length;
  }

  get first(): number {
    return this.begin;
  }

  apply(command: Uint8Array): Uint8Array {
    const cmd = fromBinary(ReplicatedLogCommandSchema, command);
    switch (cmd.command.case) {
      case "append": {
        const position = this.next;
        this.records.push(cmd.command.value.data.slice());
        return toBinary(ReplicatedLogRecordSchema, create(ReplicatedLogRecordSchema, { position: BigInt(position) }));
      }
      case "truncate": {
        const before = Number(cmd.command.value.before);
        if (before > this.next) {
          throw new DcosError(Code.OUT_OF_RANGE, `Cannot truncate before position ${before}: the log ends at ${this.next}`);
        }
        if (before > this.begin) {
          this.records = this.records.slice(before - this.begin);
          this.begin = before;
        }
        return new Uint8Array(0);
      }
      case undefined:
        throw new DcosError(Code.INVALID_ARGUMENT, "Replicated log command is empty");
    }
  }

  /** Records at positions [from, to) that exist; OUT_OF_RANGE if `from` was truncated. */
  read(from: number, to: number): ReplicatedLogRecord[] {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid range [${from}, ${to}): need 0 <= from <= to`);
    }
    if (from < this.begin) {
      throw new DcosError(Code.OUT_OF_RANGE, `Position ${from} was truncated: the log begins at ${this.begin}`, {
        details: { begin: String(this.begin) },
      });
    }
    const out: ReplicatedLogRecord[] = [];
    for (let p = from; p < Math.min(to, this.next); p++) {
      out.push(create(ReplicatedLogRecordSchema, { position: BigInt(p), data: this.records[p - this.begin]! }));
    }
    return out;
  }

  snapshot(): Uint8Array {
    return toBinary(
      ReplicatedLogStateSchema,
      create(ReplicatedLogStateSchema, { nextPosition: BigInt(this.next), begin: BigInt(this.begin), records: this.read(this.begin, this.next) }),
    );
  }

  restore(state: Uint8Array): void {
    const s = fromBinary(ReplicatedLogStateSchema, state);
    this.begin = Number(s.begin);
    this.records = s.records.map((r) => r.data);
    if (this.next !== Number(s.nextPosition)) {
      throw new DcosError(Code.DATA_LOSS, `Replicated log snapshot is inconsistent: ${s.records.length} records from ${this.begin} but next position ${s.nextPosition}`);
    }
  }
}

/**
 * The replicated log frameworks use (a facade over the raft actor): append returns the
 * record's position once it is committed and applied; read is linearizable (ReadIndex);
 * truncate forgets the records before a position. Errors are those of
 * ReplicatedStateMachine.propose (not leader, lost in a leadership change).
 */
export class ReplicatedLog extends Facade<RaftNode<ReplicatedLogMachine>> {
  async append(data: Uint8Array, id?: ProposalId): Promise<number> {
    const command = toBinary(ReplicatedLogCommandSchema, create(ReplicatedLogCommandSchema, { command: { case: "append", value: { data } } }));
    const result = await this.call((node) => node.propose(command, id));
    return Number(fromBinary(ReplicatedLogRecordSchema, result).position);
  }

  read(from: number, to: number): Promise<ReplicatedLogRecord[]> {
    return this.call((node) => node.read((log) => log.read(from, to)));
  }

  async truncate(before: number, id?: ProposalId): Promise<void> {
    const command = toBinary(
      ReplicatedLogCommandSchema,
      create(ReplicatedLogCommandSchema, { command: { case: "truncate", value: { before: BigInt(before) } } }),
    );
    await this.call((node) => node.propose(command, id));
  }

  /** [first, next): the positions that can be read. */
  bounds(): Promise<{ first: number; next: number }> {
    return this.call((node) => node.read((log) => ({ first: log.first, next: log.next })));
  }
}
