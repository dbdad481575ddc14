/** ClusterEvents as the master's Operator Subscribe stream sends them, for the DNS tests. */
import { create } from "@bufbuild/protobuf";
import { AgentEntry_Status, ClusterEventSchema, type ClusterEvent } from "../../src/gen/dcos/v1/operator_pb.js";
import { TaskSchema, TaskState, type Task } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";

let sequence = 0n;
function event(kind: ClusterEvent["kind"]): ClusterEvent {
  return create(ClusterEventSchema, { sequence: ++sequence, timestamp: Date.now() / 1000, source: "master@127.0.0.1:5050", kind } as never);
}

export function agent(id: string, ip: string, status = AgentEntry_Status.ACTIVE) {
  return { agentInfo: { id: { value: id }, hostname: `host-${id}`, pid: `agent@${ip}:5051` }, status };
}

export function framework(id: string, name: string) {
  return { frameworkInfo: { id: { value: id }, name, roles: ["*"] }, active: true, connected: true };
}

export interface TaskOptions {
  id: string;
  name: string;
  framework: string;
  agent: string;
  state?: TaskState;
  ports?: number[];
  labels?: Record<string, string>;
}

export function task(o: TaskOptions): Task {
  return create(TaskSchema, {
    taskId: { value: o.id },
    name: o.name,
    frameworkId: { value: o.framework },
    agentId: { value: o.agent },
    state: o.state ?? TaskState.RUNNING,
    resources: o.ports?.length
      ? [{ name: "ports", type: Value_Type.RANGES, ranges: { range: o.ports.map((p) => ({ begin: p, end: p })) } }]
      : [],
    labels: { labels: Object.entries(o.labels ?? {}).map(([key, value]) => ({ key, value })) },
  } as never);
}

export function master(ip: string, port = 5050) {
  return { id: "m1", hostname: "m1", port, pid: `master@${ip}:${port}` };
}

export interface Snapshot {
  agents?: ReturnType<typeof agent>[];
  frameworks?: ReturnType<typeof framework>[];
  tasks?: Task[];
  leader?: ReturnType<typeof master>;
}

export function subscribed(s: Snapshot): ClusterEvent {
  return event({
    case: "subscribed",
    value: {
      heartbeatIntervalSeconds: 15,
      getState: {
        getAgents: { agents: s.agents ?? [] },
        getFrameworks: { frameworks: s.frameworks ?? [] },
        getTasks: { tasks: s.tasks ?? [] },
        masterInfo: s.leader,
      },
    },
  } as never);
}

export const taskAdded = (t: Task): ClusterEvent => event({ case: "taskAdded", value: { task: t } } as never);
export const taskUpdated = (id: string, fw: string, state: TaskState): ClusterEvent =>
  event({ case: "taskUpdated", value: { frameworkId: { value: fw }, status: { taskId: { value: id }, state }, state } } as never);
export const agentAdded = (a: ReturnType<typeof agent>): ClusterEvent => event({ case: "agentAdded", value: { agent: a } } as never);
export const agentRemoved = (id: string): ClusterEvent => event({ case: "agentRemoved", value: { agentId: { value: id }, reason: "test" } } as never);
export const frameworkAdded = (f: ReturnType<typeof framework>): ClusterEvent => event({ case: "frameworkAdded", value: { framework: f } } as never);
export const leaderChanged = (m: ReturnType<typeof master> | undefined): ClusterEvent => event({ case: "leaderChanged", value: { leader: m } } as never);
