/**
 * The registry replicated by Raft. Every master runs a RegistryMachine under its raft
 * actor; the leading master writes through a RaftRegistrar bound to the term it was
 * elected in. Entries are term-fenced: a newly elected master first commits an `elected`
 * entry for its term, and from then on every operation proposed for an older term is
 * refused on every member alike, so a deposed master can never change the registry.
 */
import type { MasterInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { RegistrySnapshotSchema, type RegistrySnapshot } from "../../gen/dcos/v1/registry_pb.js";
import { decodeInSteps, runSteps } from "../../raft/decode-steps.js";
import type { FrameworkLogCommand } from "../../gen/dcos/v1/replicated_log_pb.js";
import type { FrameworkLogHost } from "../../raft/log-service.js";
import { FrameworkLogs, decodeLogResult, encodeLogResult } from "../../raft/framework-logs.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { ReplicatedStateMachine } from "../../raft/replicated-state-machine.js";
import { chain, joinPieces } from "../../raft/snapshot-pieces.js";
import type { RestoreSteps, SnapshotPieces, StateMachine } from "../../raft/state-machine.js";
import { decodeCommand, encodeFrameworkLogCommand, encodeOperation, registryOf, registryPieces, registryView } from "./registry-codec.js";
import { applyOperation, emptyRegistry, type Registrar, type RegistryOperation, type RegistryState } from "./registry.js";

const EMPTY = new Uint8Array(0);

/** The registry as a deterministic Raft state machine (apply depends on the entry only). */
export class RegistryMachine implements StateMachine {
  private state = emptyRegistry();
  /** The term of the last master elected (0 before the first election). */
  leaderTerm = 0;
  leader: MasterInfo | undefined;
  /** The frameworks' replicated logs (dcos.v1.ReplicatedLogService), kept in the same snapshot. */
  readonly logs = new FrameworkLogs();

  get registry(): RegistryState {
    return this.state;
  }

  apply(command: Uint8Array): Uint8Array {
    const c = decodeCommand(command);
    if ("frameworkLog" in c) return encodeLogResult(this.logs.apply(c.frameworkLog));
    if ("elected" in c) {
      if (c.term < this.leaderTerm) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Refusing the election of a master in term ${c.term}: the master of term ${this.leaderTerm} was elected since`);
      }
      this.leaderTerm = c.term;
      this.leader = c.elected;
      return EMPTY;
    }
    if (c.term !== this.leaderTerm) {
      throw new DcosError(
        Code.FAILED_PRECONDITION,
        `Refusing registry operation ${c.op.kind} of the master of term ${c.term}: the master of term ${this.leaderTerm} leads`,
        { details: { reason: "fenced", term: String(this.leaderTerm) } },
      );
    }
    applyOperation(this.state, c.op, true); // decoded from the entry just now: the registry owns its messages
    return EMPTY;
  }

  snapshot(): Uint8Array {
    return joinPieces(this.snapshotPieces());
  }

  /**
   * The registry and then the frameworks' logs (concatenated protobuf messages merge: the
   * repeated framework_logs join the registry's), from views captured now.
   */
  snapshotPieces(): SnapshotPieces {
    return chain(registryPieces(registryView(this.state, this.leaderTerm, this.leader)), this.logs.snapshotPieces());
  }

  restore(bytes: Uint8Array): void {
    runSteps(this.restoreSteps(bytes));
  }

  /** The snapshot decoded a run of fields per step (decodeInSteps), then the registry and the logs replaced in one. */
  *restoreSteps(bytes: Uint8Array): RestoreSteps {
    let s: RegistrySnapshot;
    try {
      s = yield* decodeInSteps(RegistrySnapshotSchema, bytes);
    } catch (err) {
      throw new DcosError(Code.DATA_LOSS, `Cannot decode the registry snapshot: ${(err as Error).message}`, { cause: err });
    }
    const r = registryOf(s);
    this.state = r.state;
    this.leaderTerm = r.leaderTerm;
    this.leader = r.leader;
    this.logs.restore(s.frameworkLogs);
  }
}

/**
 * The leading master's registrar for one term: operations are proposed to Raft with the
 * term and resolve once applied; `state()` is the local replica (current on the leader).
 */
export class RaftRegistrar implements Registrar {
  constructor(
    private readonly raft: ReplicatedStateMachine<RegistryMachine>,
    private readonly machine: RegistryMachine,
    readonly term: number,
  ) {}

  async apply(op: RegistryOperation): Promise<void> {
    await this.raft.propose(encodeOperation(op, this.term));
  }

  state(): RegistryState {
    return this.machine.registry;
  }
}

/** The frameworks' replicated logs on the masters' Raft group (for dcos.v1.ReplicatedLogService). */
export function frameworkLogHost(raft: ReplicatedStateMachine<RegistryMachine>): FrameworkLogHost {
  return {
    propose: async (cmd: FrameworkLogCommand) => decodeLogResult(await raft.propose(encodeFrameworkLogCommand(cmd))),
    read: (fn) => raft.read((machine) => fn(machine.logs)),
  };
}
