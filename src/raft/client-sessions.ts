import { RaftStateMachineSnapshotSchema } from "../gen/dcos/v1/raft_pb.js";
import { Code, DcosError, asDcosError } from "../runtime/error.js";
import { WireReader } from "../runtime/frame-codec.js";
import { bytesFieldSize, tag, varintFieldSize, writeBytesField, writeVarintField } from "./proto-writer.js";
import { joinPieces, lengthDelimited, onePiece, repeatedField } from "./snapshot-pieces.js";
import { decodeInSteps, runSteps } from "./decode-steps.js";
import type { RestoreSteps, SnapshotPieces, StateMachine } from "./state-machine.js";

/** How many recent results are kept per client (proposals a client may have in flight). */
export const SESSION_WINDOW = 256;

/** The outcome of applying one entry: the machine's result, or its error. */
export type ApplyResult = { ok: true; value: Uint8Array } | { ok: false; error: DcosError };

/**
 * The applied side of exactly-once proposals (Raft dissertation, 6.3): a user machine
 * wrapped with a table of client sessions. Each proposal carries (client, sequence); the
 * results of a client's last SESSION_WINDOW sequences are kept, so a retried proposal that
 * was already applied returns the recorded result instead of applying again. The table is
 * part of the snapshot, and depends only on the applied entries (deterministic).
 */
export class ClientSessions<M extends StateMachine> {
  /** client → (sequence → result), in the order applied. */
  private sessions = new Map<string, Map<number, Uint8Array>>();
  duplicates = 0;

  constructor(readonly machine: M) {}

  /** Applies the data of a NORMAL entry (an encoded RaftProposal). */
  apply(data: Uint8Array, index: number): ApplyResult {
    let proposal: Proposal;
    try {
      proposal = decodeProposal(data);
    } catch (e) {
      return { ok: false, error: new DcosError(Code.INVALID_ARGUMENT, `Entry ${index} is not a proposal: ${asDcosError(e).message}`) };
    }
    const seq = proposal.sequence;
    let session = this.sessions.get(proposal.client);
    if (session) {
      const previous = session.get(seq);
      if (previous) {
        this.duplicates++;
        return { ok: true, value: previous };
      }
      if (session.size >= SESSION_WINDOW && seq < lowest(session)) {
        return {
          ok: false,
          error: new DcosError(Code.FAILED_PRECONDITION, `Proposal ${proposal.client}#${seq} is too old to tell whether it was applied; not applied again`),
        };
      }
    } else {
      session = new Map();
      this.sessions.set(proposal.client, session);
    }
    let result: ApplyResult;
    try {
      result = { ok: true, value: this.machine.apply(proposal.command, index) };
    } catch (e) {
      result = { ok: false, error: asDcosError(e, Code.INVALID_ARGUMENT, `Command ${proposal.client}#${seq} failed`) };
    }
    session.set(seq, result.ok ? result.value : new Uint8Array(0));
    if (session.size > SESSION_WINDOW) session.delete(lowest(session));
    return result;
  }

  snapshot(): Uint8Array {
    return joinPieces(this.snapshotPieces());
  }

  /**
   * The snapshot as of now in pieces (StateMachine.snapshotPieces): the session table is
   * copied (its results are never changed in place) and the machine's own view captured
   * now (or its whole snapshot() taken now, if it has no pieces); the encoding follows.
   */
  snapshotPieces(): SnapshotPieces {
    const sessions: [string, number, Uint8Array][] = [];
    for (const [client, results] of this.sessions) for (const [sequence, result] of results) sessions.push([client, sequence, result]);
    const state = this.machine.snapshotPieces?.() ?? onePiece(this.machine.snapshot());
    return encodeSessions(sessions, state);
  }

  restore(data: Uint8Array): void {
    runSteps(this.restoreSteps(data));
  }

  /**
   * The restore in steps (StateMachine.restoreSteps): the table decoded a run of fields at
   * a time, then the machine's own steps (or its restore() in one); the table and the
   * machine's state are replaced in the last step.
   */
  *restoreSteps(data: Uint8Array): RestoreSteps {
    const snap = yield* decodeInSteps(RaftStateMachineSnapshotSchema, data);
    const sessions = new Map<string, Map<number, Uint8Array>>();
    for (const s of snap.sessions) {
      let results = sessions.get(s.client);
      if (!results) sessions.set(s.client, (results = new Map()));
      results.set(Number(s.sequence), s.result);
    }
    const steps = this.machine.restoreSteps?.(snap.state);
    if (steps) yield* steps;
    else {
      yield;
      this.machine.restore(snap.state);
    }
    this.sessions = sessions;
  }
}

/** A RaftStateMachineSnapshot: the sessions (field 1) a slice at a time, then the machine's state (field 2). */
function* encodeSessions(sessions: readonly [string, number, Uint8Array][], state: SnapshotPieces): SnapshotPieces {
  yield* repeatedField(RaftStateMachineSnapshotSchema, sessions, (slice) => ({
    sessions: slice.map(([client, sequence, result]) => ({ client, sequence: BigInt(sequence), result })),
  }));
  yield* lengthDelimited(2, state);
}

/** The oldest sequence kept: the first inserted (a client's sequences are applied in order). */
function lowest(session: Map<number, Uint8Array>): number {
  return session.keys().next().value ?? 0;
}

/** A decoded RaftProposal (sequence as a number). */
export interface Proposal {
  client: string;
  sequence: number;
  command: Uint8Array;
}

/** The UTF-8 bytes of the last client id encoded (a member proposes for one client id mostly). */
let lastClient = { text: "", bytes: new Uint8Array(0) };

/** Encodes a command for proposal (a RaftProposal, by hand: it is on every proposal's path). */
export function encodeProposal(client: string, sequence: number, command: Uint8Array): Uint8Array {
  if (lastClient.text !== client) lastClient = { text: client, bytes: new TextEncoder().encode(client) };
  const id = lastClient.bytes;
  const out = new Uint8Array(bytesFieldSize(id.length) + varintFieldSize(sequence) + bytesFieldSize(command.length));
  let pos = writeBytesField(out, 0, tag.bytes(1), id);
  pos = writeVarintField(out, pos, tag.varint(2), sequence);
  writeBytesField(out, pos, tag.bytes(3), command);
  return out;
}

/** Decodes a RaftProposal by hand (every applied entry goes through here); throws on malformed bytes. */
export function decodeProposal(data: Uint8Array): Proposal {
  const r = WireReader.of(data);
  const p: Proposal = { client: "", sequence: 0, command: new Uint8Array(0) };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      p.client = r.buf.toString("utf8", s, e);
    } else if (field === 2 && wire === 0) {
      p.sequence = r.varint();
    } else if (field === 3 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      p.command = r.buf.subarray(s, e);
    } else {
      r.skip(wire);
    }
  }
  return p;
}
