import type { Message } from "@bufbuild/protobuf";
import type { PeerIdentity } from "./identity.js";
import type { Pid } from "./pid.js";

export const enum ItemKind {
  Message = 0,
  Function = 1,
  Exited = 2,
  /** A message from the network, still as its bytes: decoded when the actor handles it. */
  Encoded = 3,
}

/** One entry of an actor's mailbox: a message, a closure (dispatch/defer/timer), or an exit notice. */
export interface MailboxItem {
  kind: ItemKind;
  from: Pid | null;
  /** For a message: who the transport authenticated its sender as. */
  sender: PeerIdentity | null;
  message: Message | null;
  /**
   * For an Encoded item: its type name and its bytes (a view into the frame it came in, which
   * no transport reuses). A message waiting in a busy actor's mailbox as bytes is one buffer
   * for the garbage collector instead of an object graph that survives its young generation
   * (docs/scale.md, "Session 11").
   */
  type: string | null;
  payload: Uint8Array | null;
  fn: (() => void) | null;
  /** For dispatch: rejects the caller's promise if the actor terminates first. */
  abandon: ((reason: Error) => void) | null;
}

/** A FIFO queue that does not shift arrays on every pop. */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns everything queued. */
  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

/** An actor's mailbox. */
export class Mailbox extends Fifo<MailboxItem> {}
