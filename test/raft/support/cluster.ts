import type { RaftMessage } from "../../../src/gen/dcos/v1/raft_pb.js";
import { MemoryStorage } from "../../../src/raft/core/log-storage.js";
import { RaftRole } from "../../../src/raft/core/ready.js";
import { bytes, TestNode, type NodeOptions } from "./node.js";

/**
 * A synchronous network of TestNodes for scripted scenarios (etcd's raft_test "network"):
 * messages are queued and delivered in order by `settle()`; links can be cut.
 */
export class TestCluster {
  readonly nodes = new Map<string, TestNode>();
  private queue: RaftMessage[] = [];
  private readonly cut = new Set<string>();
  /** Drops messages for which it returns true (in addition to cut links); may also alter them. */
  filter: ((m: RaftMessage) => boolean) | undefined;
  /** Every message delivered, for assertions on traffic. */
  delivered: RaftMessage[] = [];

  constructor(ids: string[], options: NodeOptions = {}, voters: string[] = ids) {
    let seed = options.seed ?? 1;
    for (const id of ids) {
      const peers = voters.includes(id) ? voters : undefined;
      this.nodes.set(id, new TestNode(id, new MemoryStorage(), { ...options, seed: seed++, ...(peers ? { peers } : {}) }));
    }
  }

  node(id: string): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Adds a member with an empty log (it joins when the leader replicates to it). */
  add(id: string, options: NodeOptions = {}): TestNode {
    const n = new TestNode(id, new MemoryStorage(), options);
    this.nodes.set(id, n);
    return n;
  }

  isolate(id: string): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  partition(...groups: string[][]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.cut.add(`${a}>${b}`);
  }

  cutLink(a: string, b: string): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes every Ready and delivers every message until nothing moves. */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const n of this.nodes.values()) {
        if (!n.alive) continue;
        for (let rd = n.takeReady(); rd; rd = n.takeReady()) {
          moved = true;
          for (const m of n.completeReady(rd)) this.queue.push(m);
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        moved = true;
        const to = this.nodes.get(m.to);
        if (!to || !to.alive || this.cut.has(`${m.from}>${m.to}`) || this.filter?.(m)) continue;
        this.delivered.push(m);
        to.raft.step(m);
      }
      if (!moved) return;
    }
    throw new Error(`cluster did not settle in ${maxRounds} rounds`);
  }

  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).raft.tick();
      this.settle();
    }
  }

  /** Ticks every live node n times, settling after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) if (node.alive) node.raft.tick();
      this.settle();
    }
  }

  /** Makes `id` campaign now and settles. */
  elect(id: string): void {
    this.node(id).raft.campaign();
    this.settle();
  }

  leaders(): TestNode[] {
    return [...this.nodes.values()].filter((n) => n.alive && n.raft.role === RaftRole.Leader);
  }

  leader(): TestNode {
    const ls = this.leaders();
    const top = Math.max(...ls.map((l) => l.raft.term));
    const l = ls.find((x) => x.raft.term === top);
    if (!l) throw new Error("no leader");
    return l;
  }

  propose(id: string, data: string): { index: number; term: number } {
    const pos = this.node(id).raft.propose(bytes(data));
    this.settle();
    return pos;
  }

  crash(id: string): void {
    this.node(id).crash();
  }

  restart(id: string): void {
    this.node(id).restart();
    this.settle();
  }
}
