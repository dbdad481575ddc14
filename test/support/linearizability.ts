/**
 * A linearizability checker in the style of Porcupine / Knossos: the Wing & Gong search
 * over a history of concurrent operations, with Lowe's memoization of (set of operations
 * linearized, model state) so that equivalent branches are explored once, and
 * P-compositionality (a history is checked per partition, e.g. per key).
 *
 * An operation whose outcome is unknown (the client gave up: crash, timeout, lost
 * leadership) has `ret = Infinity` and `output = undefined`: it may take effect at any
 * point after its call, or never (being linearized after everything else is the same as
 * never happening, as nothing observes it).
 */

export interface Operation<I, O> {
  client: number;
  input: I;
  /** undefined when the outcome is unknown. */
  output: O | undefined;
  call: number;
  /** Infinity when the outcome is unknown. */
  ret: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Applies input to state; ok is false if the model cannot produce `output` (undefined
   *  output: any output is acceptable). */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** A string that is equal for equal states (for memoization). */
  key(state: S): string;
  /** Splits a history into independent sub-histories (optional). */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  describe?(op: Operation<I, O>): string;
}

export interface CheckResult {
  ok: boolean;
  /** For a failure: the partition that cannot be linearized, described. */
  partition?: string[];
  /** The longest prefix of linearized operations found, described. */
  longest?: string[];
}

interface Entry {
  id: number;
  call: boolean;
  time: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Builds the doubly linked list of call and return events, by time; calls before returns at equal times. */
function makeEntries<I, O>(ops: Operation<I, O>[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, id) => {
    const ret: Entry = { id, call: false, time: op.ret, match: undefined, prev: undefined, next: undefined };
    const call: Entry = { id, call: true, time: op.call, match: ret, prev: undefined, next: undefined };
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.id - b.id : a.call ? -1 : 1));
  const head: Entry = { id: -1, call: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(e: Entry): void {
  e.prev!.next = e.next;
  e.next!.prev = e.prev;
  const m = e.match!;
  m.prev!.next = m.next;
  if (m.next) m.next.prev = m.prev;
}

function unlift(e: Entry): void {
  const m = e.match!;
  m.prev!.next = m;
  if (m.next) m.next.prev = m;
  e.prev!.next = e;
  e.next!.prev = e;
}

class Bitset {
  private readonly words: Uint32Array;
  constructor(n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32) || 1);
  }
  set(i: number): void {
    this.words[i >> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >> 5]! &= ~(1 << (i & 31));
  }
  key(): string {
    return this.words.join(",");
  }
}

/** Checks one partition; returns the ids of the longest linearized prefix on failure. */
function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): { ok: boolean; longest: number[] } {
  const head = makeEntries(ops);
  const linearized = new Bitset(ops.length);
  const cache = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let longest: number[] = [];
  while (head.next !== undefined) {
    if (entry === undefined) throw new Error("linearizability: ran off the end of the history");
    if (entry.call) {
      const op = ops[entry.id]!;
      const r = model.step(state, op.input, op.output);
      if (r.ok) {
        linearized.set(entry.id);
        const key = linearized.key() + "|" + model.key(r.state);
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.id);
      }
      entry = entry.next;
    } else {
      // A return whose call is not linearized: backtrack.
      if (stack.length > longest.length) longest = stack.map((s) => s.entry.id);
      const top = stack.pop();
      if (!top) return { ok: false, longest };
      state = top.state;
      linearized.clear(top.entry.id);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { ok: true, longest: [] };
}

export function checkLinearizable<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): CheckResult {
  const partitions = model.partition ? model.partition(history) : [history];
  const describe = (op: Operation<I, O>) =>
    model.describe ? model.describe(op) : `${op.client}: ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)} [${op.call}, ${op.ret}]`;
  for (const ops of partitions) {
    const r = checkPartition(model, ops);
    if (!r.ok) return { ok: false, partition: ops.map(describe), longest: r.longest.map((i) => describe(ops[i]!)) };
  }
  return { ok: true };
}

// ---- a key-value model: put, get, compare-and-set -------------------------------------

export type KvInput =
  | { op: "put"; key: string; value: string }
  | { op: "get"; key: string }
  | { op: "cas"; key: string; from: string | null; to: string };

/** get: the value read (null for absent); cas: whether it swapped; put: true. */
export type KvOutput = string | null | boolean;

export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case "put":
        return { ok: true, state: input.value };
      case "get":
        return { ok: output === undefined || output === state, state };
      case "cas": {
        const swaps = state === input.from;
        if (output !== undefined && output !== swaps) return { ok: false, state };
        return { ok: true, state: swaps ? input.to : state };
      }
    }
  },
  key: (state) => (state === null ? "\u0000" : state),
  partition(history) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key) ?? [];
      list.push(op);
      byKey.set(op.input.key, list);
    }
    return [...byKey.values()];
  },
  describe(op) {
    const i = op.input;
    const what = i.op === "put" ? `put(${i.key}, ${i.value})` : i.op === "get" ? `get(${i.key})` : `cas(${i.key}, ${i.from}, ${i.to})`;
    const out = op.output === undefined ? "?" : JSON.stringify(op.output);
    return `client ${op.client}: ${what} -> ${out} [${op.call}, ${op.ret === Infinity ? "∞" : op.ret}]`;
  },
};
