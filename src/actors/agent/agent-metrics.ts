/**
 * The agent's metrics under the names Mesos operators know (`slave/registered`,
 * `slave/tasks_running`, `slave/executors_running`, …). Gauges read the agent's records
 * when a snapshot is taken; terminal task states and drops are counters.
 */
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Counter, Metrics } from "../../metrics/metrics.js";
import { Resources } from "../../resources/index.js";
import { ExecutorPhase, type FrameworkOnAgent } from "./agent-records.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";

const ACTIVE_STATES = [TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING, TaskState.KILLING] as const;
const TERMINAL_COUNTED = [
  TaskState.FINISHED,
  TaskState.FAILED,
  TaskState.KILLED,
  TaskState.LOST,
  TaskState.ERROR,
  TaskState.DROPPED,
  TaskState.GONE,
] as const;

export interface AgentView {
  registered(): boolean;
  startedAt: number;
  now(): number;
  frameworks(): Iterable<FrameworkOnAgent>;
  total(): Resource[];
  recoveryMs(): number;
}

export class AgentMetrics {
  readonly terminal = new Map<TaskState, Counter>();
  readonly dropped: Counter;
  readonly unauthorized: Counter;
  readonly reconciledUnknown: Counter;
  readonly executorsLate: Counter;
  readonly validStatusUpdates: Counter;
  readonly invalidStatusUpdates: Counter;
  readonly validFrameworkMessages: Counter;
  readonly invalidFrameworkMessages: Counter;
  readonly executorsTerminated: Counter;
  readonly containerLaunchErrors: Counter;

  constructor(metrics: Metrics, view: AgentView) {
    const c = (key: string, help: string): Counter => metrics.counter(`slave/${key}`, help);
    for (const s of TERMINAL_COUNTED) {
      const name = TaskState[s].toLowerCase();
      this.terminal.set(s, c(`tasks_${name}`, `Tasks that ended TASK_${TaskState[s]}`));
    }
    this.dropped = c("dropped_messages", "Messages from the master or executors ignored by a guard");
    this.unauthorized = c("unauthorized_messages", "Orders refused because their connection is not a master's");
    this.executorsLate = c("executors_late_reregistration", "Recovered executors that missed the reregistration timeout with their container still running (waited for, not destroyed)");
    this.reconciledUnknown = c("reconciled_unknown_tasks", "Tasks the master asked about that this agent never received (answered TASK_DROPPED or TASK_LOST)");
    this.validStatusUpdates = c("valid_status_updates", "Status updates from executors accepted");
    this.invalidStatusUpdates = c("invalid_status_updates", "Status updates from executors refused");
    this.validFrameworkMessages = c("valid_framework_messages", "Framework messages passed on");
    this.invalidFrameworkMessages = c("invalid_framework_messages", "Framework messages dropped");
    this.executorsTerminated = c("executors_terminated", "Executors whose container ended");
    this.containerLaunchErrors = c("container_launch_errors", "Executor containers that failed to launch");

    metrics.gauge("slave/registered", () => (view.registered() ? 1 : 0), "1 when registered with a master");
    metrics.gauge("slave/uptime_secs", () => (view.now() - view.startedAt) / 1000, "Seconds since the agent started");
    metrics.gauge("slave/recovery_time_secs", () => view.recoveryMs() / 1000, "Seconds the agent took to recover on start");
    const tasksIn = (s: TaskState): number => {
      let n = 0;
      for (const fw of view.frameworks()) for (const ex of fw.executors.values()) for (const t of ex.tasks.values()) if (t.state === s) n++;
      return n;
    };
    for (const s of ACTIVE_STATES) metrics.gauge(`slave/tasks_${TaskState[s].toLowerCase()}`, () => tasksIn(s), `Tasks now TASK_${TaskState[s]}`);
    const executorsIn = (phases: ExecutorPhase[]): number => {
      let n = 0;
      for (const fw of view.frameworks()) for (const ex of fw.executors.values()) if (phases.includes(ex.phase)) n++;
      return n;
    };
    metrics.gauge("slave/executors_registering", () => executorsIn([ExecutorPhase.LAUNCHING, ExecutorPhase.REGISTERING]), "Executors not yet subscribed");
    metrics.gauge("slave/executors_running", () => executorsIn([ExecutorPhase.RUNNING]), "Executors subscribed");
    metrics.gauge("slave/executors_terminating", () => executorsIn([ExecutorPhase.TERMINATING]), "Executors shutting down");
    metrics.gauge("slave/frameworks_active", () => [...view.frameworks()].filter((f) => !f.terminating).length, "Frameworks with executors here");
    const used = (): Resources => {
      let r = Resources.empty();
      for (const fw of view.frameworks())
        for (const ex of fw.executors.values()) for (const t of ex.liveTasks()) r = r.add(Resources.of(t.info.resources));
      return r;
    };
    for (const name of ["cpus", "mem", "disk"]) {
      metrics.gauge(`slave/${name}_total`, () => Resources.of(view.total()).scalar(name), `${name} this agent offers`);
      metrics.gauge(`slave/${name}_used`, () => used().scalar(name), `${name} used by running tasks`);
    }
  }

  /** Counts a task entering a terminal state. */
  taskEnded(state: TaskState): void {
    this.terminal.get(state)?.inc();
  }
}
