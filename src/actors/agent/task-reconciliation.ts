/**
 * The master asks about tasks it holds here that a reregistration did not list (that
 * reregistration may be older than their RunTask). A task this agent knows (it runs it, or
 * its updates are still pending or were acknowledged to the end) reports through its own
 * updates; one it does not know was never received: it ends as `unknownState`
 * (TASK_DROPPED or TASK_LOST, as the master says for the framework), sent reliably, and is
 * remembered so that a late RunTask for it is refused (launch.ts).
 */
import { TaskState, TaskStatus_Reason } from "../../gen/dcos/v1/tasks_pb.js";
import type { Pid } from "../../runtime/pid.js";
import { taskStateName } from "../task-states.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";

/** Tasks remembered as reported never received, against a late RunTask. */
const RECONCILED_AWAY_KEPT = 10_000;

export function reconcileTasks(a: AgentContext, fwId: string, taskIds: string[], unknownState: TaskState, from: Pid): void {
  if (!a.fromMaster(from, "task reconciliation")) return;
  if (a.phase !== AgentPhase.RUNNING) {
    a.drop(`task reconciliation for ${taskIds.join(",")}`, `the agent is ${a.phase} (the master asks again when it reregisters)`);
    return;
  }
  if (!fwId || taskIds.some((id) => !id)) {
    a.drop("a task reconciliation", "it names no framework or a task without id");
    return;
  }
  if (unknownState !== TaskState.DROPPED && unknownState !== TaskState.LOST) {
    a.drop(`task reconciliation for ${taskIds.join(",")}`, `unknown_state ${taskStateName(unknownState)} is neither TASK_DROPPED nor TASK_LOST`);
    return;
  }
  for (const taskId of taskIds) {
    if (a.frameworks.get(fwId)?.executorOfTask(taskId)) continue;
    a.host.defer(
      a.statusUpdates.knows(fwId, taskId),
      (known) => {
        if (known || a.frameworks.get(fwId)?.executorOfTask(taskId)) return;
        a.metrics.reconciledUnknown.inc();
        rememberReconciledAway(a, fwId, taskId);
        a.taskStatus(fwId, undefined, taskId, unknownState, TaskStatus_Reason.RECONCILIATION, `Task ${taskId} is not on agent ${a.agentId}: its launch never reached the agent`);
      },
      (err) => a.log.error({ err, taskId }, `Could not reconcile task ${taskId}: ${(err as Error).message}`),
    );
  }
}

function rememberReconciledAway(a: AgentContext, fwId: string, taskId: string): void {
  a.reconciledAway.add(`${fwId}/${taskId}`);
  if (a.reconciledAway.size > RECONCILED_AWAY_KEPT) a.reconciledAway.delete(a.reconciledAway.values().next().value!);
}
