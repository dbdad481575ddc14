import type { DescMessage, Message } from "@bufbuild/protobuf";
import { EnvelopeSchema, file_dcos_v1_runtime, type Envelope } from "../gen/dcos/v1/runtime_pb.js";
import { Metrics, type Counter } from "../metrics/metrics.js";
import { SystemClock, type Clock, type Timer, type WorkSource } from "./clock.js";
import { Code, DcosError } from "./error.js";
import { unauthenticatedPeer, type PeerIdentity } from "./identity.js";
import { silentLogger, type Logger } from "./log.js";
import { ItemKind, type Mailbox, type MailboxItem } from "./mailbox.js";
import { Pid } from "./pid.js";
import { DROP_REASONS, type DropReason, type Outbound, type Transport, type TransportSink } from "./transport.js";
import { TypeRegistry } from "./types.js";

export interface ActorSystemOptions {
  /** The transport to other nodes; without one the system is a single in-process node. */
  transport?: Transport;
  /** Node address when there is no transport. */
  address?: string;
  /**
   * Who this node is (its certificate's identity): the sender identity of messages between
   * its own actors. Default: unauthenticated, trusted in every role.
   */
  identity?: PeerIdentity;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
  types?: TypeRegistry;
  /** Most mailbox items one actor handles before others get a turn. */
  fairnessBatch?: number;
  /**
   * Most items an actor's mailbox holds before messages from other nodes to it are dropped
   * and counted (`runtime/dropped/mailbox_full`); default 1,000,000. A peer that floods a
   * node cannot grow its memory without bound, and the protocols retry what matters.
   * Messages from the node's own actors (timers, deferred results, local sends) always queue.
   */
  maxMailbox?: number;
  /**
   * Most milliseconds one drain runs before yielding to the event loop (gRPC I/O, timers);
   * default 4 (20 delayed I/O: bench offers driver mode ~830 vs ~1090 tasks/s, in-process msgs/s unchanged).
   */
  drainBudgetMs?: number;
}

/** The Pid of the last text parsed. */
class PidMemo {
  private text = "";
  private pid: Pid | undefined;

  parse(text: string): Pid | undefined {
    if (text !== this.text) {
      this.text = text;
      this.pid = Pid.tryParse(text);
    }
    return this.pid;
  }
}

/** How many drops of one reason are logged at warn before only every 1000th is. */
const LOUD_DROPS = 10;

/** ActorCell.shed: the types of messages dropped once an actor's mailbox holds `at` items. */
export interface MailboxShedding {
  readonly at: number;
  readonly types: ReadonlySet<string>;
}

/** A handler as the system calls it: the type it decodes and the function. */
interface CellHandler {
  schema: DescMessage;
  fn: (message: Message, from: Pid) => void;
  /** Its own decoder (fields left unread), else the TypeRegistry's. */
  read?: (bytes: Uint8Array) => Message;
}

/**
 * What the system runs of an actor: its mailbox, handlers and lifecycle. `Actor`
 * (actor.ts) is the one implementation; it is declared here so that the system does not
 * depend on the actor class (the actor depends on its system).
 */
export interface ActorCell {
  readonly name: string;
  readonly self: Pid;
  /** @internal */ readonly handlers: ReadonlyMap<string, CellHandler>;
  /** @internal */ readonly mailbox: Mailbox;
  /** @internal */ scheduled: boolean;
  /** @internal */ state: "created" | "running" | "terminating" | "terminated";
  /** @internal */ readonly timers: Set<Timer>;
  /** @internal */ currentSender: PeerIdentity | null;
  /** @internal */ attachment: { system: ActorSystem; pid: Pid; log: Logger } | undefined;
  /**
   * Served ahead of the other actors of its system: each drain of the run queue starts
   * with the urgent actors, and gives them a turn again after every other actor's turn
   * (the raft actor: heartbeats, votes and acknowledgements must not wait behind a busy
   * master's queue). An urgent actor gets one turn (`fairnessBatch` items) at a time, so
   * it cannot starve the others.
   */
  readonly urgent?: boolean;
  /**
   * A lower bound for messages their senders retry: once the mailbox holds `at` items, a
   * message from another node whose type is in `types` is dropped before it is decoded and
   * counted (`runtime/dropped/mailbox_shed`). A busy actor then does not spend its node's
   * CPU and heap on queueing copies its senders will send again (a master: agents resend
   * unacknowledged status updates). Only for types whose every sender has a retry path;
   * never for acknowledgements or Raft.
   */
  readonly shed?: MailboxShedding;
  initialize(): void;
  finalize(): void;
  exited(pid: Pid): void;
}

