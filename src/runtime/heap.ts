/**
 * A binary min-heap whose items know their position, so an item whose key changed can be
 * moved (`update`) in O(log n). The allocator keeps roles and frameworks in these, ordered
 * by share, and updates one after each allocation instead of re-sorting everyone; the jobs
 * planner keeps quiet jobs in one, by when they next need planning.
 */
export interface HeapItem {
  /** Position in the heap, −1 when not in one. Owned by the heap. */
  heapIndex: number;
}

export class Heap<T extends HeapItem> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    top.heapIndex = -1;
    return top;
  }

  /** Restores order after item's key changed; pushes it if it is not in the heap. */
  update(item: T): void {
    const i = item.heapIndex;
    if (i < 0 || this.items[i] !== item) {
      this.push(item);
      return;
    }
    this.up(i);
    this.down(item.heapIndex);
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!this.before(item, p)) break;
      items[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!this.before(child, item)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  /**
   * The first item, in heap order, for which accept holds; undefined if none accepts. The
   * heap is not changed: the items are visited best-first through the heap's own tree (a
   * parent comes before its children), keeping the frontier of positions not yet visited in
   * a small heap of its own — no item moves and nothing is allocated on the usual paths
   * (the frontier array is reused; accept may search other heaps, not this one).
   */
  find(accept: (item: T) => boolean): T | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined || accept(top)) return top; // the usual case: the best one takes it
    const n = items.length;
    this.frontierSize = 0;
    if (n > 1) this.frontierPush(1);
    if (n > 2) this.frontierPush(2);
    while (this.frontierSize > 0) {
      const pos = this.frontierPop();
      const item = items[pos]!;
      if (accept(item)) return item;
      const l = 2 * pos + 1;
      if (l < n) this.frontierPush(l);
      if (l + 1 < n) this.frontierPush(l + 1);
    }
    return undefined;
  }

  /** Takes item out of the heap (no-op if it is not in it). */
  remove(item: T): void {
    const i = item.heapIndex;
    const items = this.items;
    if (i < 0 || items[i] !== item) return;
    const last = items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  /** Positions for find's frontier (never more than the heap's size), a heap by `before` of their items. */
  private readonly frontier: number[] = [];
  private frontierSize = 0;

  private frontierPush(pos: number): void {
    const frontier = this.frontier;
    const items = this.items;
    let i = this.frontierSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = frontier[parent]!;
      if (!this.before(items[pos]!, items[p]!)) break;
      frontier[i] = p;
      i = parent;
    }
    frontier[i] = pos;
  }

  private frontierPop(): number {
    const frontier = this.frontier;
    const items = this.items;
    const best = frontier[0]!;
    const size = --this.frontierSize;
    const last = frontier[size]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const c = r < size && this.before(items[frontier[r]!]!, items[frontier[l]!]!) ? r : l;
      if (!this.before(items[frontier[c]!]!, items[last]!)) break;
      frontier[i] = frontier[c]!;
      i = c;
    }
    frontier[i] = last;
    return best;
  }
}
