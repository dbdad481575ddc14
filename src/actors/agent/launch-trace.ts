/**
 * Per-stage timestamps of command task launches, for the `containers` bench: where the
 * time from RunTask to TASK_RUNNING goes. Off by default (AgentOptions.launchTrace); when
 * on, each stage is one `performance.now()` into a map keyed by task id, bounded (the
 * oldest tasks are forgotten first). The containerizer reports its own stages by container
 * id (ContainerizerTrace); `alias` maps a container to its task.
 */
export class LaunchTrace {
  private readonly tasks = new Map<string, Map<string, number>>();
  private readonly containers = new Map<string, string>();

  constructor(private readonly capacity = 10_000) {}

  /** Stage `stage` of task `taskId` happened now (the first time only). */
  mark(taskId: string, stage: string): void {
    let stages = this.tasks.get(taskId);
    if (!stages) {
      if (this.tasks.size >= this.capacity) {
        const oldest = this.tasks.keys().next().value as string;
        this.tasks.delete(oldest);
      }
      this.tasks.set(taskId, (stages = new Map()));
    }
    if (!stages.has(stage)) stages.set(stage, performance.now());
  }

  /** The container `containerId` runs task `taskId` (its stages are the task's). */
  alias(containerId: string, taskId: string): void {
    if (this.containers.size >= this.capacity) this.containers.delete(this.containers.keys().next().value as string);
    this.containers.set(containerId, taskId);
  }

  /** A containerizer's stage, by container id (ignored for a container with no task). */
  container(containerId: string, stage: string): void {
    const taskId = this.containers.get(containerId);
    if (taskId !== undefined) this.mark(taskId, stage);
  }

  /** The stages of a task, in the order they happened (ms, performance.now()). */
  stages(taskId: string): ReadonlyMap<string, number> | undefined {
    return this.tasks.get(taskId);
  }
}
