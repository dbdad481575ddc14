/**
 * Validation of what schedulers send: framework infos, filters, offers named in an accept,
 * and the tasks and task groups launched on them. Pure functions over plain inputs; a
 * problem is a precise sentence (it becomes a gRPC status message or a TASK_ERROR's
 * message), never an exception escaping the master.
 */
import { taskUser } from "../task-user.js";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Filters, Offer } from "../../gen/dcos/v1/offers_pb.js";
import { equals } from "@bufbuild/protobuf";
import { posix } from "node:path";
import { ContainerInfo_Type, Environment_Variable_Type, ExecutorInfoSchema, Secret_Type, type CommandInfo, type ContainerInfo, type Environment_Variable, type ExecutorInfo, type KillPolicy, type TaskGroupInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { Resources, roleProblem } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { healthCheckProblem } from "../../protocol/health-check.js";
import { executorSizeProblem, frameworkInfoSizeProblem, taskSizeProblem } from "./size-limits.js";

function invalid(message: string): never {
  throw new DcosError(Code.INVALID_ARGUMENT, message);
}

/** A framework id, or INVALID_ARGUMENT when missing. */
export function requireId(id: { value: string } | undefined, what: string): string {
  if (!id?.value) invalid(`${what} is required`);
  return id.value;
}

const MAX_FAILOVER_TIMEOUT_S = 10 * 365 * 24 * 3600;

/** Checks a FrameworkInfo from SUBSCRIBE or UPDATE_FRAMEWORK. */
export function validateFrameworkInfo(info: FrameworkInfo | undefined, suppressedRoles: readonly string[]): FrameworkInfo {
  if (!info) invalid("framework_info is required");
  const size = frameworkInfoSizeProblem(info);
  if (size) invalid(size);
  if (suppressedRoles.length > info.roles.length) invalid(`suppressed_roles has ${suppressedRoles.length} entries, more than the framework's ${info.roles.length} roles`);
  if (info.roles.length === 0) invalid("framework_info.roles must name at least one role");
  const seen = new Set<string>();
  for (const role of info.roles) {
    const problem = roleProblem(role);
    if (problem) invalid(`framework_info.roles has invalid role '${role}': ${problem}`);
    if (seen.has(role)) invalid(`framework_info.roles names '${role}' twice`);
    seen.add(role);
  }
  for (const role of suppressedRoles) {
    if (!seen.has(role)) invalid(`suppressed role '${role}' is not one of the framework's roles (${info.roles.join(", ")})`);
  }
  const t = info.failoverTimeout;
  if (!Number.isFinite(t) || t < 0 || t > MAX_FAILOVER_TIMEOUT_S) {
    invalid(`framework_info.failover_timeout ${t} must be a number of seconds between 0 and ${MAX_FAILOVER_TIMEOUT_S}`);
  }
  return info;
}

/** Roles of a REVIVE/SUPPRESS must be the framework's. */
export function validateCallRoles(roles: readonly string[], frameworkRoles: readonly string[]): void {
  for (const role of roles) {
    if (!frameworkRoles.includes(role)) invalid(`role '${role}' is not one of the framework's roles (${frameworkRoles.join(", ")})`);
  }
}

/** refuse_seconds, if given, is a finite number ≥ 0. */
export function validateFilters(filters: Filters | undefined): void {
  const s = filters?.refuseSeconds;
  if (s !== undefined && (!Number.isFinite(s) || s < 0)) invalid(`filters.refuse_seconds ${s} must be a finite number of seconds ≥ 0`);
}

/**
 * The offers an accept names, or why they cannot be used: every id must be an outstanding
 * offer of this framework, named once, and all on one agent.
 */
export function checkOffers(offerIds: readonly string[], lookup: (id: string) => Offer | undefined, frameworkId: string): { offers: Offer[]; problem?: string } {
  const offers: Offer[] = [];
  const seen = new Set<string>();
  let problem: string | undefined;
  for (const id of offerIds) {
    if (seen.has(id)) {
      problem ??= `Offer ${id} is named more than once`;
      continue;
    }
    seen.add(id);
    const offer = lookup(id);
    if (!offer) problem ??= `Offer ${id} is no longer valid (expired, rescinded, or already used)`;
    else if (offer.frameworkId?.value !== frameworkId) problem ??= `Offer ${id} was not made to framework ${frameworkId}`;
    else offers.push(offer);
  }
  const agents = new Set(offers.map((o) => o.agentId?.value));
  if (agents.size > 1) problem ??= `Offers are on different agents (${[...agents].join(", ")}); an accept uses offers of one agent`;
  return problem === undefined ? { offers } : { offers, problem };
}

const ID_FORBIDDEN = /[/\u0000-\u001f\u007f]/;

function idProblem(id: string, what: string): string | undefined {
  if (!id) return `${what} is empty`;
  if (id === "." || id === "..") return `${what} '${id}' is not allowed`;
  if (ID_FORBIDDEN.test(id)) return `${what} '${id}' contains '/' or a control character`;
  return undefined;
}

/**
 * `imageDefault`: the command of a task in a DOCKER container, where shell=false with no
 * value and no arguments means "run the image's entrypoint / default command" (Mesos).
 */
export function commandProblem(command: CommandInfo, what: string, imageDefault = false): string | undefined {
  if (command.shell !== false) {
    if (!command.value.trim()) return `${what} is a shell command with an empty value`;
  } else if (imageDefault) {
    if (command.arguments.some((a) => a.includes("\0"))) return `${what} has an argument with a NUL character`;
  } else if (command.arguments.length === 0 || !command.arguments[0]) {
    return `${what} has shell=false but no arguments (argv[0] is the program)`;
  }
  for (const v of command.environment?.variables ?? []) {
    if (!v.name || v.name.includes("=")) return `${what} has environment variable name '${v.name}' (must be non-empty without '=')`;
    const sp = secretVariableProblem(v, `${what} environment variable ${v.name}`);
    if (sp) return sp;
  }
  for (const u of command.uris) if (!u.value) return `${what} has a URI with an empty value`;
  return undefined;
}

/** A SECRET variable carries a secret (inline data or a reference name) and no value; a VALUE one no secret. */
function secretVariableProblem(v: Environment_Variable, what: string): string | undefined {
  if (v.type !== Environment_Variable_Type.SECRET) return v.secret ? `${what} has a secret but is not of type SECRET` : undefined;
  if (v.value) return `${what} is of type SECRET and must not have a value (the secret carries it)`;
  const secret = v.secret;
  if (!secret) return `${what} is of type SECRET but has no secret`;
  if (secret.type === Secret_Type.VALUE) return secret.value && secret.value.data.length > 0 ? undefined : `${what} has a VALUE secret without data`;
  if (secret.type === Secret_Type.REFERENCE) return secret.reference?.name ? undefined : `${what} has a REFERENCE secret without a name`;
  return `${what} has a secret of neither type VALUE nor REFERENCE`;
}

function killPolicyProblem(policy: KillPolicy | undefined, what: string): string | undefined {
  const g = policy?.gracePeriodSeconds;
  if (g !== undefined && (!Number.isFinite(g) || g < 0)) return `${what} kill_policy.grace_period_seconds ${g} must be ≥ 0`;
  return undefined;
}

/** A health check's fields, and the command of a COMMAND check like any command. */
function healthProblem(task: TaskInfo, what: string): string | undefined {
  const check = task.healthCheck;
  if (!check) return undefined;
  return healthCheckProblem(check, what) ?? (check.command ? commandProblem(check.command, `${what} health_check command`) : undefined);
}

/** What a launch may use and what it must not collide with. */
export interface LaunchContext {
  frameworkId: string;
  frameworkRoles: readonly string[];
  agentId: string;
  /** Whether the framework already has a (non-removed) task with this id. */
  taskExists: (taskId: string) => boolean;
  /** The framework's executor with this id on the agent, if running. */
  executorOnAgent: (executorId: string) => ExecutorInfo | undefined;
  /** The user tasks run as unless their command names one. */
  frameworkUser?: string;
  /** Why the framework may not run a task as this user (ACL run_tasks); undefined: it may. */
  userProblem?: (user: string) => string | undefined;
  /** Why the framework may not mount this host path (ACL mount_host_paths); undefined: it may. */
  hostPathProblem?: (hostPath: string) => string | undefined;
}

/**
 * Validates the operations of one accept in order against the offered pool; each accepted
 * task takes its resources out of the pool, so later tasks see what is left.
 */
export class LaunchValidator {
  private pool: Resources;
  private readonly taskIds = new Set<string>();
  private readonly newExecutors = new Map<string, ExecutorInfo>();
  /** The role offered resources are allocated to, when they are all allocated to one. */
  private readonly offeredRole: string | undefined;

  constructor(
    private readonly ctx: LaunchContext,
    offered: Resources,
  ) {
    this.pool = offered;
    const roles = offered.allocationRoles();
    this.offeredRole = roles.length === 1 ? roles[0] : undefined;
  }

  /** What is left of the offers after the tasks accepted so far. */
  remaining(): Resources {
    return this.pool;
  }

  /** A resource operation (RESERVE, CREATE, …) turned `consumed` of the pool into `converted`. */
  convert(consumed: Resources, converted: Resources): void {
    this.pool = this.pool.subtract(consumed).add(converted);
  }

  /**
   * Resources of a task or executor with allocation roles filled in (from the offer, when
   * the scheduler did not say), or a problem.
   */
  private resourcesOf(list: TaskInfo["resources"], what: string): { resources: Resources } | { problem: string } {
    let r: Resources;
    try {
      r = Resources.of(list);
    } catch (err) {
      return { problem: `${what} has an invalid resource: ${(err as Error).message}` };
    }
    const unallocated = r.filter((x) => !x.allocationInfo?.role);
    if (!unallocated.isEmpty()) {
      if (this.offeredRole === undefined) return { problem: `${what} has resources without allocation_info.role and the offers span several roles` };
      r = r.subtract(unallocated).add(unallocated.allocate(this.offeredRole));
    }
    for (const role of r.allocationRoles()) {
      if (!this.ctx.frameworkRoles.includes(role)) return { problem: `${what} uses resources allocated to role '${role}', which is not one of the framework's roles` };
    }
    return { resources: r };
  }

  private taskBasics(task: TaskInfo, what: string, inGroup: boolean): string | undefined {
    const size = taskSizeProblem(task, what);
    if (size) return size;
    const id = task.taskId?.value ?? "";
    const problem = idProblem(id, `${what} task_id`);
    if (problem) return problem;
    if (this.taskIds.has(id)) return `${what} has the same task_id as another task in this accept`;
    if (this.ctx.taskExists(id)) return `${what} has a task_id already used by a task of framework ${this.ctx.frameworkId}`;
    const agent = task.agentId?.value;
    if (agent && agent !== this.ctx.agentId) return `${what} names agent ${agent} but the offers are on agent ${this.ctx.agentId}`;
    if (inGroup) {
      if (task.executor) return `${what} is in a task group and must not set an executor (the group's executor runs it)`;
      if (!task.command) return `${what} is in a task group and needs a command`;
    } else if (!!task.executor === !!task.command) {
      return `${what} must set exactly one of command and executor`;
    }
    if (task.command) {
      const p = commandProblem(task.command, `${what} command`, task.container?.type === ContainerInfo_Type.DOCKER);
      if (p) return p;
    }
    const user = this.runAs(task);
    if (this.ctx.userProblem) {
      const p = this.ctx.userProblem(user);
      if (p) return `${what}: ${p}`;
    }
    const hostPath = this.hostPathProblem(task.container, what);
    if (hostPath) return hostPath;
    return killPolicyProblem(task.killPolicy, what) ?? healthProblem(task, what);
  }

  /** The first host path volume of a container the framework may not mount (ACL mount_host_paths). */
  private hostPathProblem(container: ContainerInfo | undefined, what: string): string | undefined {
    if (!this.ctx.hostPathProblem) return undefined;
    for (const v of container?.volumes ?? []) {
      if (v.hostPath === "") continue;
      if (!v.hostPath.startsWith("/")) return `${what}: host path '${v.hostPath}' must be an absolute path`;
      const p = this.ctx.hostPathProblem(posix.normalize(v.hostPath));
      if (p) return `${what}: ${p}`;
    }
    return undefined;
  }

  /** The user a task runs as: its command's, its executor's command's, else the framework's. */
  private runAs(task: TaskInfo): string {
    return taskUser(task, this.ctx.frameworkUser);
  }

  private executorProblem(executor: ExecutorInfo, what: string): string | undefined {
    const size = executorSizeProblem(executor, what);
    if (size) return size;
    const id = executor.executorId?.value ?? "";
    const p = idProblem(id, `${what} executor_id`);
    if (p) return p;
    const fw = executor.frameworkId?.value;
    if (fw && fw !== this.ctx.frameworkId) return `${what} executor ${id} names framework ${fw}, not ${this.ctx.frameworkId}`;
    const hostPath = this.hostPathProblem(executor.container, `${what} executor ${id}`);
    if (hostPath) return hostPath;
    if (executor.command) return commandProblem(executor.command, `${what} executor ${id} command`);
    return undefined;
  }

  /**
   * The executor's resources if it must be started now; nothing if it is running or being
   * launched by this accept with the same ExecutorInfo; a problem if the info differs.
   */
  private executorNeeds(executor: ExecutorInfo, what: string): { resources: Resources } | { problem: string } {
    const id = executor.executorId!.value;
    const own = this.resourcesOf(executor.resources, `${what} executor ${id}`);
    if ("problem" in own) return own;
    const existing = this.ctx.executorOnAgent(id) ?? this.newExecutors.get(id);
    if (!existing) return own;
    const difference = executorDifference(existing, executor, own.resources, this.ctx.frameworkId);
    if (difference) return { problem: `${what}: executor ${id} is already running with a different ExecutorInfo (${difference} differ)` };
    return { resources: Resources.empty() };
  }

  private take(needed: Resources, what: string): string | undefined {
    if (!this.pool.contains(needed)) {
      return `${what} uses resources not in the offers: needs ${needed.toString()}, offers have ${this.pool.toString()} left`;
    }
    this.pool = this.pool.subtract(needed);
    return undefined;
  }

  /** Validates one LAUNCH task; on success its resources leave the pool. Returns the problem or the resources. */
  launchTask(task: TaskInfo): { problem: string } | { resources: Resources; executor: Resources } {
    const what = `Task '${task.taskId?.value ?? ""}'`;
    const basic = this.taskBasics(task, what, false);
    if (basic) return { problem: basic };
    const own = this.resourcesOf(task.resources, what);
    if ("problem" in own) return own;
    if (own.resources.isEmpty() && !task.executor) return { problem: `${what} uses no resources` };
    let executor = Resources.empty();
    if (task.executor) {
      const p = this.executorProblem(task.executor, what);
      if (p) return { problem: p };
      const ex = this.executorNeeds(task.executor, what);
      if ("problem" in ex) return ex;
      executor = ex.resources;
    }
    const p = this.take(own.resources.add(executor), what);
    if (p) return { problem: p };
    this.taskIds.add(task.taskId!.value);
    if (task.executor && !this.newExecutors.has(task.executor.executorId!.value)) this.newExecutors.set(task.executor.executorId!.value, task.executor);
    return { resources: own.resources, executor };
  }

  /** Validates a LAUNCH_GROUP as a whole; on success the resources of all leave the pool. */
  launchGroup(executor: ExecutorInfo | undefined, group: TaskGroupInfo | undefined): { problem: string } | { resources: Resources[]; executor: Resources } {
    if (!executor) return { problem: "Task group has no executor" };
    if (!group || group.tasks.length === 0) return { problem: "Task group has no tasks" };
    const ep = this.executorProblem(executor, "Task group");
    if (ep) return { problem: ep };
    const ex = this.executorNeeds(executor, "Task group");
    if ("problem" in ex) return ex;
    let needed = ex.resources;
    const perTask: Resources[] = [];
    const ids = new Set<string>();
    for (const task of group.tasks) {
      const what = `Task '${task.taskId?.value ?? ""}' of the group`;
      const basic = this.taskBasics(task, what, true);
      if (basic) return { problem: basic };
      if (ids.has(task.taskId!.value)) return { problem: `${what} appears twice in the group` };
      ids.add(task.taskId!.value);
      const own = this.resourcesOf(task.resources, what);
      if ("problem" in own) return own;
      perTask.push(own.resources);
      needed = needed.add(own.resources);
    }
    const p = this.take(needed, "Task group");
    if (p) return { problem: p };
    for (const id of ids) this.taskIds.add(id);
    if (!this.newExecutors.has(executor.executorId!.value)) this.newExecutors.set(executor.executorId!.value, executor);
    return { resources: perTask, executor: ex.resources };
  }
}

/**
 * Which fields of an ExecutorInfo sent again under a known executor id differ from the
 * known one (undefined when none), as Mesos compares them: the framework id and the
 * resources' allocation are filled in by the master, so the resources compare as amounts
 * once allocated, and an unset framework id matches.
 */
export function executorDifference(known: ExecutorInfo, sent: ExecutorInfo, sentResources: Resources, frameworkId: string): string | undefined {
  const differ: string[] = [];
  const sentFramework = sent.frameworkId?.value || frameworkId;
  if ((known.frameworkId?.value || frameworkId) !== sentFramework) differ.push("framework_id");
  let knownResources: Resources;
  try {
    knownResources = Resources.of(known.resources);
  } catch {
    knownResources = Resources.empty();
  }
  if (!knownResources.unallocated().equals(sentResources.unallocated())) differ.push("resources");
  const strip = (e: ExecutorInfo): ExecutorInfo => ({ ...e, frameworkId: undefined, resources: [] });
  const a = strip(known);
  const b = strip(sent);
  if (!equals(ExecutorInfoSchema, a, b)) {
    // Name the fields: swap each of the sent ones into the known info and compare again.
    for (const field of ExecutorInfoSchema.fields) {
      const key = field.localName as keyof ExecutorInfo;
      if (!equals(ExecutorInfoSchema, a, { ...a, [key]: b[key] })) differ.push(field.name);
    }
  }
  return differ.length > 0 ? differ.join(", ") : undefined;
}
