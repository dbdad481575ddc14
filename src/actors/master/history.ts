/** The newest `capacity` items added, oldest first (completed tasks and frameworks for /state). */
export class BoundedHistory<T> {
  private readonly items: T[] = [];

  constructor(readonly capacity: number) {}

  add(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  values(): readonly T[] {
    return this.items;
  }
}
