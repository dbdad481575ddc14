interface Waiter<T> {
  resolve: (r: IteratorResult<T>) => void;
  reject: (e: Error) => void;
}

/**
 * An unbounded queue read as an async iterator: the producer pushes, a `for await` loop
 * consumes. close() ends the loop after what is buffered; close(error) makes the loop
 * throw the error once the buffer is drained. Leaving the loop early (break) unregisters
 * the queue through onReturn.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private closed = false;
  private failure: Error | undefined;

  constructor(private readonly onReturn: (queue: EventQueue<T>) => void = () => {}) {}

  get size(): number {
    return this.buffer.length;
  }

  push(value: T): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value, done: false });
    else this.buffer.push(value);
  }

  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    if (this.buffer.length > 0) return;
    for (const waiter of this.waiters.splice(0)) this.settleClosed(waiter);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.closed) this.settleClosed(waiter);
      else this.waiters.push(waiter);
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.failure = undefined;
    this.close();
    this.onReturn(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private settleClosed(waiter: Waiter<T>): void {
    const failure = this.failure;
    this.failure = undefined;
    if (failure) waiter.reject(failure);
    else waiter.resolve({ value: undefined, done: true });
  }
}
