/**
 * GET /tasks' page picked with a heap (task-page.ts) is the page of a stable sort of all
 * tasks by their first status's time (what /tasks did before), for every order, offset and
 * limit, with ties, tasks without statuses, and a visibility filter.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { TaskSchema, TaskState, type Task } from "../../src/gen/dcos/v1/tasks_pb.js";
import { taskPage, type TaskOrder } from "../../src/operator/task-page.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

/** The reference: every visible task sorted (stably) then sliced. */
function sortedPage(tasks: readonly Task[], order: TaskOrder, offset: number, limit: number, visible: (t: Task) => boolean): Task[] {
  const at = (t: Task) => t.statuses[0]?.timestamp ?? 0;
  return tasks
    .filter(visible)
    .sort((a, b) => (order === "asc" ? at(a) - at(b) : at(b) - at(a)))
    .slice(offset, offset + limit);
}

describe("/tasks page", () => {
  it("is the page of a stable sort by first status time, for random tasks, orders, offsets and limits", () => {
    const seed = testSeed(11);
    const r = new Random(seed);
    for (let round = 0; round < 200; round++) {
      const n = r.int(60);
      const tasks = Array.from({ length: n }, (_, i) =>
        create(TaskSchema, {
          taskId: { value: `t${i}` },
          state: TaskState.RUNNING,
          user: r.int(3) === 0 ? "hidden" : "",
          // Few distinct times: many ties; some tasks have no status yet.
          statuses: r.int(5) === 0 ? [] : [{ state: TaskState.RUNNING, timestamp: 1000 + r.int(8) }],
        }),
      );
      const order: TaskOrder = r.int(2) === 0 ? "asc" : "desc";
      const offset = r.int(n + 3);
      const limit = r.int(n + 3);
      const visible = r.int(2) === 0 ? () => true : (t: Task) => t.user !== "hidden";
      // The tasks in up to three lists, as /tasks passes them (live, unreachable, completed).
      const cut1 = r.int(n + 1);
      const cut2 = cut1 + r.int(n - cut1 + 1);
      const got = taskPage([tasks.slice(0, cut1), tasks.slice(cut1, cut2), tasks.slice(cut2)], order, offset, limit, visible).map((t) => t.taskId!.value);
      const want = sortedPage(tasks, order, offset, limit, visible).map((t) => t.taskId!.value);
      assert.deepEqual(got, want, `seed ${seed} (replay: DCOS_SEED=${seed}), round ${round}: ${n} tasks, ${order}, offset ${offset}, limit ${limit}`);
    }
  });
});