/**
 * The process manager: owns the actors of one node, their mailboxes, links and timers,
 * and routes messages locally or through the transport. It is the TransportSink, so all
 * decoding and bad-input accounting happens here, once for every transport.
 */
export class ActorSystem implements TransportSink, WorkSource {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly types: TypeRegistry;
  readonly address: string;
  /** This node's own identity: what its actors are, to each other. */
  readonly identity: PeerIdentity;
  private readonly transport: Transport | undefined;
  private readonly actors = new Map<string, ActorCell>();
  private readonly localWatchers = new Map<string, Set<ActorCell>>();
  private readonly remoteWatchers = new Map<string, Map<string, { pid: Pid; watchers: Set<ActorCell> }>>();
  private runQueue: ActorCell[] = [];
  private runHead = 0;
  /** Urgent actors with work (ActorCell.urgent), served before the run queue. */
  private urgentQueue: ActorCell[] = [];
  private drainScheduled = false;
  private readonly fairnessBatch: number;
  private readonly maxMailbox: number;
  private readonly drainBudgetMs: number;
  private nameCounter = 0;
  private started = false;
  private stopped = false;

  /** Envelopes in a row mostly share sender and receiver: parse each pid text once. */
  private readonly toPids = new PidMemo();
  private readonly fromPids = new PidMemo();
  /** The unauthenticated identity of the last peer that had none from its transport. */
  private anonymous: PeerIdentity | undefined;
  private readonly sent: Counter;
  private readonly received: Counter;
  private readonly droppedTotal: Counter;
  private readonly dropped: Record<DropReason, Counter>;
  private readonly handlerErrors: Counter;

  constructor(options: ActorSystemOptions = {}) {
    this.transport = options.transport;
    this.address = options.transport?.address ?? options.address ?? "local";
    this.identity = options.identity ?? unauthenticatedPeer(this.address);
    this.clock = options.clock ?? new SystemClock();
    this.log = (options.logger ?? silentLogger()).child({ node: this.address });
    this.metrics = options.metrics ?? new Metrics();
    this.types = (options.types ?? new TypeRegistry()).addFile(file_dcos_v1_runtime);
    this.fairnessBatch = options.fairnessBatch ?? 256;
    this.maxMailbox = options.maxMailbox ?? 1_000_000;
    this.drainBudgetMs = options.drainBudgetMs ?? 4;
    this.sent = this.metrics.counter("runtime/messages_sent", "Actor messages sent");
    this.received = this.metrics.counter("runtime/messages_received", "Actor messages handled");
    this.droppedTotal = this.metrics.counter("runtime/dropped_messages", "Messages and frames dropped");
    this.dropped = Object.fromEntries(
      DROP_REASONS.map((r) => [r, this.metrics.counter(`runtime/dropped/${r}`, `Dropped: ${r}`)]),
    ) as Record<DropReason, Counter>;
    this.handlerErrors = this.metrics.counter("runtime/handler_errors", "Exceptions thrown by actor handlers");
    this.metrics.gauge("runtime/actors", () => this.actors.size, "Live actors");
    this.metrics.gauge("runtime/event_queue_messages", () => this.queued(), "Items queued in mailboxes");
    this.clock.track(this);
  }

  /** Starts the transport (if any). Actors may be spawned before or after. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.transport?.start(this);
  }

  /** Terminates every actor, then stops the transport. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const actor of [...this.actors.values()]) this.terminate(actor);
    this.runAllNow();
    this.clock.untrack(this);
    if (this.started) await this.transport?.stop();
  }

  // ---- actors ---------------------------------------------------------------------

  /** A fresh name `base(N)` for actors of which there are many. */
  uniqueName(base: string): string {
    let name: string;
    do name = `${base}(${++this.nameCounter})`;
    while (this.actors.has(name));
    return name;
  }

