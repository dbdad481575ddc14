/**
 * A small seeded pseudo-random generator (mulberry32), so that simulations replay
 * identically from their seed. Not for cryptography.
 */
import { randomInt } from "node:crypto";

export class Random {
  /** A generator seeded from the OS: for a process outside any simulation (its seed is still readable). */
  static fromOs(): Random {
    return new Random(randomInt(2 ** 32));
  }

  private state: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi] inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Random.pick on an empty list");
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** 16 bytes shaped as a version-4 UUID (status update uuids, container ids), drawn from this source. */
  uuidBytes(): Uint8Array {
    const b = new Uint8Array(16);
    for (let i = 0; i < 16; i += 4) {
      const word = this.int(4294967296);
      b[i] = word >>> 24;
      b[i + 1] = (word >>> 16) & 0xff;
      b[i + 2] = (word >>> 8) & 0xff;
      b[i + 3] = word & 0xff;
    }
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    return b;
  }

  /** A version-4 UUID in its text form (8-4-4-4-12 hex digits), drawn from this source. */
  uuid(): string {
    const h = Buffer.from(this.uuidBytes()).toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** An independent generator derived from this one (for a sub-component). */
  fork(): Random {
    return new Random(Math.floor(this.next() * 4294967296));
  }
}
