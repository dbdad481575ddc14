/**
 * One page of GET /tasks: the tasks ordered by their first status's time (newest first, or
 * oldest with order=asc; tasks with equal times keep the order they were listed in, as a
 * stable sort leaves them), from `offset`, at most `limit`. Picked with a heap of
 * offset + limit entries in one pass — O(tasks · log(page)) — instead of sorting all
 * 100,000 tasks of a large cluster for a page of 100.
 */
import type { Task } from "../gen/dcos/v1/tasks_pb.js";

export type TaskOrder = "asc" | "desc";

interface Entry {
  at: number;
  index: number;
  task: Task;
}

/** The first status's time (0 before any status), what /tasks orders by. */
function firstStatusAt(t: Task): number {
  return t.statuses[0]?.timestamp ?? 0;
}

/**
 * The page of the tasks in `lists` (in their listed order, list after list) for
 * offset/limit in `order`; `visible` leaves tasks out before counting (a caller's view ACLs).
 */
export function taskPage(lists: ReadonlyArray<readonly Task[]>, order: TaskOrder, offset: number, limit: number, visible?: (t: Task) => boolean): Task[] {
  const k = offset + limit;
  if (limit === 0) return [];
  const desc = order === "desc";
  // Whether a task at `at`, listed at `index`, comes before entry b in the page's order.
  const precedes = (at: number, index: number, b: Entry): boolean => (at !== b.at ? (desc ? at > b.at : at < b.at) : index < b.index);
  const before = (a: Entry, b: Entry): boolean => precedes(a.at, a.index, b);
  // A heap whose root is the entry that comes last among those kept: a task replaces it when it comes before it.
  const heap: Entry[] = [];
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(heap[p]!, heap[i]!)) return;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let last = i;
      if (l < heap.length && before(heap[last]!, heap[l]!)) last = l;
      if (r < heap.length && before(heap[last]!, heap[r]!)) last = r;
      if (last === i) return;
      [heap[last], heap[i]] = [heap[i]!, heap[last]!];
      i = last;
    }
  };
  let index = 0;
  for (const list of lists) {
    for (const task of list) {
      if (visible && !visible(task)) continue;
      const at = firstStatusAt(task);
      if (heap.length < k) {
        heap.push({ at, index: index++, task });
        up(heap.length - 1);
      } else if (precedes(at, index++, heap[0]!)) {
        // Only a task that enters the page makes an entry (most of 100,000 do not).
        heap[0] = { at, index: index - 1, task };
        down(0);
      }
    }
  }
  heap.sort((a, b) => (before(a, b) ? -1 : 1));
  return heap.slice(offset).map((e) => e.task);
}
