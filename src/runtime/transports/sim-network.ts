import type { Envelope } from "../../gen/dcos/v1/runtime_pb.js";
import type { ManualClock } from "../clock.js";
import { Code, DcosError } from "../error.js";
import { unauthenticatedPeer, type PeerIdentity } from "../identity.js";
import { Random } from "../random.js";
import type { Outbound, Transport, TransportSink } from "../transport.js";

/** Faults applied to messages on a link (from one node to another). */
export interface LinkFaults {
  /** Delivery delay in ms, drawn uniformly from [min, max]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** When true, messages on the link may overtake each other; otherwise FIFO per link. */
  reorder: boolean;
}

export const NO_FAULTS: LinkFaults = { minDelayMs: 1, maxDelayMs: 1, drop: 0, duplicate: 0, reorder: false };

export interface SimNetworkOptions {
  clock: ManualClock;
  seed: number;
  faults?: Partial<LinkFaults>;
}

interface NodeState {
  transport: SimTransport;
  sink: TransportSink;
  /** Peers this node linked to; cleared as exits are reported. */
  linked: Set<string>;
}

/**
 * A deterministic network for simulation tests. Each node's ActorSystem gets a SimTransport;
 * every message is encoded into an envelope and delivered by a timer on the manual clock,
 * after a seeded random delay, subject to the link's faults and to partitions. The same
 * seed and the same calls give the same run.
 *
 * Connections are modelled as links: a link to a node that is down, or cut off by a
 * partition, is reported to the linking node as exited (as a TCP connection that breaks).
 */
export class SimNetwork {
  readonly clock: ManualClock;
  readonly random: Random;
  private defaults: LinkFaults;
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly nodes = new Map<string, NodeState>();
  /** One-way cuts "from->to". */
  private readonly cuts = new Set<string>();
  /** Last scheduled delivery time per link, to keep FIFO order. */
  private readonly lastDelivery = new Map<string, number>();
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, cut: 0 };

  constructor(options: SimNetworkOptions) {
    this.clock = options.clock;
    this.random = new Random(options.seed);
    this.defaults = { ...NO_FAULTS, ...options.faults };
  }

  /** A node on this network; its messages arrive as from `identity` (default: unauthenticated). */
  transport(address: string, identity?: PeerIdentity): SimTransport {
    return new SimTransport(this, address, identity ?? unauthenticatedPeer(address));
  }

  /** Sets the faults for all links, or for the link from→to only. */
  setFaults(faults: Partial<LinkFaults>, from?: string, to?: string): void {
    if (from !== undefined && to !== undefined) {
      this.linkFaults.set(`${from}->${to}`, { ...this.faultsFor(from, to), ...faults });
    } else {
      this.defaults = { ...this.defaults, ...faults };
    }
  }

  /** Cuts traffic from `from` to `to` only (a one-way partition). */
  cutOneWay(from: string, to: string): void {
    this.cuts.add(`${from}->${to}`);
    this.breakLink(from, to);
    this.breakLink(to, from);
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(...groups: string[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.cutOneWay(a, b);
      }
    }
  }

  /** Cuts one node off from every other node. */
  isolate(address: string): void {
    const others = [...this.nodes.keys()].filter((a) => a !== address);
    this.partition([address], others);
  }

  /** Removes every cut. */
  heal(): void {
    this.cuts.clear();
  }

  isCut(from: string, to: string): boolean {
    return this.cuts.has(`${from}->${to}`);
  }

  /** The node stops at once: nothing more is delivered to or from it; its peers see exited. */
  crash(address: string): void {
    const node = this.nodes.get(address);
    if (!node) return;
    this.nodes.delete(address);
    node.transport.crashed = true;
    for (const other of this.nodes.values()) {
      if (other.linked.delete(address)) this.reportExit(other, address);
    }
  }

  isUp(address: string): boolean {
    return this.nodes.has(address);
  }

  addresses(): string[] {
    return [...this.nodes.keys()];
  }

  // ---- called by SimTransport -----------------------------------------------------

  /** @internal */ attach(transport: SimTransport, sink: TransportSink): void {
    if (this.nodes.has(transport.address)) {
      throw new DcosError(Code.ALREADY_EXISTS, `Address ${transport.address} is already up on the simulated network`);
    }
    this.nodes.set(transport.address, { transport, sink, linked: new Set() });
  }

  /** @internal */ route(from: string, envelope: Envelope, toAddress: string, identity: PeerIdentity): void {
    this.stats.sent++;
    const sender = this.nodes.get(from);
    if (!sender || sender.transport.crashed) return;
    if (this.isCut(from, toAddress) || !this.nodes.has(toAddress)) {
      this.stats.cut++;
      return;
    }
    const f = this.faultsFor(from, toAddress);
    if (this.random.chance(f.drop)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random.chance(f.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const target = this.nodes.get(toAddress)!;
    for (let c = 0; c < copies; c++) {
      const key = `${from}->${toAddress}`;
      let at = this.clock.now() + f.minDelayMs + this.random.next() * (f.maxDelayMs - f.minDelayMs);
      if (!f.reorder) at = Math.max(at, this.lastDelivery.get(key) ?? 0);
      this.lastDelivery.set(key, at);
      this.clock.setTimer(at - this.clock.now(), () => {
        // Deliver only if the same incarnation of the target is still up and the link is not cut.
        if (this.nodes.get(toAddress) !== target || this.isCut(from, toAddress)) {
          this.stats.cut++;
          return;
        }
        this.stats.delivered++;
        target.sink.deliverEnvelope(envelope, from, identity);
      });
    }
  }

  /** @internal */ link(from: string, to: string): void {
    const node = this.nodes.get(from);
    if (!node) return;
    if (!this.nodes.has(to) || this.isCut(from, to) || this.isCut(to, from)) {
      this.reportExit(node, to);
      return;
    }
    node.linked.add(to);
  }

  /** @internal */ detach(transport: SimTransport): void {
    if (this.nodes.get(transport.address)?.transport === transport) this.crash(transport.address);
  }

  private breakLink(from: string, to: string): void {
    const node = this.nodes.get(from);
    if (node?.linked.delete(to)) this.reportExit(node, to);
  }

  private reportExit(node: NodeState, peer: string): void {
    // Reported as a timer so it is ordered with deliveries and happens inside settle().
    this.clock.setTimer(0, () => {
      if (this.nodes.get(node.transport.address) === node) node.sink.peerExited(peer);
    });
  }

  private faultsFor(from: string, to: string): LinkFaults {
    return this.linkFaults.get(`${from}->${to}`) ?? this.defaults;
  }
}

/** One node's view of a SimNetwork. */
export class SimTransport implements Transport {
  private sink: TransportSink | undefined;
  /** @internal */ crashed = false;

  constructor(
    private readonly network: SimNetwork,
    readonly address: string,
    readonly identity: PeerIdentity = unauthenticatedPeer(address),
  ) {}

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    this.network.attach(this, sink);
  }

  send(out: Outbound): void {
    if (!this.sink || this.crashed) return;
    this.network.route(this.address, this.sink.encode(out), out.to.address, this.identity);
  }

  link(address: string): void {
    if (this.crashed) return;
    this.network.link(this.address, address);
  }

  /** Delivers raw envelopes as if a peer had sent them (for bad-input and forgery tests). */
  inject(envelope: Envelope, fromAddress: string, identity?: PeerIdentity): void {
    this.sink?.deliverEnvelope(envelope, fromAddress, identity);
  }

  async stop(): Promise<void> {
    this.network.detach(this);
    this.sink = undefined;
  }
}
