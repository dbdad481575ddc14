/**
 * A binary min-heap whose items know their position, so an item whose key changed can be
 * moved (`update`) in O(log n). The allocator keeps roles and frameworks in these, ordered
 * by share, and updates one after each allocation instead of re-sorting everyone.
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
   * The first item, in heap order, for which accept holds; items popped on the way are
   * put back. Undefined if none accepts.
   */
  find(accept: (item: T) => boolean): T | undefined {
    const top = this.items[0];
    if (top === undefined || accept(top)) return top; // the usual case: nothing to pop
    const skipped: T[] = [this.pop()!];
    let found: T | undefined;
    for (let item = this.pop(); item !== undefined; item = this.pop()) {
      skipped.push(item);
      if (accept(item)) {
        found = item;
        break;
      }
    }
    for (const item of skipped) this.push(item);
    return found;
  }
}
