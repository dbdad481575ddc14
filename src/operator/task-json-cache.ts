/**
 * Each task's /state JSON text, kept between builds and remade only when the task
 * changed. The master changes a task in place (its state, and statuses appended or the
 * oldest dropped), so a stamp of those fields tells whether the kept text is still right;
 * a task object replaced by a new one is simply a miss. The texts live as long as the
 * task objects (a WeakMap).
 */
import type { Task } from "../gen/dcos/v1/tasks_pb.js";
import { taskJson } from "./master-state-json.js";

function stamp(t: Task): string {
  const last = t.statuses[t.statuses.length - 1];
  return last ? `${t.state}|${t.statuses.length}|${last.state}|${last.timestamp}|${last.healthy}|${last.message}` : `${t.state}`;
}

export class TaskJsonCache {
  private readonly texts = new WeakMap<Task, { stamp: string; text: string }>();
  hits = 0;
  misses = 0;

  text(task: Task): string {
    const s = stamp(task);
    const kept = this.texts.get(task);
    if (kept && kept.stamp === s) {
      this.hits++;
      return kept.text;
    }
    this.misses++;
    const text = JSON.stringify(taskJson(task));
    this.texts.set(task, { stamp: s, text });
    return text;
  }
}
