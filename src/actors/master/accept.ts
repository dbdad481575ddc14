/**
 * ACCEPT, told from start to end in this file: a framework uses offers of one agent for
 * LAUNCH, LAUNCH_GROUP and resource operations (RESERVE, UNRESERVE, CREATE, DESTROY).
 *
 *   1. validate (pure, the request alone): its shape; INVALID_ARGUMENT or UNIMPLEMENTED
 *      before anything changes.
 *   2. plan (pure, reads the master through its read-only view): which offers it uses and
 *      whether they are valid; every operation in order against the offered pool (each
 *      accepted task takes its resources out, each conversion changes the pool and the
 *      agent's total): which conversions apply, which tasks launch with what, what is
 *      refused and why, and what is left to give back. The rules are in validation.ts
 *      (LaunchValidator) and operations.ts (convert).
 *   3. apply: carries the plan out on the master's state: offers leave the book, statuses
 *      for refused tasks (TASK_DROPPED when the offers are not valid: expired, rescinded,
 *      another framework's, on several agents; TASK_ERROR with the reason for an invalid
 *      task), conversions to the agent's total and the allocator, tasks staged and sent
 *      to the agent as RunTask / RunTaskGroup, the agent's new checkpointed resources, and
 *      what is left back to the allocator with the accept's filter.
 */
