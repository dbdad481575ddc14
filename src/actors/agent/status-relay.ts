/**
 * Status relay: the status update manager's sends and resends go to the master (while the
 * agent is registered; the manager resends on resume), and the master's acknowledgements
 * come back to the manager, then to the executor. A terminal task leaves once acknowledged.
 * Updates the agent itself makes are AgentContext.taskStatus; executors' come through
 * executor-calls.ts.
 */
import { create } from "@bufbuild/protobuf";
import { ExecutorEventSchema } from "../../gen/dcos/v1/executor_pb.js";
import type { StatusUpdate } from "../../gen/dcos/v1/internal_pb.js";
import type { Pid } from "../../runtime/pid.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { ExecutorPhase } from "./agent-records.js";
import { AckOutcome } from "./status-update-manager.js";

/** Called (inside the agent) by the status update manager for every send and resend. */
export function forwardUpdate(a: AgentContext, u: StatusUpdate): void {
  if (a.phase !== AgentPhase.RUNNING) return; // the manager resends on resume
  const rec = a.frameworks.get(u.frameworkId?.value ?? "")?.executorOfTask(u.status?.taskId?.value ?? "")?.tasks.get(u.status?.taskId?.value ?? "");
  if (rec) u.latestState = rec.state;
  a.host.send(a.masters.current, u);
  if (a.opts.launchTrace && u.status) a.opts.launchTrace.mark(u.status.taskId?.value ?? "", `${taskStateName(u.status.state)} sent`);
}

/** StatusUpdateAcknowledgement from the master. */
export function acknowledgement(a: AgentContext, fwId: string, taskId: string, uuid: Uint8Array, from: Pid): void {
  if (!a.fromMaster(from, `acknowledgement for task ${taskId}`)) return;
  a.opts.launchTrace?.mark(taskId, "first ack received");
  a.host.defer(a.statusUpdates.acknowledge(fwId, taskId, uuid), (outcome) => {
    if (outcome !== AckOutcome.ACKNOWLEDGED) return;
    const fw = a.frameworks.get(fwId);
    const ex = fw?.executorOfTask(taskId);
    const rec = ex?.tasks.get(taskId);
    if (!fw || !ex || !rec) return;
    ex.link?.send(create(ExecutorEventSchema, { kind: { case: "acknowledged", value: { taskId: { value: taskId }, uuid } } }));
    if (isTerminal(rec.state)) {
      ex.tasks.delete(taskId);
      if (ex.phase === ExecutorPhase.TERMINATED) a.removeExecutor(fw, ex);
    }
  });
}
