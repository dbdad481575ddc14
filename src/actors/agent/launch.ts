/**
 * The launch path: RunTask / RunTaskGroup from the master → the executor to run them in
 * (an existing one or a new container: sandbox, fetched URIs, the containerizer's launch)
 * → the executor subscribes (or a Docker task, or a command task run directly, runs with
 * the agent as its executor: docker-task.ts, command-task.ts) → the queued tasks are sent
 * to it. Also watching a container until it ends, which
 * shutdown.ts's executorTerminated then handles.
 */
import { create } from "@bufbuild/protobuf";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { ExecutorEventSchema } from "../../gen/dcos/v1/executor_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type ExecutorInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { fetchOwner, fetchUris } from "../../isolation/fetcher.js";
import type { Pid } from "../../runtime/pid.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { ExecutorPhase, ExecutorRecord, FrameworkOnAgent } from "./agent-records.js";
import { dockerTaskConfig } from "./docker-task.js";
import { commandTaskConfig } from "./command-task.js";
import { startTaskHealthCheck } from "./command-task-health.js";
import { commandExecutorInfo, executorContainerConfig, executorKind } from "./executor-config.js";
import { sandboxPath } from "./paths.js";
import { executorTerminated, killAgentRunTask } from "./shutdown.js";
import { taskVolumes } from "./volumes.js";
import { agentHostPathPolicy, hostVolumeRefusal, hostVolumes, resolveHostPaths } from "./host-volumes.js";
import { HostPathRefused } from "../../isolation/host-paths.js";

export function runTask(a: AgentContext, frameworkInfo: FrameworkInfo | undefined, task: TaskInfo | undefined, role: string, from: Pid): void {
  if (!a.fromMaster(from, "run task")) return;
  const fwId = frameworkInfo?.id?.value ?? "";
  const taskId = task?.taskId?.value ?? "";
  a.opts.launchTrace?.mark(taskId, "RunTask received");
  if (!acceptsTasks(a, fwId, [taskId])) return;
  const fw = frameworkFor(a, frameworkInfo!);
  const t = a.secrets.sealTask(task!);
  if (Boolean(t.command) === Boolean(t.executor)) {
    a.taskStatus(fwId, undefined, taskId, TaskState.ERROR, TaskStatus_Reason.TASK_INVALID, "A task needs exactly one of command and executor");
    return;
  }
  const info = t.executor ?? commandExecutorInfo(t, fwId);
  const ex = executorFor(a, fw, info, executorKind(info, !t.executor, a.opts.commandExecutor !== "process"), [t], role);
  if (!ex) return;
  ex.queue.push({ task: t });
  afterQueued(a, fw, ex, [t]);
}

export function runTaskGroup(a: AgentContext, frameworkInfo: FrameworkInfo | undefined, givenExecutor: ExecutorInfo | undefined, givenTasks: TaskInfo[], role: string, from: Pid): void {
  if (!a.fromMaster(from, "run task group")) return;
  const executorInfo = givenExecutor && a.secrets.sealExecutor(givenExecutor);
  const tasks = givenTasks.map((t) => a.secrets.sealTask(t));
  const fwId = frameworkInfo?.id?.value ?? "";
  if (!acceptsTasks(a, fwId, tasks.map((t) => t.taskId?.value ?? ""))) return;
  const fw = frameworkFor(a, frameworkInfo!);
  if (!executorInfo?.executorId?.value || tasks.length === 0) {
    for (const t of tasks) {
      a.taskStatus(fwId, undefined, t.taskId!.value, TaskState.ERROR, TaskStatus_Reason.TASK_GROUP_INVALID, "A task group needs an executor with an id and at least one task");
    }
    return;
  }
  const ex = executorFor(a, fw, executorInfo, executorKind(executorInfo, false), tasks, role);
  if (!ex) return;
  ex.queue.push({ group: { $typeName: "dcos.v1.TaskGroupInfo", tasks } });
  afterQueued(a, fw, ex, tasks);
}

