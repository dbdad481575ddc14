import type { DescMessage, Message, MessageShape } from "@bufbuild/protobuf";
import { messageReader, type ReaderOptions } from "./binary-reader.js";
import type { Clock, Timer } from "./clock.js";
import type { PeerIdentity } from "./identity.js";
import { Code, DcosError } from "./error.js";
import type { Logger } from "./log.js";
import { Mailbox } from "./mailbox.js";
import type { Pid } from "./pid.js";
import type { ActorCell, ActorSystem } from "./system.js";

export type Handler<T> = (message: T, from: Pid) => void;

export interface InstalledHandler {
  schema: DescMessage;
  fn: Handler<Message>;
  /** The decoder of this type for this actor, when it leaves fields unread (HandlerOptions). */
  read?: (bytes: Uint8Array) => Message;
}

export interface HandlerOptions<S extends DescMessage> {
  /**
   * Fields the handler never reads: a message from another node arrives without them (their
   * bytes skipped, the fields at their zero values); one from the same node may carry them.
   */
  unread?: ReaderOptions<S>["unread"];
}

export type ActorState = "created" | "running" | "terminating" | "terminated";

/**
 * A libprocess-style actor: a name, a mailbox, and handlers per protobuf message type.
 * It handles one item at a time, to completion; handlers are synchronous. Async work
 * comes back as a mailbox item through `defer`, timers through `delay`, so every state
 * change of an actor happens inside one of its own handlers.
 *
 * Subclasses override the lifecycle hooks `initialize`, `finalize` and `exited`.
 */
export abstract class Actor implements ActorCell {
  /** @internal */ readonly handlers = new Map<string, InstalledHandler>();
  /** @internal */ readonly mailbox = new Mailbox();
  /** @internal */ scheduled = false;
  /** @internal */ state: ActorState = "created";
  /** @internal */ readonly timers = new Set<Timer>();
  /** @internal */ currentSender: PeerIdentity | null = null;
  /** @internal */ attachment: { system: ActorSystem; pid: Pid; log: Logger } | undefined;

  constructor(readonly name: string) {}

  /** Runs first, inside the actor, once it is spawned. */
  initialize(): void {}
  /** Runs last, inside the actor, when it terminates. */
  finalize(): void {}
  /** A linked pid went away (its actor terminated, or the connection to its node broke). */
  exited(_pid: Pid): void {}

  get self(): Pid {
    return this.attached().pid;
  }

  get system(): ActorSystem {
    return this.attached().system;
  }

  get log(): Logger {
    return this.attached().log;
  }

  get clock(): Clock {
    return this.attached().system.clock;
  }

  /**
   * Who the message being handled came from, as its connection was authenticated (see
   * PeerIdentity): only valid inside a message handler. Check it before trusting a message
   * to come from a master or an agent; the pid in `from` only names the sender's node.
   */
  protected get sender(): PeerIdentity {
    const sender = this.currentSender;
    if (!sender) throw new DcosError(Code.FAILED_PRECONDITION, `Actor '${this.name}' asked for a sender outside a message handler`);
    return sender;
  }

  get running(): boolean {
    return this.state === "running";
  }

  /** Items waiting in this actor's mailbox behind the one being handled (messages, timers, deferred results). */
  protected get queuedItems(): number {
    return this.mailbox.length;
  }

  private attached(): { system: ActorSystem; pid: Pid; log: Logger } {
    if (!this.attachment) throw new DcosError(Code.FAILED_PRECONDITION, `Actor '${this.name}' is not spawned`);
    return this.attachment;
  }

  /** Handles messages of the schema's type with fn; one handler per type. */
  protected install<S extends DescMessage>(schema: S, fn: Handler<MessageShape<S>>, options: HandlerOptions<S> = {}): void {
    if (this.handlers.has(schema.typeName)) {
      throw new DcosError(Code.ALREADY_EXISTS, `Actor '${this.name}' already has a handler for ${schema.typeName}`);
    }
    const read = options.unread?.length ? (messageReader(schema, { unread: options.unread }) as (bytes: Uint8Array) => Message) : undefined;
    this.handlers.set(schema.typeName, { schema, fn: fn as Handler<Message>, ...(read ? { read } : {}) });
    this.attachment?.system.types.add(schema);
  }

  /** One-way, ordered per sender→receiver pair. */
  protected send(to: Pid, message: Message): void {
    this.system.send(this.self, to, message);
  }

  /** Asks for exited(pid) when pid terminates or the connection to its node breaks. */
  protected link(pid: Pid): void {
    this.system.link(this, pid);
  }

  protected unlink(pid: Pid): void {
    this.system.unlink(this, pid);
  }

  /** Runs fn inside this actor after ms on the system's clock. */
  protected delay(ms: number, fn: () => void): Timer {
    const system = this.system;
    let timer: Timer | undefined = undefined;
    const handle: Timer = {
      cancel: () => {
        timer?.cancel();
        this.timers.delete(handle);
      },
    };
    timer = system.clock.setTimer(ms, () => {
      this.timers.delete(handle);
      system.enqueueFunction(this, fn);
    });
    this.timers.add(handle);
    return handle;
  }

  /** Waits for a promise outside the actor, then runs onResult / onError inside it. */
  protected defer<T>(promise: Promise<T>, onResult: (value: T) => void, onError?: (error: unknown) => void): void {
    const system = this.system;
    promise.then(
      (value) => system.enqueueFunction(this, () => onResult(value)),
      (error: unknown) =>
        system.enqueueFunction(this, () => {
          if (onError) onError(error);
          else this.log.error({ err: error }, "Deferred work failed with no error handler");
        }),
    );
  }

  /** Stops this actor after the current item; queued items are dropped. */
  protected terminate(): void {
    this.system.terminate(this);
  }
}