import { taskUser } from "../task-user.js";
import { create } from "@bufbuild/protobuf";
import { RunTaskGroupSchema, RunTaskSchema } from "../../gen/dcos/v1/internal_pb.js";
import { OperationState, type Offer, type Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import type { AcceptRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { ExecutorInfoSchema, TaskSchema, TaskState, TaskStatus_Reason, type ExecutorInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../resources/index.js";
import { isPersistentVolume } from "../../resources/volumes.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { AgentRecord } from "./agent-record.js";
import { ids, type MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";
import type { MasterView } from "./master-view.js";
import { DEFAULT_REFUSE_SECONDS } from "./options.js";
import { checkOffers, LaunchValidator, validateFilters } from "./validation.js";
import { RESOURCE_OPERATIONS, convert, type Conversion } from "./operations.js";
import { reportOperation } from "./operation-status.js";
import { applyConversion, checkpointAgent, isResourceOperation, operationContext, resourcesOf } from "./operations-apply.js";

/** Why the framework may not run a task as a user (the ACL run_tasks, checked by the public service). */
export type UserProblem = (user: string) => string | undefined;

/** Why the framework may not mount a host path into a container (the ACL mount_host_paths, checked by the public service). */
export type HostPathProblem = (hostPath: string) => string | undefined;

export function accept(core: MasterState, framework: FrameworkRecord, request: AcceptRequest, userProblem?: UserProblem, hostPathProblem?: HostPathProblem): void {
  core.metrics.message("accept");
  validateAccept(request);
  applyAccept(core, framework, planAccept(core, framework, request, userProblem, hostPathProblem));
}

// ---- 1. validate ------------------------------------------------------------------

const SUPPORTED = new Set(["launch", "launch_group", ...RESOURCE_OPERATIONS]);

/** Checks the request's shape; throws INVALID_ARGUMENT / UNIMPLEMENTED before anything changes. */
export function validateAccept(request: AcceptRequest): void {
  if (request.offerIds.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "offer_ids must name at least one offer");
  if (request.offerIds.some((o) => !o.value)) throw new DcosError(Code.INVALID_ARGUMENT, "offer_ids contains an empty id");
  validateFilters(request.filters);
  request.operations.forEach((op, i) => {
    if (!op.kind.case) throw new DcosError(Code.INVALID_ARGUMENT, `operation #${i + 1} has no kind (launch, launch_group, …)`);
    const name = op.kind.case === "launchGroup" ? "launch_group" : op.kind.case;
    if (!SUPPORTED.has(name)) throw new DcosError(Code.UNIMPLEMENTED, `operation #${i + 1}: ${name.toUpperCase()} is not supported by this master yet`);
    if (isResourceOperation(op) && resourcesOf(op).length === 0) throw new DcosError(Code.INVALID_ARGUMENT, `operation #${i + 1}: ${name.toUpperCase()} names no resources`);
  });
}

// ---- 2. plan ----------------------------------------------------------------------

/** A task the master refuses, with the status the framework hears. */
export interface Refusal {
  task: TaskInfo;
  state: TaskState;
  reason: TaskStatus_Reason;
  message: string;
}

/** One operation of an accepted accept, in the request's order. */
export type AcceptStep =
  | { kind: "convert"; op: Offer_Operation; conversion: Conversion }
  | { kind: "operationError"; op: Offer_Operation; message: string }
  | { kind: "launch"; task: TaskInfo; resources: Resources; executorResources: Resources }
  | { kind: "launchGroup"; executor: ExecutorInfo; tasks: readonly TaskInfo[]; resources: readonly Resources[]; executorResources: Resources }
  | { kind: "refuse"; refusal: Refusal };

export type AcceptPlan =
  /** A resource operation cannot apply to the offers: the call fails, nothing changes (the offers stay outstanding). */
  | { kind: "invalid"; error: DcosError; failedOperation: Offer_Operation; agentId: string; message: string }
  /** The offers are not valid: they go back, every task is dropped, every resource operation fails. */
  | { kind: "dropped"; offers: readonly Offer[]; problem: string; operations: readonly Offer_Operation[] }
  | { kind: "accepted"; agentId: string; offers: readonly Offer[]; steps: AcceptStep[]; remaining: Resources; refuseSeconds: number };

/** Decides the whole accept from the master's state without changing it. */
export function planAccept(view: MasterView, framework: FrameworkRecord, request: AcceptRequest, userProblem?: UserProblem, hostPathProblem?: HostPathProblem): AcceptPlan {
  const checked = checkOffers(
    request.offerIds.map((o) => o.value),
    (id) => view.offers.get(id),
    framework.id,
  );
  if (checked.problem !== undefined) return { kind: "dropped", offers: checked.offers, problem: checked.problem, operations: request.operations };
  const agentId = checked.offers[0]!.agentId!.value;
  const agent = view.agents.get(agentId)!;
  const offered = offeredResources(checked.offers);
  const refusedOperation = firstInvalidOperation(request.operations, offered, framework, agent);
  if (refusedOperation) return refusedOperation;

  const validator = new LaunchValidator(
    {
      frameworkId: framework.id,
      frameworkRoles: framework.info.roles,
      agentId,
      taskExists: (id) => framework.tasks.has(id),
      executorOnAgent: (id) => agent.executor(framework.id, id),
      frameworkUser: framework.info.user,
      userProblem,
      hostPathProblem,
    },
    offered,
  );
  // The agent as the plan changes it: its total after the conversions so far, and the
  // persistent volumes the tasks launched so far use.
  let agentTotal = Resources.of(agent.info.resources);
  const plannedVolumeUsers = new Map<string, string>();
  const usesVolumes = (taskId: string, resources: Resources): void => {
    for (const r of resources.toProto()) if (isPersistentVolume(r)) plannedVolumeUsers.set(r.disk!.persistence!.id, taskId);
  };
  const steps: AcceptStep[] = [];
  for (const op of request.operations) {
    if (isResourceOperation(op)) {
      const base = operationContext(framework, agent);
      try {
        const conversion = convert(op, validator.remaining(), { ...base, agentTotal, volumeUser: (id) => base.volumeUser(id) ?? plannedVolumeUsers.get(id) });
        validator.convert(conversion.consumed, conversion.converted);
        agentTotal = agentTotal.subtract(conversion.consumed.unallocated()).add(conversion.converted.unallocated());
        steps.push({ kind: "convert", op, conversion });
      } catch (err) {
        steps.push({ kind: "operationError", op, message: (err as Error).message });
      }
    } else if (op.kind.case === "launch") {
      for (const task of op.kind.value.taskInfos) {
        const r = validator.launchTask(task);
        if ("problem" in r) steps.push({ kind: "refuse", refusal: { task, state: TaskState.ERROR, reason: TaskStatus_Reason.TASK_INVALID, message: r.problem } });
        else {
          steps.push({ kind: "launch", task, resources: r.resources, executorResources: r.executor });
          usesVolumes(task.taskId!.value, r.resources);
        }
      }
    } else if (op.kind.case === "launchGroup") {
      const { executor, taskGroup } = op.kind.value;
      const r = validator.launchGroup(executor, taskGroup);
      if ("problem" in r) {
        for (const task of taskGroup?.tasks ?? []) steps.push({ kind: "refuse", refusal: { task, state: TaskState.ERROR, reason: TaskStatus_Reason.TASK_GROUP_INVALID, message: r.problem } });
      } else {
        steps.push({ kind: "launchGroup", executor: executor!, tasks: taskGroup!.tasks, resources: r.resources, executorResources: r.executor });
        taskGroup!.tasks.forEach((t, i) => usesVolumes(t.taskId!.value, r.resources[i]!));
      }
    }
  }
  return { kind: "accepted", agentId, offers: checked.offers, steps, remaining: validator.remaining(), refuseSeconds: request.filters?.refuseSeconds ?? DEFAULT_REFUSE_SECONDS };
}

/**
 * The resource operations checked in order against the offered pool before anything
 * changes (tasks aside): the first that cannot apply makes the whole call INVALID_ARGUMENT.
 */
function firstInvalidOperation(operations: readonly Offer_Operation[], offered: Resources, framework: FrameworkRecord, agent: AgentRecord): AcceptPlan | undefined {
  const ctx = operationContext(framework, agent);
  let pool = offered;
  let total = ctx.agentTotal;
  for (const [i, op] of operations.entries()) {
    if (!isResourceOperation(op)) continue;
    try {
      const c = convert(op, pool, { ...ctx, agentTotal: total });
      pool = pool.subtract(c.consumed).add(c.converted);
      total = total.subtract(c.consumed.unallocated()).add(c.converted.unallocated());
    } catch (err) {
      const message = (err as Error).message;
      return { kind: "invalid", failedOperation: op, agentId: agent.id, message, error: new DcosError(Code.INVALID_ARGUMENT, `operation #${i + 1}: ${message}`, { cause: err }) };
    }
  }
  return undefined;
}

function offeredResources(offers: readonly Offer[]): Resources {
  let pool = Resources.empty();
  for (const o of offers) pool = pool.add(Resources.of(o.resources));
  return pool;
}

function tasksOf(op: Offer_Operation): TaskInfo[] {
  if (op.kind.case === "launch") return op.kind.value.taskInfos;
  if (op.kind.case === "launchGroup") return op.kind.value.taskGroup?.tasks ?? [];
  return [];
}

// ---- 3. apply ---------------------------------------------------------------------

export function applyAccept(core: MasterState, framework: FrameworkRecord, plan: AcceptPlan): void {
  if (plan.kind === "invalid") {
    reportOperation(core, framework, plan.failedOperation, plan.agentId, OperationState.ERROR, plan.message);
    throw plan.error;
  }
  for (const offer of plan.offers) core.offers.remove(offer.id!.value);
  if (plan.offers.length > 0) core.offersHeldChanged(framework.id);
  core.changed();
  if (plan.kind === "dropped") {
    core.drop("invalid_offers", `Dropping the tasks of an accept by framework ${framework.id}: ${plan.problem}`);
    for (const offer of plan.offers) core.recoverOffer(framework.id, offer.agentId!.value, offer.resources, 0);
    for (const op of plan.operations) {
      for (const task of tasksOf(op)) refuse(core, framework, undefined, { task, state: TaskState.DROPPED, reason: TaskStatus_Reason.INVALID_OFFERS, message: plan.problem });
      if (isResourceOperation(op)) reportOperation(core, framework, op, undefined, OperationState.ERROR, plan.problem);
    }
    return;
  }
  core.metrics.offersAccepted.inc(plan.offers.length);
  const agent = core.agents.get(plan.agentId)!;
  const launched: string[] = [];
  let conversions = 0;
  for (const step of plan.steps) {
    switch (step.kind) {
      case "convert": {
        const c = step.conversion;
        applyConversion(core, framework, agent, c);
        conversions++;
        reportOperation(core, framework, step.op, agent.id, OperationState.FINISHED, `${c.operation.toUpperCase()} applied on agent ${agent.id}: ${c.consumed.unallocated()} -> ${c.converted.unallocated()}`);
        break;
      }
      case "operationError":
        core.drop("invalid_offers", `Dropping a ${step.op.kind.case?.toUpperCase()} of framework ${framework.id}: ${step.message}`);
        reportOperation(core, framework, step.op, agent.id, OperationState.ERROR, step.message);
        break;
      case "launch":
        launchTask(core, framework, agent, step.task, step.resources, step.executorResources);
        launched.push(step.task.taskId!.value);
        break;
      case "launchGroup":
        launchGroup(core, framework, agent, step.executor, step.tasks, step.resources, step.executorResources);
        for (const t of step.tasks) launched.push(t.taskId!.value);
        break;
      case "refuse":
        refuse(core, framework, agent.id, step.refusal);
        break;
    }
  }
  // One line per accept, not per task: at thousands of launches a second the log is a hot spot.
  if (launched.length > 0) logLaunches(core, framework, agent.id, launched);
  if (conversions > 0) checkpointAgent(core, agent);
  core.recoverOffer(framework.id, agent.id, plan.remaining.toProto(), plan.refuseSeconds);
}

function refuse(core: MasterState, framework: FrameworkRecord, agentId: string | undefined, r: Refusal): void {
  const { task, state, reason, message } = r;
  if (state === TaskState.DROPPED) core.metrics.tasksDropped.inc();
  else core.metrics.tasksInvalid.inc();
  core.metrics.taskEnded(state);
  core.log.info({ framework: framework.id, task: task.taskId?.value, reason: TaskStatus_Reason[reason] }, message);
  core.forwardStatus(
    framework,
    core.masterStatus({ taskId: task.taskId?.value ?? "", agentId: agentId ?? task.agentId?.value, executorId: task.executor?.executorId?.value }, state, reason, message),
  );
}

const LOGGED_TASK_IDS = 20;

function logLaunches(core: MasterState, framework: FrameworkRecord, agentId: string, taskIds: string[]): void {
  const shown = taskIds.length > LOGGED_TASK_IDS ? [...taskIds.slice(0, LOGGED_TASK_IDS), `… ${taskIds.length - LOGGED_TASK_IDS} more`] : taskIds;
  core.log.info(
    { framework: framework.id, agent: agentId, tasks: taskIds.length },
    `Launching ${taskIds.length} task(s) of framework ${framework.id} on agent ${agentId}: ${shown.join(", ")}`,
  );
}

function roleOf(resources: Resources, fallback: string): string {
  return resources.allocationRoles()[0] ?? fallback;
}

/** The executor as the agent should run it: framework id set, resources with their allocation. */
function startExecutor(framework: FrameworkRecord, agent: AgentRecord, executor: ExecutorInfo, resources: Resources): ExecutorInfo {
  const id = executor.executorId!.value;
  const running = agent.executor(framework.id, id);
  if (running) return running;
  const info = create(ExecutorInfoSchema, { ...executor, frameworkId: ids.framework(framework.id), resources: resources.toProto() });
  agent.addExecutor(framework.id, info);
  return info;
}

/** Records the task in STAGING and returns the TaskInfo the agent gets. */
function stage(core: MasterState, framework: FrameworkRecord, agent: AgentRecord, task: TaskInfo, resources: Resources, executorId: string | undefined, role: string): TaskInfo {
  // A shallow copy is a complete TaskInfo (protobuf-es messages are plain objects); create() would walk every field again.
  const info: TaskInfo = { ...task, agentId: ids.agent(agent.id), resources: resources.toProto() };
  core.addTask(
    framework,
    agent,
    create(TaskSchema, {
      name: task.name,
      taskId: task.taskId,
      frameworkId: ids.framework(framework.id),
      executorId: executorId ? ids.executor(executorId) : undefined,
      agentId: ids.agent(agent.id),
      state: TaskState.STAGING,
      resources: info.resources,
      labels: task.labels,
      container: task.container,
      healthCheck: task.healthCheck,
      killPolicy: task.killPolicy,
      role,
      user: taskUser(task, framework.info.user),
    }),
  );
  core.metrics.tasksLaunched.inc();
  return info;
}

function launchTask(core: MasterState, framework: FrameworkRecord, agent: AgentRecord, task: TaskInfo, resources: Resources, executorResources: Resources): void {
  const role = roleOf(resources.add(executorResources), framework.info.roles[0] ?? "*");
  const info = stage(core, framework, agent, task, resources, task.executor?.executorId?.value, role);
  if (task.executor) info.executor = startExecutor(framework, agent, task.executor, executorResources);
  core.sendToAgent(agent, create(RunTaskSchema, { frameworkInfo: framework.info, task: info, role }));
}

function launchGroup(
  core: MasterState,
  framework: FrameworkRecord,
  agent: AgentRecord,
  executor: ExecutorInfo,
  tasks: readonly TaskInfo[],
  resources: readonly Resources[],
  executorResources: Resources,
): void {
  const all = resources.reduce((a, r) => a.add(r), executorResources);
  const role = roleOf(all, framework.info.roles[0] ?? "*");
  const executorInfo = startExecutor(framework, agent, executor, executorResources);
  const infos = tasks.map((t, i) => stage(core, framework, agent, t, resources[i]!, executor.executorId!.value, role));
  core.sendToAgent(agent, create(RunTaskGroupSchema, { frameworkInfo: framework.info, executorInfo, taskGroup: { tasks: infos }, role }));
}
