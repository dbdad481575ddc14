import type { RaftMessage } from "../../../src/gen/dcos/v1/raft_pb.js";
import { MemoryStorage } from "../../../src/raft/core/log-storage.js";
import { RaftRole } from "../../../src/raft/core/ready.js";
import { Random } from "../../../src/runtime/random.js";
import { EventQueue } from "../simulation/event-queue.js";
import { TestNode, type NodeOptions } from "./node.js";

type Event = { kind: "message"; m: RaftMessage } | { kind: "unreachable"; at: string; peer: string };

/**
 * A Raft group of pure cores on a simulated millisecond clock, as the raft actor runs them:
 * each member ticks every `tickMs` at its own phase, messages take 1-4 ms, a Ready is
 * written at once; the driver's link to a peer is modelled by `peerUnreachable` calls,
 * which a crash or a cut link makes on the other side (a connection the kernel closes). Everything derives from the seed. Election safety (one leader per term)
 * is checked after every event.
 */
export class TimedGroup {
  now = 0;
  readonly rng: Random;
  readonly nodes: TestNode[] = [];
  private readonly nextTick = new Map<string, number>();
  private readonly net = new EventQueue<Event>();
  private readonly cut = new Set<string>();
  private readonly leaderOfTerm = new Map<number, string>();

  constructor(
    readonly seed: number,
    members: number,
    readonly tickMs = 10,
    options: NodeOptions = {},
  ) {
    this.rng = new Random(seed);
    const ids = Array.from({ length: members }, (_, i) => `n${i + 1}`);
    for (const id of ids) {
      this.nodes.push(new TestNode(id, new MemoryStorage(), { ...options, peers: ids, seed: this.rng.int(1 << 30) }));
      this.nextTick.set(id, this.rng.int(tickMs));
    }
  }

  node(id: string): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no member ${id}`);
    return n;
  }

  /** The live leader of the highest term, if any. */
  leader(): TestNode | undefined {
    let best: TestNode | undefined;
    for (const n of this.nodes) if (n.alive && n.raft.role === RaftRole.Leader && (!best || n.raft.term > best.raft.term)) best = n;
    return best;
  }

  /** True when a live leader is followed by every other live member in its term. */
  settled(): boolean {
    const l = this.leader();
    return l !== undefined && this.nodes.every((n) => !n.alive || (n.raft.leader === l.id && n.raft.term === l.raft.term));
  }

  /** Runs until `done` holds (checked every millisecond) or `maxMs` pass; true if it held. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    while (this.now < end) {
      if (done()) return true;
      this.step();
    }
    return done();
  }

  run(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /**
   * The member's process dies: its peers' connections to it break, each seen after what
   * the member sent before it died (its kernel closes the connections behind the data
   * already sent; messages take at most 4 ms).
   */
  crash(id: string): void {
    this.node(id).crash();
    for (const n of this.nodes) if (n.alive) this.net.push(this.now + 5 + this.rng.int(3), { kind: "unreachable", at: n.id, peer: id });
  }

  /** The network between a and b fails (both ways); both see the connection break. */
  cutLink(a: string, b: string): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
    this.connectionBroke(a, b);
  }

  /** The connection between a and b breaks and is made again at once: messages still flow. */
  connectionBroke(a: string, b: string): void {
    this.net.push(this.now + this.rng.int(3), { kind: "unreachable", at: a, peer: b });
    this.net.push(this.now + this.rng.int(3), { kind: "unreachable", at: b, peer: a });
  }

  private step(): void {
    for (let e = this.net.popDue(this.now); e; e = this.net.popDue(this.now)) {
      if (e.kind === "unreachable") {
        const n = this.node(e.at);
        if (n.alive) n.raft.peerUnreachable(e.peer);
      } else {
        const to = this.nodes.find((x) => x.id === e.m.to);
        if (to?.alive && !this.cut.has(`${e.m.from}>${e.m.to}`)) to.raft.step(e.m);
      }
      this.drive();
    }
    for (const n of this.nodes) {
      if (!n.alive || this.now < this.nextTick.get(n.id)!) continue;
      this.nextTick.set(n.id, this.nextTick.get(n.id)! + this.tickMs);
      n.raft.tick();
    }
    this.drive();
    this.now++;
  }

  private drive(): void {
    for (const n of this.nodes) {
      if (!n.alive) continue;
      for (let rd = n.takeReady(); rd; rd = n.takeReady()) {
        for (const m of n.completeReady(rd)) this.net.push(this.now + this.rng.between(1, 4), { kind: "message", m });
      }
      if (n.raft.role === RaftRole.Leader) {
        const seen = this.leaderOfTerm.get(n.raft.term);
        if (seen !== undefined && seen !== n.id) throw new Error(`Election safety violated: ${seen} and ${n.id} both lead term ${n.raft.term} (at ${this.now} ms)`);
        this.leaderOfTerm.set(n.raft.term, n.id);
      }
    }
  }
}
