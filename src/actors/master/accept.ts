/**
 * ACCEPT: the framework uses offers of one agent for LAUNCH and LAUNCH_GROUP operations.
 * Offers that are not valid (expired, rescinded, another framework's, on several agents)
 * turn every task into TASK_DROPPED; an invalid task becomes TASK_ERROR with the reason;
 * valid tasks go to the agent as RunTask / RunTaskGroup; what is left returns to the
 * allocator with the accept's filter.
 */
import { taskUser } from "../task-user.js";
import { create } from "@bufbuild/protobuf";
import { RunTaskGroupSchema, RunTaskSchema } from "../../gen/dcos/v1/internal_pb.js";
import { OperationState, type Offer, type Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import type { AcceptRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { ExecutorInfoSchema, TaskSchema, TaskState, TaskStatus_Reason, type ExecutorInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { AgentRecord } from "./agent.js";
import { ids, type MasterCore } from "./core.js";
import type { FrameworkRecord } from "./framework.js";
import { DEFAULT_REFUSE_SECONDS } from "./options.js";
import { checkOffers, LaunchValidator, validateFilters } from "./validation.js";
import { RESOURCE_OPERATIONS, convert } from "./operations.js";
import { reportOperation } from "./operation-status.js";
import { applyConversion, checkpointAgent, checkResourceOperations, isResourceOperation, operationContext, resourcesOf } from "./operations-apply.js";

const SUPPORTED = new Set(["launch", "launch_group", ...RESOURCE_OPERATIONS]);

function tasksOf(op: Offer_Operation): TaskInfo[] {
  if (op.kind.case === "launch") return op.kind.value.taskInfos;
  if (op.kind.case === "launchGroup") return op.kind.value.taskGroup?.tasks ?? [];
  return [];
}

/** Checks the request's shape; throws INVALID_ARGUMENT / UNIMPLEMENTED before anything changes. */
function validateShape(request: AcceptRequest): void {
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

function refuse(core: MasterCore, framework: FrameworkRecord, task: TaskInfo, agentId: string | undefined, state: TaskState, reason: TaskStatus_Reason, message: string): void {
  if (state === TaskState.DROPPED) core.metrics.tasksDropped.inc();
  else core.metrics.tasksInvalid.inc();
  core.metrics.taskEnded(state);
  core.log.info({ framework: framework.id, task: task.taskId?.value, reason: TaskStatus_Reason[reason] }, message);
  core.forwardStatus(
    framework,
    core.masterStatus({ taskId: task.taskId?.value ?? "", agentId: agentId ?? task.agentId?.value, executorId: task.executor?.executorId?.value }, state, reason, message),
  );
}

/**
 * `userProblem`: why the framework may not run a task as a user (the ACL run_tasks, checked
 * by the public service); such a task becomes TASK_ERROR with the reason.
 */
export function accept(core: MasterCore, framework: FrameworkRecord, request: AcceptRequest, userProblem?: (user: string) => string | undefined): void {
  core.metrics.message("accept");
  validateShape(request);
  const checked = checkOffers(
    request.offerIds.map((o) => o.value),
    (id) => core.offers.get(id),
    framework.id,
  );
  const refuseSeconds = request.filters?.refuseSeconds ?? DEFAULT_REFUSE_SECONDS;
  const operated = checked.problem === undefined ? core.agents.get(checked.offers[0]!.agentId!.value) : undefined;
  if (operated && request.operations.some(isResourceOperation)) {
    checkResourceOperations(request.operations, offeredResources(checked.offers), operationContext(framework, operated), (op, why) =>
      reportOperation(core, framework, op, operated.id, OperationState.ERROR, why),
    );
  }
  for (const offer of checked.offers) core.offers.remove(offer.id!.value);
  core.changed();
  if (checked.problem !== undefined) {
    core.drop("invalid_offers", `Dropping the tasks of an accept by framework ${framework.id}: ${checked.problem}`);
    for (const offer of checked.offers) core.recoverOffer(framework.id, offer.agentId!.value, offer.resources, 0);
    for (const op of request.operations) {
      for (const task of tasksOf(op)) refuse(core, framework, task, undefined, TaskState.DROPPED, TaskStatus_Reason.INVALID_OFFERS, checked.problem);
      if (isResourceOperation(op)) reportOperation(core, framework, op, undefined, OperationState.ERROR, checked.problem);
    }
    return;
  }
  core.metrics.offersAccepted.inc(checked.offers.length);
  const agentId = checked.offers[0]!.agentId!.value;
  const agent = core.agents.get(agentId)!;
  const validator = new LaunchValidator(
    {
      frameworkId: framework.id,
      frameworkRoles: framework.info.roles,
      agentId,
      taskExists: (id) => framework.tasks.has(id),
      executorOnAgent: (id) => agent.executor(framework.id, id),
      frameworkUser: framework.info.user,
      userProblem,
    },
    offeredResources(checked.offers),
  );
  const launched: string[] = [];
  let conversions = 0;
  for (const op of request.operations) {
    if (isResourceOperation(op)) {
      try {
        const c = convert(op, validator.remaining(), operationContext(framework, agent));
        validator.convert(c.consumed, c.converted);
        applyConversion(core, framework, agent, c);
        conversions++;
        reportOperation(core, framework, op, agentId, OperationState.FINISHED, `${c.operation.toUpperCase()} applied on agent ${agentId}: ${c.consumed.unallocated()} -> ${c.converted.unallocated()}`);
      } catch (err) {
        core.drop("invalid_offers", `Dropping a ${op.kind.case?.toUpperCase()} of framework ${framework.id}: ${(err as Error).message}`);
        reportOperation(core, framework, op, agentId, OperationState.ERROR, (err as Error).message);
      }
    } else if (op.kind.case === "launch") {
      for (const task of op.kind.value.taskInfos) {
        const r = validator.launchTask(task);
        if ("problem" in r) refuse(core, framework, task, agentId, TaskState.ERROR, TaskStatus_Reason.TASK_INVALID, r.problem);
        else {
          launchTask(core, framework, agent, task, r.resources, r.executor);
          launched.push(task.taskId!.value);
        }
      }
    } else if (op.kind.case === "launchGroup") {
      const { executor, taskGroup } = op.kind.value;
      const r = validator.launchGroup(executor, taskGroup);
      if ("problem" in r) {
        for (const task of taskGroup?.tasks ?? []) refuse(core, framework, task, agentId, TaskState.ERROR, TaskStatus_Reason.TASK_GROUP_INVALID, r.problem);
      } else {
        launchGroup(core, framework, agent, executor!, taskGroup!.tasks, r.resources, r.executor);
        for (const t of taskGroup!.tasks) launched.push(t.taskId!.value);
      }
    }
  }
  // One line per accept, not per task: at thousands of launches a second the log is a hot spot.
  if (launched.length > 0) logLaunches(core, framework, agentId, launched);
  if (conversions > 0) checkpointAgent(core, agent);
  core.recoverOffer(framework.id, agentId, validator.remaining().toProto(), refuseSeconds);
}

const LOGGED_TASK_IDS = 20;

function logLaunches(core: MasterCore, framework: FrameworkRecord, agentId: string, taskIds: string[]): void {
  const shown = taskIds.length > LOGGED_TASK_IDS ? [...taskIds.slice(0, LOGGED_TASK_IDS), `… ${taskIds.length - LOGGED_TASK_IDS} more`] : taskIds;
  core.log.info(
    { framework: framework.id, agent: agentId, tasks: taskIds.length },
    `Launching ${taskIds.length} task(s) of framework ${framework.id} on agent ${agentId}: ${shown.join(", ")}`,
  );
}

function offeredResources(offers: readonly Offer[]): Resources {
  let pool = Resources.empty();
  for (const o of offers) pool = pool.add(Resources.of(o.resources));
  return pool;
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
function stage(core: MasterCore, framework: FrameworkRecord, agent: AgentRecord, task: TaskInfo, resources: Resources, executorId: string | undefined, role: string): TaskInfo {
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

function launchTask(core: MasterCore, framework: FrameworkRecord, agent: AgentRecord, task: TaskInfo, resources: Resources, executorResources: Resources): void {
  const role = roleOf(resources.add(executorResources), framework.info.roles[0] ?? "*");
  const info = stage(core, framework, agent, task, resources, task.executor?.executorId?.value, role);
  if (task.executor) info.executor = startExecutor(framework, agent, task.executor, executorResources);
  core.sendToAgent(agent, create(RunTaskSchema, { frameworkInfo: framework.info, task: info, role }));
}

function launchGroup(
  core: MasterCore,
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
