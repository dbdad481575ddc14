import type { RaftEntry } from "../../../src/gen/dcos/v1/raft_pb.js";
import { RaftEntryType } from "../../../src/gen/dcos/v1/raft_pb.js";
import type { ReadState } from "../../../src/raft/core/ready.js";
import { DcosError } from "../../../src/runtime/error.js";
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from "../../support/linearizability.js";
import { bytes } from "../support/node.js";
import type { SimMember, Simulation, Workload } from "./simulation.js";

type Op = Operation<KvInput, KvOutput>;
type Command = KvInput & { id: number };

/** The key-value state machine: put, cas through the log; get is served locally after ReadIndex. */
export class KvStateMachine {
  readonly data = new Map<string, string>();

  apply(c: KvInput): KvOutput {
    const cur = this.data.get(c.key) ?? null;
    switch (c.op) {
      case "put":
        this.data.set(c.key, c.value);
        return true;
      case "cas":
        if (cur !== c.from) return false;
        this.data.set(c.key, c.to);
        return true;
      case "get":
        return cur;
    }
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }
}

interface PendingWrite {
  kind: "write";
  op: Op;
  id: number;
  member: string;
  index: number;
  term: number;
}

interface PendingRead {
  kind: "read";
  op: Op;
  ctx: string;
  member: string;
  /** Set when the read is confirmed: serve once applied >= index. */
  index?: number;
}

/**
 * Concurrent clients against a KV state machine on the group: writes are proposals
 * (answered when the proposing member applies them at their position), reads use
 * ReadIndex on the leader. The recorded history must be linearizable.
 */
export class KvWorkload implements Workload {
  readonly history: Op[] = [];
  private readonly machines = new Map<string, KvStateMachine>();
  private readonly slots: (PendingWrite | PendingRead | undefined)[];
  private nextId = 0;
  private nextClient = 0;
  private readonly clientOfSlot: number[];
  completed = { writes: 0, reads: 0, unknown: 0 };

  constructor(
    clients = 4,
    private readonly keys = ["a", "b"],
    private readonly rate = 0.1,
    private readonly timeoutMs = 400,
  ) {
    this.slots = new Array(clients).fill(undefined);
    this.clientOfSlot = Array.from({ length: clients }, () => this.nextClient++);
  }

  private machine(m: SimMember): KvStateMachine {
    let sm = this.machines.get(m.id);
    if (!sm) {
      sm = new KvStateMachine();
      this.machines.set(m.id, sm);
    }
    return sm;
  }

  step(sim: Simulation): void {
    for (let slot = 0; slot < this.slots.length; slot++) {
      const p = this.slots[slot];
      if (p) {
        if (sim.now - p.op.call > this.timeoutMs) this.giveUp(slot);
        continue;
      }
      if (!sim.rng.chance(this.rate)) continue;
      this.issue(sim, slot);
    }
  }

  private issue(sim: Simulation, slot: number): void {
    const target = sim.leader() ?? sim.rng.pick(sim.members);
    if (!target.alive) return;
    const key = sim.rng.pick(this.keys);
    const id = this.nextId++;
    const kind = sim.rng.int(3);
    const input: KvInput =
      kind === 0
        ? { op: "get", key }
        : kind === 1
          ? { op: "put", key, value: `v${id}` }
          : { op: "cas", key, from: sim.rng.chance(0.3) ? null : `v${sim.rng.int(id + 1)}`, to: `v${id}` };
    const op: Op = { client: this.clientOfSlot[slot]!, input, output: undefined, call: sim.now, ret: Infinity };
    try {
      if (input.op === "get") {
        const ctx = `r${id}`;
        target.node.raft.readIndex(ctx);
        this.slots[slot] = { kind: "read", op, ctx, member: target.id };
      } else {
        const command: Command = { ...input, id };
        const pos = target.node.raft.propose(bytes(JSON.stringify(command)));
        this.slots[slot] = { kind: "write", op, id, member: target.id, ...pos };
        this.history.push(op);
      }
    } catch (e) {
      if (!DcosError.is(e)) throw e; // refused (not leader, transfer): it never happened
    }
  }

  /** The client stops waiting: a write may or may not have happened; a read had no effect. */
  private giveUp(slot: number): void {
    const p = this.slots[slot];
    if (!p) return;
    if (p.kind === "write") this.completed.unknown++;
    this.slots[slot] = undefined;
    this.clientOfSlot[slot] = this.nextClient++;
  }

  private complete(slot: number, output: KvOutput, now: number): void {
    const p = this.slots[slot]!;
    p.op.output = output;
    p.op.ret = now;
    if (p.kind === "read") {
      this.history.push(p.op);
      this.completed.reads++;
    } else {
      this.completed.writes++;
    }
    this.slots[slot] = undefined;
  }

  onApply(sim: Simulation, member: SimMember, e: RaftEntry): void {
    if (e.type !== RaftEntryType.NORMAL) return this.serveReads(sim, member);
    const command = JSON.parse(new TextDecoder().decode(e.data)) as Command;
    const result = this.machine(member).apply(command);
    const index = Number(e.index);
    for (let slot = 0; slot < this.slots.length; slot++) {
      const p = this.slots[slot];
      if (!p || p.kind !== "write" || p.member !== member.id || p.index !== index) continue;
      if (p.term === Number(e.term)) {
        if (command.id !== p.id) throw new Error(`${member.id} applied command ${command.id} at the position of ${p.id}`);
        this.complete(slot, result, sim.now);
      } else {
        // Lost in a leadership change: it never happened.
        this.history.splice(this.history.indexOf(p.op), 1);
        this.slots[slot] = undefined;
      }
    }
    this.serveReads(sim, member);
  }

  onReadStates(sim: Simulation, member: SimMember, states: ReadState[]): void {
    for (const rs of states) {
      for (const p of this.slots) if (p?.kind === "read" && p.member === member.id && p.ctx === rs.ctx) p.index = rs.index;
    }
    this.serveReads(sim, member);
  }

  private serveReads(sim: Simulation, member: SimMember): void {
    const applied = member.node.sm.index;
    for (let slot = 0; slot < this.slots.length; slot++) {
      const p = this.slots[slot];
      if (p?.kind !== "read" || p.member !== member.id || p.index === undefined || applied < p.index) continue;
      this.complete(slot, this.machine(member).get(p.op.input.key), sim.now);
    }
  }

  onReset(member: SimMember): void {
    for (let slot = 0; slot < this.slots.length; slot++) if (this.slots[slot]?.member === member.id) this.giveUp(slot);
    const sm = new KvStateMachine();
    for (const e of member.node.sm.entries) sm.apply(JSON.parse(e.data) as Command);
    this.machines.set(member.id, sm);
  }

  check(): void {
    for (let slot = 0; slot < this.slots.length; slot++) this.giveUp(slot);
    const r = checkLinearizable(kvModel, this.history);
    if (!r.ok) {
      throw new Error(
        `KV history is not linearizable (${this.history.length} operations). Longest linearizable prefix:\n  ${r.longest!.slice(-10).join("\n  ")}\nPartition:\n  ${r.partition!.slice(0, 60).join("\n  ")}`,
      );
    }
  }
}