/** Guards shared by RunTask and RunTaskGroup. */
function acceptsTasks(a: AgentContext, fwId: string, taskIds: string[]): boolean {
  if (a.phase !== AgentPhase.RUNNING) return a.drop(`tasks ${taskIds.join(",")}`, `the agent is ${a.phase}, not registered`);
  if (!fwId) return a.drop("a run task message", "it has no framework id");
  if (taskIds.length === 0 || taskIds.some((id) => !id)) return a.drop("a run task message", "a task has no id");
  if (a.frameworks.get(fwId)?.terminating) return a.drop(`tasks ${taskIds.join(",")}`, `framework ${fwId} is shutting down`);
  for (const id of taskIds) {
    if (a.frameworks.get(fwId)?.executorOfTask(id)) return a.drop(`task ${id}`, `framework ${fwId} already has a task with that id here`);
    if (a.reconciledAway.has(`${fwId}/${id}`)) return a.drop(`task ${id}`, "this agent already reported it as never received (its launch arrived after the master's reconciliation)");
  }
  return true;
}

/** The framework's record on this agent, added on its first task (its info refreshed on every later one). */
function frameworkFor(a: AgentContext, info: FrameworkInfo): FrameworkOnAgent {
  const id = info.id!.value;
  let fw = a.frameworks.get(id);
  if (!fw) {
    fw = new FrameworkOnAgent(info);
    a.frameworks.set(id, fw);
    a.log.info({ frameworkId: id }, `Added framework ${id}`);
  } else {
    fw.info = info;
  }
  return fw;
}

/**
 * The executor to run the tasks in: an existing live one with that id, or a new one, with
 * the tasks recorded in it (STAGING) before a new one's launch begins (its STARTING is asked
 * for at once: launchExecutor).
 */
function executorFor(a: AgentContext, fw: FrameworkOnAgent, info: ExecutorInfo, kind: ExecutorRecord["kind"], tasks: TaskInfo[], role: string): ExecutorRecord | undefined {
  const exId = info.executorId?.value ?? "";
  const existing = fw.executors.get(exId);
  if (existing) {
    if (existing.phase === ExecutorPhase.TERMINATING || existing.phase === ExecutorPhase.TERMINATED) {
      for (const t of tasks) {
        a.taskStatus(fw.id, exId, t.taskId!.value, TaskState.LOST, TaskStatus_Reason.EXECUTOR_TERMINATED, `Executor ${exId} is shutting down`);
      }
      return undefined;
    }
    addTasks(existing, tasks, role);
    return existing;
  }
  const refused = hostVolumeRefusal(info.container, agentHostPathPolicy(a.opts), a.opts.containerizer.mountsVolumes === true);
  if (refused) {
    for (const t of tasks) a.taskStatus(fw.id, exId, t.taskId!.value, TaskState.ERROR, refused.reason, refused.message);
    return undefined;
  }
  const containerId = a.random.uuid();
  let sandbox: string;
  try {
    sandbox = sandboxPath(a.opts.workDir, { agentId: a.agentId, frameworkId: fw.id, executorId: exId, containerId });
  } catch (err) {
    for (const t of tasks) a.taskStatus(fw.id, exId, t.taskId!.value, TaskState.ERROR, TaskStatus_Reason.TASK_INVALID, (err as Error).message);
    return undefined;
  }
  const ex = new ExecutorRecord(info, fw.id, kind, containerId, sandbox);
  fw.executors.set(exId, ex);
  addTasks(ex, tasks, role);
  a.log.info({ frameworkId: fw.id, executorId: exId, containerId, kind }, `Launching ${kind} executor ${exId} of framework ${fw.id} in ${sandbox}`);
  launchExecutor(a, fw, ex, tasks);
  return ex;
}

function addTasks(ex: ExecutorRecord, tasks: TaskInfo[], role: string): void {
  for (const t of tasks) ex.tasks.set(t.taskId!.value, { info: t, role, state: TaskState.STAGING, launched: false, killRequested: false });
}

function afterQueued(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, tasks: TaskInfo[]): void {
  a.log.debug({ frameworkId: fw.id, executorId: ex.id, tasks: tasks.map((t) => t.taskId?.value) }, `Queued ${tasks.length} task(s) for executor ${ex.id}`);
  if (ex.container) a.checkpoint(fw, ex);
  if (ex.phase === ExecutorPhase.RUNNING) flushQueue(a, fw, ex);
}

