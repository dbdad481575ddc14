/**
 * Scalar quantities by name ("cpus" → 4, "mem" → 8192), regardless of role, kept in
 * integer thousandths so sums never drift. This is what shares are computed from.
 * Mutable on purpose: the allocator updates them in place on its hot path.
 */
import { fromMillis, toMillis } from "./scalar.js";

export class Quantities {
  private readonly millis = new Map<string, number>();

  static of(entries: Iterable<readonly [string, number]>): Quantities {
    const q = new Quantities();
    for (const [name, value] of entries) q.addMillis(name, toMillis(value));
    return q;
  }

  get(name: string): number {
    return fromMillis(this.millis.get(name) ?? 0);
  }

  names(): IterableIterator<string> {
    return this.millis.keys();
  }

  isEmpty(): boolean {
    return this.millis.size === 0;
  }

  addMillis(name: string, millis: number): void {
    const next = (this.millis.get(name) ?? 0) + millis;
    if (next <= 0) this.millis.delete(name);
    else this.millis.set(name, next);
  }

  /** Adds every quantity of other (subtracts with sign −1, never going below zero). */
  addAll(other: Quantities, sign: 1 | -1 = 1): this {
    for (const [name, m] of other.millis) this.addMillis(name, sign * m);
    return this;
  }

  clone(): Quantities {
    return new Quantities().addAll(this);
  }

  /**
   * The dominant share: the largest fraction this holds of any quantity in total. Names
   * that total lacks (or holds zero of) do not count.
   */
  dominantShare(total: Quantities): number {
    let share = 0;
    for (const [name, m] of this.millis) {
      const t = total.millis.get(name);
      if (t === undefined) continue;
      const s = m / t;
      if (s > share) share = s;
    }
    return share;
  }

  /** Calls fn with each name and its amount in thousandths (no allocation: the allocator's hot path). */
  forEachMillis(fn: (name: string, millis: number) => void): void {
    for (const [name, m] of this.millis) fn(name, m);
  }

  entries(): [string, number][] {
    return [...this.millis].map(([name, m]) => [name, fromMillis(m)]);
  }

  toString(): string {
    return this.entries()
      .map(([n, v]) => `${n}:${v}`)
      .join("; ");
  }
}