  spawn<A extends ActorCell>(actor: A): A {
    if (this.stopped) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot spawn '${actor.name}': actor system stopped`);
    if (actor.state !== "created") throw new DcosError(Code.FAILED_PRECONDITION, `Actor '${actor.name}' was spawned already`);
    if (this.actors.has(actor.name)) {
      throw new DcosError(Code.ALREADY_EXISTS, `Cannot spawn '${actor.name}': an actor by that name exists on ${this.address}`);
    }
    const pid = new Pid(actor.name, this.address);
    actor.attachment = { system: this, pid, log: this.log.child({ actor: actor.name }) };
    for (const h of actor.handlers.values()) this.types.add(h.schema);
    actor.state = "running";
    this.actors.set(actor.name, actor);
    this.enqueueFunction(actor, () => actor.initialize());
    return actor;
  }

  lookup(name: string): ActorCell | undefined {
    return this.actors.get(name);
  }

  /** Terminates the actor after its current item; its queued items are dropped. */
  terminate(actor: ActorCell): void {
    if (actor.state !== "running" || actor.attachment?.system !== this) return;
    actor.state = "terminating";
    this.schedule(actor);
  }

  private finish(actor: ActorCell): void {
    try {
      actor.finalize();
    } catch (err) {
      this.handlerFailed(actor, err, "finalize");
    }
    actor.state = "terminated";
    for (const t of [...actor.timers]) t.cancel();
    this.actors.delete(actor.name);
    const gone = new Error(`Actor ${actor.self.toString()} terminated`);
    for (const item of actor.mailbox.drain()) {
      if (item.kind === ItemKind.Message || item.kind === ItemKind.Encoded) this.countDrop("terminated", item.from?.toString() ?? "?", item.message?.$typeName ?? item.type ?? "");
      item.abandon?.(new DcosError(Code.UNAVAILABLE, gone.message));
    }
    const watchers = this.localWatchers.get(actor.name);
    this.localWatchers.delete(actor.name);
    if (watchers) for (const w of watchers) this.enqueueExited(w, actor.self);
  }

  // ---- messages -------------------------------------------------------------------

  /** One-way send; local targets skip encoding. */
  send(from: Pid, to: Pid, message: Message): void {
    this.sent.inc();
    if (to.address === this.address) {
      this.deliverMessage(from, to, message, this.identity);
      return;
    }
    if (!this.transport) {
      this.countDrop("unreachable", from.toString(), message.$typeName, `no transport to reach ${to.toString()}`);
      return;
    }
    this.transport.send({ from, to, message });
  }

  encode(out: Outbound): Envelope {
    // A plain literal: create() costs more than the rest of the envelope on a hot path.
    return {
      $typeName: EnvelopeSchema.typeName,
      from: out.from.toString(),
      to: out.to.toString(),
      type: out.message.$typeName,
      payload: this.types.encode(out.message),
    } as Envelope;
  }

  deliverMessage(from: Pid, to: Pid, message: Message, identity?: PeerIdentity): void {
    const actor = this.actors.get(to.name);
    if (!actor || actor.state !== "running") {
      this.countDrop("unknown_actor", from.toString(), message.$typeName, `no actor '${to.name}'`);
      return;
    }
    const sender = identity ?? this.unauthenticated(from.address);
    actor.mailbox.push({ kind: ItemKind.Message, from, sender, message, fn: null, abandon: null, type: null, payload: null });
    this.schedule(actor);
  }

  deliverEnvelope(env: Envelope, peer: string, identity?: PeerIdentity): void {
    const to = this.toPids.parse(env.to);
    const from = this.fromPids.parse(env.from);
    if (!to || !from) {
      this.countDrop("undecodable", peer, env.type, `bad pid in envelope (from '${env.from}', to '${env.to}')`);
      return;
    }
    if (from.address !== peer) {
      this.countDrop("spoofed", peer, env.type, `envelope claims sender ${env.from} but arrived on the connection of ${peer}`);
      return;
    }
    if (to.address !== this.address) {
      this.countDrop("misaddressed", env.from, env.type, `envelope for ${env.to} arrived at ${this.address}`);
      return;
    }
    const actor = this.actors.get(to.name);
    if (!actor || actor.state !== "running") {
      this.countDrop("unknown_actor", env.from, env.type, `no actor '${to.name}'`);
      return;
    }
    if (actor.mailbox.length >= this.maxMailbox) {
      this.countDrop("mailbox_full", env.from, env.type, `actor '${to.name}' has ${actor.mailbox.length} items queued`);
      return;
    }
    const shed = actor.shed;
    if (shed !== undefined && actor.mailbox.length >= shed.at && shed.types.has(env.type)) {
      this.countDrop("mailbox_shed", env.from, env.type, `actor '${to.name}' has ${actor.mailbox.length} items queued; the sender retries`);
      return;
    }
    const handler = actor.handlers.get(env.type);
    if (!handler) {
      if (this.types.has(env.type)) this.countDrop("no_handler", env.from, env.type, `actor '${to.name}' has no handler`);
      else this.countDrop("unknown_type", env.from, env.type, "type not registered");
      return;
    }
    // Decoded when handled (handle): an undecodable payload is dropped then, counted the same.
    const sender = identity ?? this.unauthenticated(peer);
    actor.mailbox.push({ kind: ItemKind.Encoded, from, sender, message: null, fn: null, abandon: null, type: env.type, payload: env.payload });
    this.schedule(actor);
  }

  private unauthenticated(address: string): PeerIdentity {
    if (this.anonymous?.name !== address) this.anonymous = unauthenticatedPeer(address);
    return this.anonymous;
  }

  frameDropped(peer: string, reason: DropReason, detail: string): void {
    this.countDrop(reason, peer, "frame", detail);
  }

  sendFailed(peer: string, count: number, detail: string): void {
    this.droppedTotal.inc(count);
    this.dropped.unreachable.inc(count);
    this.log.warn({ peer, count, detail }, `Dropped ${count} message(s) to ${peer} because it is unreachable`);
  }

  private countDrop(reason: DropReason, sender: string, type: string, detail = ""): void {
    this.droppedTotal.inc();
    const c = this.dropped[reason];
    c.inc();
    if (c.value <= LOUD_DROPS || c.value % 1000 === 0) {
      this.log.warn({ reason, sender, type, detail, count: c.value }, `Dropped ${type} from ${sender}: ${reason}${detail ? ` (${detail})` : ""}`);
    }
  }

  // ---- closures, dispatch ---------------------------------------------------------

  /** Runs fn inside the actor as its own mailbox item. False if the actor is not running. */
  enqueueFunction(actor: ActorCell, fn: () => void, abandon: ((e: Error) => void) | null = null): boolean {
    if (actor.state !== "running" || actor.attachment?.system !== this) return false;
    actor.mailbox.push({ kind: ItemKind.Function, from: null, sender: null, message: null, fn, abandon, type: null, payload: null });
    this.schedule(actor);
    return true;
  }

  /**
   * Calls fn on the actor, inside the actor, and resolves with its result (awaiting it
   * if it is a promise). The building block of facades; UNAVAILABLE if the actor is gone.
   */
  dispatch<A extends ActorCell, R>(actor: A, fn: (actor: A) => R | Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const ok = this.enqueueFunction(
        actor,
        () => {
          try {
            resolve(fn(actor));
          } catch (err) {
            reject(err);
          }
        },
        reject,
      );
      if (!ok) reject(new DcosError(Code.UNAVAILABLE, `Actor '${actor.name}' is not running on ${this.address}`));
    });
  }

  // ---- links ----------------------------------------------------------------------

  link(watcher: ActorCell, target: Pid): void {
    if (target.address === this.address) {
      const t = this.actors.get(target.name);
      if (!t || t.state !== "running") {
        this.enqueueExited(watcher, target);
        return;
      }
      let set = this.localWatchers.get(target.name);
      if (!set) this.localWatchers.set(target.name, (set = new Set()));
      set.add(watcher);
      return;
    }
    if (!this.transport) {
      this.enqueueExited(watcher, target);
      return;
    }
    let byPid = this.remoteWatchers.get(target.address);
    if (!byPid) this.remoteWatchers.set(target.address, (byPid = new Map()));
    const key = target.toString();
    let entry = byPid.get(key);
    if (!entry) byPid.set(key, (entry = { pid: target, watchers: new Set() }));
    entry.watchers.add(watcher);
    this.transport.link(target.address);
  }

  unlink(watcher: ActorCell, target: Pid): void {
    if (target.address === this.address) {
      this.localWatchers.get(target.name)?.delete(watcher);
      return;
    }
    this.remoteWatchers.get(target.address)?.get(target.toString())?.watchers.delete(watcher);
  }

  peerExited(address: string): void {
    const byPid = this.remoteWatchers.get(address);
    if (!byPid) return;
    this.remoteWatchers.delete(address);
    this.log.info({ peer: address, pids: byPid.size }, `Connection to ${address} broke; notifying linked actors`);
    for (const { pid, watchers } of byPid.values()) for (const w of watchers) this.enqueueExited(w, pid);
  }

  private enqueueExited(watcher: ActorCell, pid: Pid): void {
    if (watcher.state !== "running") return;
    watcher.mailbox.push({ kind: ItemKind.Exited, from: pid, sender: null, message: null, fn: null, abandon: null, type: null, payload: null });
    this.schedule(watcher);
  }

  // ---- scheduling -----------------------------------------------------------------

  idle(): boolean {
    return this.runHead >= this.runQueue.length && this.urgentQueue.length === 0;
  }

  private queued(): number {
    let n = 0;
    for (const a of this.actors.values()) n += a.mailbox.length;
    return n;
  }

  private schedule(actor: ActorCell): void {
    if (actor.scheduled) return;
    actor.scheduled = true;
    if (actor.urgent) this.urgentQueue.push(actor);
    else this.runQueue.push(actor);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drain);
    }
  }

  private readonly drain = (): void => {
    this.drainScheduled = false;
    const deadline = performance.now() + this.drainBudgetMs;
    this.runUrgent(deadline);
    while (this.runHead < this.runQueue.length) {
      const actor = this.runQueue[this.runHead++]!;
      actor.scheduled = false;
      this.runActor(actor, this.fairnessBatch, deadline);
      if (this.urgentQueue.length > 0) this.runUrgent(deadline);
      if (performance.now() > deadline) break;
    }
    if (this.runHead >= this.runQueue.length) {
      this.runQueue = [];
      this.runHead = 0;
    } else if (this.runHead > 1024) {
      this.runQueue = this.runQueue.slice(this.runHead);
      this.runHead = 0;
    }
    if (!this.drainScheduled && (this.runHead < this.runQueue.length || this.urgentQueue.length > 0)) {
      this.drainScheduled = true;
      setImmediate(this.drain);
    }
  };

  /** One turn of each urgent actor with work now; one that still has work after its turn waits for the next call. */
  private runUrgent(deadline: number): void {
    const urgent = this.urgentQueue;
    if (urgent.length === 0) return;
    this.urgentQueue = [];
    for (const actor of urgent) {
      actor.scheduled = false;
      this.runActor(actor, this.fairnessBatch, deadline);
    }
  }

  /** Drains synchronously (used on stop so that finalize hooks run). */
  private runAllNow(): void {
    while (this.runHead < this.runQueue.length || this.urgentQueue.length > 0) {
      const actor = this.urgentQueue.length > 0 ? this.urgentQueue.shift()! : this.runQueue[this.runHead++]!;
      actor.scheduled = false;
      this.runActor(actor, Number.MAX_SAFE_INTEGER);
    }
    this.runQueue = [];
    this.runHead = 0;
  }

  /**
   * One turn of an actor: at most `budget` items, and (checked every 16 items) not past the
   * drain's `deadline`: a turn of expensive items (256 of a millisecond each) would otherwise
   * hold the loop, and every timer and socket of the node with it, for a quarter second.
   */
  private runActor(actor: ActorCell, budget: number, deadline = Number.POSITIVE_INFINITY): void {
    for (let n = 0; n < budget; n++) {
      if (actor.state === "terminating") {
        this.finish(actor);
        return;
      }
      if (actor.state !== "running") return;
      const item = actor.mailbox.shift();
      if (!item) return;
      this.handle(actor, item);
      if ((n & 15) === 15 && performance.now() > deadline) break;
    }
    if (actor.mailbox.length > 0 || actor.state === "terminating") this.schedule(actor);
  }

  private handle(actor: ActorCell, item: MailboxItem): void {
    try {
      switch (item.kind) {
        case ItemKind.Message: {
          const message = item.message!;
          const handler = actor.handlers.get(message.$typeName);
          if (!handler) {
            this.countDrop("no_handler", item.from!.toString(), message.$typeName, `actor '${actor.name}' has no handler`);
            return;
          }
          this.handleMessage(actor, handler, message, item);
          return;
        }
        case ItemKind.Encoded: {
          const type = item.type!;
          const handler = actor.handlers.get(type);
          if (!handler) {
            this.countDrop("no_handler", item.from!.toString(), type, `actor '${actor.name}' has no handler`);
            return;
          }
          let message: Message;
          try {
            message = handler.read !== undefined ? handler.read(item.payload!) : this.types.decode(handler.schema, item.payload!);
          } catch (err) {
            this.countDrop("undecodable", item.from!.toString(), type, (err as Error).message);
            return;
          }
          item.payload = null;
          this.handleMessage(actor, handler, message, item);
          return;
        }
        case ItemKind.Function:
          item.fn!();
          return;
        case ItemKind.Exited:
          actor.exited(item.from!);
          return;
      }
    } catch (err) {
      this.handlerFailed(actor, err, item.kind === ItemKind.Message ? item.message!.$typeName : item.kind === ItemKind.Encoded ? item.type! : "function");
    }
  }

  private handleMessage(actor: ActorCell, handler: CellHandler, message: Message, item: MailboxItem): void {
    this.received.inc();
    actor.currentSender = item.sender;
    try {
      handler.fn.call(actor, message, item.from!);
    } finally {
      actor.currentSender = null;
    }
  }

  private handlerFailed(actor: ActorCell, err: unknown, what: string): void {
    this.handlerErrors.inc();
    actor.attachment?.log.error({ err, what }, `Handler for ${what} in ${actor.name} threw`);
  }
}
