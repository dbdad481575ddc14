import type { Actor } from "./actor.js";

/**
 * The public face of an actor: methods that return promises and run inside the actor.
 * Subclasses write `query() { return this.call((a) => a.query()); }`; the call becomes a
 * mailbox item, so the actor's state is touched only by the actor.
 */
export class Facade<A extends Actor> {
  constructor(protected readonly actor: A) {}

  protected call<R>(fn: (actor: A) => R | Promise<R>): Promise<R> {
    return this.actor.system.dispatch(this.actor, fn);
  }
}