/** The executor's container: its config, the sandbox, the fetched URIs, then the containerizer's launch. */
function launchExecutor(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, tasks: TaskInfo[]): void {
  const { opts } = a;
  const resources: Resource[] = [...ex.info.resources, ...tasks.flatMap((t) => t.resources)];
  let config;
  try {
    if (ex.kind === "docker") {
      config = dockerTaskConfig({ task: a.secrets.resolveTask(tasks[0]!), frameworkId: fw.id, agentId: a.agentId, containerId: ex.containerId, sandbox: ex.sandbox, workDir: opts.workDir, resources });
    } else if (ex.kind === "direct") {
      // The agent is the task's executor (command-task.ts): STARTING now, RUNNING once its container runs.
      config = commandTaskConfig({ task: a.secrets.resolveTask(tasks[0]!), framework: fw.info, containerId: ex.containerId, sandbox: ex.sandbox, workDir: opts.workDir, resources, switchUser: opts.switchUser ?? false });
      config.volumes = [...(config.volumes ?? []), ...hostVolumes(ex.info.container)];
      const taskId = tasks[0]!.taskId!.value;
      opts.launchTrace?.alias(ex.containerId, taskId);
      const starting = (): void => {
        if (ex.tasks.get(taskId)?.state === TaskState.STAGING) a.taskStatus(fw.id, ex.id, taskId, TaskState.STARTING, TaskStatus_Reason.UNSPECIFIED, "", undefined, TaskStatus_Source.EXECUTOR);
      };
      // Asked for now, ahead of the sandbox (AgentOptions.startingBeforeSandbox): its record (in the
      // status update journal's next flush) is then durable, sent and acknowledged sooner, and RUNNING is
      // sent only after that acknowledgement is durable. Else after whatever the agent has queued.
      if (opts.startingBeforeSandbox === false) a.host.enqueue(starting);
      else starting();
    } else {
      config = executorContainerConfig({
        kind: ex.kind,
        info: a.secrets.resolveExecutor(ex.info),
        framework: fw.info,
        agentId: a.agentId,
        agentEndpoint: opts.executorEndpoint,
        token: opts.executorTokens?.token(fw.id, ex.id),
        recoveryTimeoutMs: opts.executorRecoveryTimeoutMs,
        containerId: ex.containerId,
        sandbox: ex.sandbox,
        resources,
        switchUser: opts.switchUser ?? false,
      });
      config.volumes = [...taskVolumes(opts.workDir, resources), ...hostVolumes(ex.info.container)];
    }
  } catch (err) {
    a.host.enqueue(() => launchFailed(a, fw, ex, err));
    return;
  }
  // Mesos's fetcher: the executor's and the tasks' URIs land in the sandbox before the container starts.
  // The agent reports this one's RUNNING itself: until then it goes ahead of containers' ends (launch-lane.ts).
  if (ex.kind === "docker" || ex.kind === "direct") a.lane.begin(ex.containerId);
  const uris = [...(ex.info.command?.uris ?? []), ...tasks.flatMap((t) => t.command?.uris ?? [])];
  const user = config.user;
  const trace = (stage: string): void => opts.launchTrace?.container(ex.containerId, stage);
  const launching = a.disk
    .track(a.fs.mkdirp(ex.sandbox))
    .then(async () => {
      trace("sandbox made");
      if (uris.length > 0) await fetchUris(uris, ex.sandbox, { owner: user === undefined ? undefined : await fetchOwner(user) });
    })
    .then(() => resolveHostPaths(config, ex.info.container, agentHostPathPolicy(opts)))
    .then(() => opts.containerizer.launch(config));
  a.host.defer(
    launching,
    (state) => {
      trace("launch returned");
      ex.container = state;
      a.checkpoint(fw, ex);
      if (ex.kind !== "docker" && ex.kind !== "direct") {
        launched(a, fw, ex);
        return;
      }
      // The agent reports RUNNING itself. Its record is written beside the container's checkpoint
      // (the two fsyncs at once), but it is sent only once the container is in the checkpoint, so
      // an agent killed right after RUNNING still finds the task (else it would destroy an orphan
      // the framework saw running). An agent killed before finds a RUNNING in the task's stream
      // and no checkpoint: recovery drops that unsent RUNNING and reports the task LOST (recovery.ts).
      const checkpointed = ex.io;
      a.host.defer(checkpointed, () => trace("container checkpointed"), () => undefined);
      if (opts.runningBesideCheckpoint === false) a.host.defer(checkpointed, () => launched(a, fw, ex), () => launched(a, fw, ex));
      else launched(a, fw, ex, checkpointed);
    },
    (err) => launchFailed(a, fw, ex, err),
  );
}

