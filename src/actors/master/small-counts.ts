/**
 * Counts by key, for the master's per-agent tallies (counts.ts): an agent's tasks per state
 * and per framework are a handful of keys, and a Map is ~190 bytes even with one (two per
 * agent, 20,000 after a failover at 10,000 agents). Up to SMALL keys they are one flat list
 * at its length ([key, count, key, count, …], ~100 bytes with one key); beyond, a Map (a
 * framework's tally counts the agents it runs on: thousands). The part of Map's interface
 * the tallies use; iteration in insertion order, as a Map's.
 */
export const SMALL_COUNTS_KEYS = 8;

export class SmallCounts<K> implements Iterable<[K, number]> {
  /** key, count, key, count, … while there are at most SMALL_COUNTS_KEYS keys; made anew (at its length) when a key comes or goes. */
  private pairs: unknown[] = NONE;
  private map: Map<K, number> | undefined;

  get size(): number {
    return this.map ? this.map.size : this.pairs.length / 2;
  }

  get(key: K): number | undefined {
    if (this.map) return this.map.get(key);
    const i = this.indexOf(key);
    return i === -1 ? undefined : (this.pairs[i + 1] as number);
  }

  set(key: K, count: number): this {
    if (this.map) {
      this.map.set(key, count);
      return this;
    }
    const i = this.indexOf(key);
    if (i !== -1) this.pairs[i + 1] = count;
    else if (this.pairs.length / 2 < SMALL_COUNTS_KEYS) this.pairs = this.pairs.concat([key, count]); // concat: at its length (a spread leaves room)
    else {
      this.map = new Map(this);
      this.map.set(key, count);
      this.pairs = NONE;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.map) return this.map.delete(key);
    const i = this.indexOf(key);
    if (i === -1) return false;
    this.pairs = this.pairs.length === 2 ? NONE : this.pairs.slice(0, i).concat(this.pairs.slice(i + 2));
    return true;
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this) yield key;
  }

  *[Symbol.iterator](): IterableIterator<[K, number]> {
    if (this.map) {
      yield* this.map;
      return;
    }
    const pairs = this.pairs;
    for (let i = 0; i < pairs.length; i += 2) yield [pairs[i] as K, pairs[i + 1] as number];
  }

  private indexOf(key: K): number {
    const pairs = this.pairs;
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === key) return i;
    return -1;
  }
}

/** No keys (never written: a key is added by a copy). */
const NONE: unknown[] = Object.freeze([]) as unknown as unknown[];
