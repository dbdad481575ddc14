import type { RaftEntry } from "../../../src/gen/dcos/v1/raft_pb.js";
import { isNotLeader } from "../../../src/raft/core/errors.js";
import { DcosError } from "../../../src/runtime/error.js";
import { bytes } from "../support/node.js";
import type { SimMember, Simulation, Workload } from "./simulation.js";

interface Pending {
  member: string;
  incarnation: number;
  index: number;
  term: number;
}

/**
 * Clients propose unique commands to whoever they think leads. A proposal is acknowledged
 * when the member that took it applies it at the position it was given (same index and
 * term), as the raft actor will report it. At the end every live member must have applied
 * every acknowledged proposal exactly once, and no proposal twice.
 */
export class ProposalsWorkload implements Workload {
  private next = 0;
  private readonly pending = new Map<string, Pending>();
  readonly acknowledged = new Set<string>();
  readonly lost = new Set<string>();
  refused = 0;

  constructor(private readonly rate = 0.3) {}

  step(sim: Simulation): void {
    if (!sim.rng.chance(this.rate)) return;
    const target = sim.leader() ?? sim.rng.pick(sim.members);
    if (!target.alive) return;
    const data = `p${this.next++}`;
    try {
      const pos = target.node.raft.propose(bytes(data));
      this.pending.set(data, { member: target.id, incarnation: target.node.incarnation, ...pos });
    } catch (e) {
      if (!isNotLeader(e) && !DcosError.is(e)) throw e;
      this.refused++;
    }
  }

  onApply(_sim: Simulation, member: SimMember, e: RaftEntry): void {
    for (const [data, p] of this.pending) {
      if (p.member !== member.id || p.incarnation !== member.node.incarnation || p.index !== Number(e.index)) continue;
      this.pending.delete(data);
      if (p.term === Number(e.term)) {
        if (new TextDecoder().decode(e.data) !== data) throw new Error(`${member.id} applied other data at the position of ${data}`);
        this.acknowledged.add(data);
      } else {
        this.lost.add(data); // reported to the client as lost in a leadership change
      }
    }
  }

  onReadStates(): void {}

  onReset(member: SimMember): void {
    for (const [data, p] of this.pending) if (p.member === member.id && p.incarnation !== member.node.incarnation) this.pending.delete(data);
  }

  check(sim: Simulation): void {
    for (const m of sim.current()) {
      const counts = new Map<string, number>();
      for (const d of m.node.sm.data()) counts.set(d, (counts.get(d) ?? 0) + 1);
      for (const [d, n] of counts) if (n > 1) throw new Error(`${m.id} applied ${d} ${n} times`);
      for (const d of this.acknowledged) if (!counts.has(d)) throw new Error(`${m.id} lost acknowledged proposal ${d}`);
      for (const d of this.lost) if (counts.has(d)) throw new Error(`${m.id} applied ${d}, reported lost`);
    }
  }
}