/** `checkpointed`: a task the agent reports RUNNING itself; its RUNNING is sent once that settles. */
function launched(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, checkpointed?: Promise<unknown>): void {
  watchContainer(a, fw, ex);
  if (ex.phase === ExecutorPhase.TERMINATING) {
    a.lane.settle(ex.containerId);
    a.destroyContainer(ex);
    return;
  }
  if (ex.kind === "docker" || ex.kind === "direct") {
    // Out of the lane once RUNNING and the container's checkpoint are durable (their fsyncs are the launch's last hop).
    const settle = (): void => a.lane.settle(ex.containerId);
    const stored = [...dockerTaskRunning(a, fw, ex, true, checkpointed), ...(checkpointed ? [checkpointed] : [])];
    if (stored.length === 0) settle();
    else a.host.defer(Promise.allSettled(stored), settle);
    return;
  }
  awaitSubscription(a, ex, a.opts.executorRegistrationTimeoutMs, TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT);
}

function launchFailed(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, err: unknown): void {
  a.lane.settle(ex.containerId);
  a.metrics.containerLaunchErrors.inc();
  const message = `Failed to launch the container of executor ${ex.id}: ${(err as Error).message}`;
  a.log.error({ err, executorId: ex.id }, message);
  ex.transition(ExecutorPhase.TERMINATED, a.log);
  // A host path refused once its symlinks are resolved is the task's error, like one refused on arrival.
  const [state, reason] = err instanceof HostPathRefused ? [TaskState.ERROR, TaskStatus_Reason.TASK_UNAUTHORIZED] : [TaskState.FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED];
  for (const t of ex.liveTasks()) a.taskStatus(fw.id, ex.id, t.info.taskId!.value, state, reason, message);
  a.removeExecutor(fw, ex);
}

/**
 * A docker task (docker-task.ts) or a direct command task (command-task.ts) runs in its
 * container with the agent as its executor: RUNNING as soon as the container runs (or
 * again after a recovery, without an update unless its RUNNING was never recorded); a
 * direct task's health check runs in the agent (command-task-health.ts).
 */
export function dockerTaskRunning(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, report: boolean, sendAfter?: Promise<unknown>): Promise<unknown>[] {
  ex.transition(ExecutorPhase.REGISTERING, a.log);
  ex.transition(ExecutorPhase.RUNNING, a.log);
  ex.queue = [];
  const stored: Promise<unknown>[] = [];
  for (const t of ex.liveTasks()) {
    t.launched = true;
    const taskId = t.info.taskId!.value;
    // A recovered task whose RUNNING never reached its stream (the agent died after the container's
    // checkpoint was durable, before the RUNNING record was) is reported RUNNING now: its container runs.
    const tell = report || t.state === TaskState.STAGING || t.state === TaskState.STARTING;
    if (ex.kind === "direct") {
      if (tell) stored.push(a.taskStatus(fw.id, ex.id, taskId, TaskState.RUNNING, TaskStatus_Reason.UNSPECIFIED, "", undefined, TaskStatus_Source.EXECUTOR, undefined, sendAfter));
      if (t.info.healthCheck) startTaskHealthCheck(a, fw, ex, t.info, (why) => killAgentRunTask(a, fw, ex, taskId, t.info.killPolicy, why));
    } else if (tell) stored.push(a.taskStatus(fw.id, ex.id, taskId, TaskState.RUNNING, TaskStatus_Reason.UNSPECIFIED, `Docker container ${ex.containerId} is running`, undefined, TaskStatus_Source.AGENT, undefined, sendAfter));
  }
  return stored;
}

