import { create, type Message } from "@bufbuild/protobuf";
import { ProbeSchema, type Probe } from "../../src/gen/dcos/v1/runtime_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import type { PeerIdentity } from "../../src/runtime/identity.js";
import type { Pid } from "../../src/runtime/pid.js";

/** Test actor: records every Probe it receives (address = sender tag, sequence = n) and every exit. */
export class Recorder extends Actor {
  readonly received: { from: string; seq: number; tag: string }[] = [];
  /** Who each received Probe came from, as its connection was authenticated. */
  readonly senders: PeerIdentity[] = [];
  readonly exits: string[] = [];
  initialized = false;
  finalized = false;

  constructor(name: string) {
    super(name);
    this.install(ProbeSchema, (m, from) => {
      this.received.push({ from: from.toString(), seq: Number(m.sequence), tag: m.address });
      this.senders.push(this.sender);
    });
  }

  override initialize(): void {
    this.initialized = true;
  }

  override finalize(): void {
    this.finalized = true;
  }

  override exited(pid: Pid): void {
    this.exits.push(pid.toString());
  }

  watch(pid: Pid): void {
    this.link(pid);
  }

  tell(to: Pid, message: Message): void {
    this.send(to, message);
  }

  seqs(): number[] {
    return this.received.map((r) => r.seq);
  }
}

export function probe(seq: number, tag = ""): Probe {
  return create(ProbeSchema, { sequence: BigInt(seq), address: tag });
}
