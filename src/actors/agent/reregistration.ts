import { taskUser } from "../task-user.js";
import { create } from "@bufbuild/protobuf";
import type { AgentInfo, FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { ReregisterAgentSchema, RunningExecutorSchema, type ReregisterAgent, type RunningExecutor } from "../../gen/dcos/v1/internal_pb.js";
import { TaskSchema, type Task } from "../../gen/dcos/v1/tasks_pb.js";
import { AGENT_VERSION } from "./agent-options.js";
import type { ExecutorRecord, FrameworkOnAgent, TaskRecord } from "./agent-records.js";

/** The master's view of one task the agent runs. */
export function taskProto(agentId: string, frameworkId: string, ex: ExecutorRecord, t: TaskRecord, frameworkUser = ""): Task {
  return create(TaskSchema, {
    name: t.info.name,
    taskId: t.info.taskId,
    frameworkId: { value: frameworkId },
    executorId: ex.info.executorId,
    agentId: { value: agentId },
    state: t.state,
    resources: t.info.resources,
    labels: t.info.labels,
    killPolicy: t.info.killPolicy,
    role: t.role,
    user: taskUser(t.info, frameworkUser),
  });
}

/** ReregisterAgent: the agent's info (with its id) and everything it runs. */
export function reregistration(info: AgentInfo, frameworks: Iterable<FrameworkOnAgent>): ReregisterAgent {
  const agentId = info.id?.value ?? "";
  const tasks: Task[] = [];
  const executors: RunningExecutor[] = [];
  const infos: FrameworkInfo[] = [];
  for (const fw of frameworks) {
    infos.push(fw.info);
    for (const ex of fw.executors.values()) {
      executors.push(create(RunningExecutorSchema, { executorInfo: ex.info, frameworkId: { value: fw.id } }));
      for (const t of ex.tasks.values()) tasks.push(taskProto(agentId, fw.id, ex, t, fw.info.user));
    }
  }
  return create(ReregisterAgentSchema, { agentInfo: info, version: AGENT_VERSION, tasks, executors, frameworks: infos });
}