/** Waits for the container to end; then executorTerminated (shutdown.ts) reports its tasks. */
export function watchContainer(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord): void {
  a.host.defer(
    a.opts.containerizer.wait(ex.containerId),
    (t) => a.lane.afterLaunches(() => executorTerminated(a, fw, ex, t)),
    (err) => executorTerminated(a, fw, ex, { containerId: ex.containerId, exitCode: null, signal: null, reason: "status unknown", message: String((err as Error).message) }),
  );
}

/** REGISTERING until the executor subscribes; destroyed if it does not within timeoutMs. */
export function awaitSubscription(a: AgentContext, ex: ExecutorRecord, timeoutMs: number, reason: TaskStatus_Reason): void {
  ex.transition(ExecutorPhase.REGISTERING, a.log);
  ex.registrationTimer = a.host.delay(timeoutMs, () => {
    ex.registrationTimer = undefined;
    if (ex.phase !== ExecutorPhase.REGISTERING) return;
    if (reason === TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT && awaitLateExecutor(a, ex, timeoutMs)) return;
    destroyUnsubscribed(a, ex, reason, `did not subscribe within ${timeoutMs} ms`);
  });
}

function destroyUnsubscribed(a: AgentContext, ex: ExecutorRecord, reason: TaskStatus_Reason, why: string): void {
  a.log.warn({ executorId: ex.id }, `Executor ${ex.id} ${why}; destroying it`);
  ex.failureReason = reason;
  ex.transition(ExecutorPhase.TERMINATING, a.log);
  a.destroyContainer(ex);
}

/**
 * A recovered executor missed the reregistration timeout. If its container still runs it is
 * late, not gone (on a busy machine a starved executor reconnects seconds after the agent
 * is back): it keeps trying until its recovery timeout, so the agent waits that long
 * (counted from the agent's recovery, so never shorter than the executor's own retries)
 * before destroying it. Returns false when it should be destroyed now.
 */
function awaitLateExecutor(a: AgentContext, ex: ExecutorRecord, waitedMs: number): boolean {
  const rest = a.opts.executorRecoveryTimeoutMs - waitedMs;
  if (rest <= 0 || !a.opts.containerizer.containers().includes(ex.containerId)) return false;
  a.metrics.executorsLate.inc();
  a.log.warn(
    { executorId: ex.id, frameworkId: ex.frameworkId, waitedMs, restMs: rest },
    `Executor ${ex.id} has not subscribed again ${waitedMs} ms after the agent recovered, but its container still runs; waiting up to ${rest} ms more (its recovery timeout)`,
  );
  ex.registrationTimer = a.host.delay(rest, () => {
    ex.registrationTimer = undefined;
    if (ex.phase !== ExecutorPhase.REGISTERING) return;
    destroyUnsubscribed(a, ex, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT, `did not subscribe again within the recovery timeout (${a.opts.executorRecoveryTimeoutMs} ms)`);
  });
  return true;
}

/** Sends the queued tasks to a connected executor (secret variables resolved only in what it receives). */
export function flushQueue(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord): void {
  if (!ex.link) return;
  for (const item of ex.queue) {
    const ids = "task" in item ? [item.task.taskId!.value] : item.group.tasks.map((t) => t.taskId!.value);
    let event;
    try {
      event =
        "task" in item
          ? create(ExecutorEventSchema, { kind: { case: "launch", value: { task: a.secrets.resolveTask(item.task) } } })
          : create(ExecutorEventSchema, { kind: { case: "launchGroup", value: { taskGroup: { ...item.group, tasks: item.group.tasks.map((t) => a.secrets.resolveTask(t)) } } } });
    } catch (err) {
      for (const id of ids) a.taskStatus(fw.id, ex.id, id, TaskState.FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED, (err as Error).message);
      continue;
    }
    for (const id of ids) {
      const rec = ex.tasks.get(id);
      if (rec) rec.launched = true;
    }
    ex.link.send(event);
    a.log.info({ frameworkId: fw.id, executorId: ex.id, tasks: ids }, `Sent ${ids.join(",")} to executor ${ex.id}`);
  }
  ex.queue = [];
}
