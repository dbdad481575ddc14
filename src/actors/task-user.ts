/**
 * The user a task runs as, as masters and agents both decide it: its command's user, else
 * its executor's command's, else its framework's (Mesos's order).
 */
import type { TaskInfo } from "../gen/dcos/v1/tasks_pb.js";

export function taskUser(task: Pick<TaskInfo, "command" | "executor">, frameworkUser: string | undefined): string {
  return task.command?.user || task.executor?.command?.user || frameworkUser || "";
}
