import { Code, DcosError } from "../error.js";
import { unauthenticatedPeer, type PeerIdentity } from "../identity.js";
import type { Outbound, Transport, TransportSink } from "../transport.js";

/**
 * Several actor systems in one process, each a node with its own address (the embedded dev
 * cluster: a master and agents in one process). Messages are handed over as objects,
 * without encoding, synchronously into the receiver's mailbox, so order is kept. A node's
 * identity (what its messages are authenticated as) is given when its transport is made.
 */
export class InProcessNetwork {
  private readonly nodes = new Map<string, InProcessTransport>();

  /** A node on this network; its messages arrive as from `identity` (default: unauthenticated). */
  transport(address: string, identity?: PeerIdentity): InProcessTransport {
    return new InProcessTransport(this, address, identity ?? unauthenticatedPeer(address));
  }

  /** @internal */ attach(t: InProcessTransport): void {
    if (this.nodes.has(t.address)) {
      throw new DcosError(Code.ALREADY_EXISTS, `Address ${t.address} is already in use on this in-process network`);
    }
    this.nodes.set(t.address, t);
  }

  /** @internal */ detach(t: InProcessTransport): void {
    if (this.nodes.get(t.address) !== t) return;
    this.nodes.delete(t.address);
    for (const other of this.nodes.values()) other.peerGone(t.address);
  }

  /** @internal */ node(address: string): InProcessTransport | undefined {
    return this.nodes.get(address);
  }
}

export class InProcessTransport implements Transport {
  private sink: TransportSink | undefined;
  private readonly linked = new Set<string>();

  constructor(
    private readonly network: InProcessNetwork,
    readonly address: string,
    readonly identity: PeerIdentity = unauthenticatedPeer(address),
  ) {}

  async start(sink: TransportSink): Promise<void> {
    this.network.attach(this);
    this.sink = sink;
  }

  send(out: Outbound): void {
    const peer = this.network.node(out.to.address);
    if (!peer?.sink) {
      this.sink?.sendFailed(out.to.address, 1, "no such node on the in-process network");
      return;
    }
    peer.sink.deliverMessage(out.from, out.to, out.message, this.identity);
  }

  link(address: string): void {
    if (this.network.node(address)) {
      this.linked.add(address);
      return;
    }
    queueMicrotask(() => this.sink?.peerExited(address));
  }

  /** @internal */ peerGone(address: string): void {
    if (this.linked.delete(address)) this.sink?.peerExited(address);
  }

  async stop(): Promise<void> {
    this.network.detach(this);
    this.sink = undefined;
    this.linked.clear();
  }
}
