import { durationMs, parseSchedule, ScheduleError } from "./schedule.js";

/**
 * A Chronos job definition, as posted to /v1/scheduler/iso8601 or /dependency, checked
 * and with Chronos's defaults filled in. Fields we do not model are kept in `extra` and
 * echoed back, so a job file posted unchanged reads back unchanged.
 */
export interface JobSpec {
  name: string;
  command: string;
  arguments: string[];
  shell: boolean;
  /** ISO 8601 repeating interval, `cron:<expr>`, or undefined for a dependent job. */
  schedule?: string;
  cron?: string;
  scheduleTimeZone?: string;
  epsilon: string;
  parents: string[];
  retries: number;
  async: boolean;
  concurrent: boolean;
  disabled: boolean;
  owner: string;
  ownerName: string;
  description: string;
  cpus: number;
  mem: number;
  disk: number;
  container?: JobContainer;
  fetch: JobFetch[];
  uris: string[];
  environmentVariables: { name: string; value: string }[];
  runAsUser?: string;
  /** Milliseconds a run may take before it is killed (0: no limit). */
  maxCompletionTime: number;
  highPriority: boolean;
  constraints: [string, string, string][];
  /** Chronos: a run that fails (retries used up) still triggers the dependent jobs. */
  softError: boolean;
  /** `dataJob` (or Chronos's own `dataProcessingJobType`): tasks may report elements processed. */
  dataJob: boolean;
  /** A custom executor's command line (empty: the agent's command executor) and what it is given. */
  executor: string;
  executorFlags: string;
  /** TaskInfo.data for the custom executor (default: the command and flags as JSON). */
  taskInfoData: string;
  extra: Record<string, unknown>;
}

export interface JobContainer {
  type: string;
  image: string;
  network?: string;
  forcePullImage?: boolean;
  volumes?: { containerPath: string; hostPath?: string; mode?: string }[];
  parameters?: { key: string; value: string }[];
  [k: string]: unknown;
}

export interface JobFetch {
  uri: string;
  cache?: boolean;
  extract?: boolean;
  executable?: boolean;
  outputFile?: string;
}

/** A job definition the API must refuse with 400 and this message. */
export class JobSpecError extends Error {}

export const JOB_DEFAULTS = { epsilon: "PT60S", retries: 2, cpus: 0.1, mem: 128, disk: 256 } as const;
export const MAX_JOB_JSON_BYTES = 48 * 1024;
const NAME = /^[\w\s.#-]+$/;
const MAX_NAME = 200;
const MAX_COMMAND = 32 * 1024;
const MAX_PARENTS = 100;
/** Chronos's statistics fields: accepted in a posted job (they come back from GET) and ignored. */
const STATS_FIELDS = new Set(["successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess"]);
const KNOWN = new Set([
  "name", "command", "arguments", "shell", "schedule", "cron", "scheduleTimeZone", "epsilon", "parents", "retries", "async",
  "concurrent", "disabled", "owner", "ownerName", "description", "cpus", "mem", "disk", "container", "fetch", "uris",
  "environmentVariables", "runAsUser", "maxCompletionTime", "highPriority", "constraints", "softError", "dataJob", "executor",
  "executorFlags", "taskInfoData",
]);
const CONSTRAINT_OPS = new Set(["EQUALS", "LIKE", "UNLIKE"]);

type Json = Record<string, unknown>;

function str(o: Json, k: string, def?: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return def;
  if (typeof v !== "string") throw new JobSpecError(`'${k}' must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function bool(o: Json, k: string, def: boolean): boolean {
  const v = o[k];
  if (v === undefined || v === null) return def;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  throw new JobSpecError(`'${k}' must be true or false, got ${JSON.stringify(v)}`);
}

/** Chronos accepts "0.5" as well as 0.5 for resources. */
function num(o: Json, k: string, def: number, min = 0): number {
  const v = o[k];
  if (v === undefined || v === null || v === "") return def;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new JobSpecError(`'${k}' must be a number, got ${JSON.stringify(v)}`);
  if (n < min) throw new JobSpecError(`'${k}' must be at least ${min}, got ${n}`);
  return n;
}

function strings(o: Json, k: string): string[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new JobSpecError(`'${k}' must be a list of strings`);
  return v as string[];
}

/**
 * Checks one posted job. `kind` is the endpoint: iso8601 needs a schedule, dependency
 * needs parents (Chronos: "if there is a parents field there will be no schedule field").
 * `definedAt` resolves an empty ISO start while checking the schedule parses.
 */
export function parseJobSpec(input: unknown, kind: "iso8601" | "dependency" | "any", definedAt: number): JobSpec {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw new JobSpecError("A job must be a JSON object");
  const o = input as Json;
  const name = str(o, "name");
  if (!name) throw new JobSpecError("'name' is required");
  if (name.length > MAX_NAME || !NAME.test(name)) {
    throw new JobSpecError(`Invalid job name '${name}': up to ${MAX_NAME} letters, digits, spaces and . # _ - only`);
  }
  const command = str(o, "command", "")!;
  const container = o["container"] as JobContainer | undefined;
  const executor = str(o, "executor", "")!;
  if (command.length > MAX_COMMAND) throw new JobSpecError(`'command' is longer than ${MAX_COMMAND} characters`);
  if (command === "" && !container && executor === "") throw new JobSpecError(`Job '${name}' has no 'command' (and no container or executor to run)`);
  const parents = strings(o, "parents");
  if (parents.length > MAX_PARENTS) throw new JobSpecError(`Job '${name}' has ${parents.length} parents; at most ${MAX_PARENTS}`);
  if (new Set(parents).size !== parents.length) throw new JobSpecError(`Job '${name}' names a parent twice`);
  if (parents.includes(name)) throw new JobSpecError(`Job '${name}' cannot be its own parent`);
  const schedule = str(o, "schedule");
  const cron = str(o, "cron");
  const scheduled = (schedule !== undefined && schedule !== "") || cron !== undefined;
  if (scheduled && parents.length > 0) throw new JobSpecError(`Job '${name}' has both a schedule and parents: a job is either scheduled or dependent`);
  if (kind === "iso8601" && !scheduled) throw new JobSpecError(`Job '${name}' has no 'schedule': post dependent jobs to /v1/scheduler/dependency`);
  if (kind === "dependency" && parents.length === 0) throw new JobSpecError(`Job '${name}' has no 'parents': post scheduled jobs to /v1/scheduler/iso8601`);
  if (!scheduled && parents.length === 0) throw new JobSpecError(`Job '${name}' has neither a schedule nor parents`);
  const scheduleTimeZone = str(o, "scheduleTimeZone");
  const epsilon = str(o, "epsilon", JOB_DEFAULTS.epsilon)!;
  try {
    durationMs(epsilon, "epsilon");
    if (scheduled) parseSchedule({ name, ...(schedule ? { schedule } : {}), ...(cron !== undefined ? { cron } : {}), ...(scheduleTimeZone ? { scheduleTimeZone } : {}) }, definedAt);
  } catch (err) {
    if (err instanceof ScheduleError) throw new JobSpecError(`Job '${name}': ${err.message}`);
    throw err;
  }
  if (container !== undefined) checkContainer(name, container);
  const fetch = (o["fetch"] ?? []) as JobFetch[];
  if (!Array.isArray(fetch) || fetch.some((f) => typeof f !== "object" || f === null || typeof f.uri !== "string")) {
    throw new JobSpecError(`Job '${name}': 'fetch' must be a list of {uri, cache, extract, executable}`);
  }
  const env = (o["environmentVariables"] ?? []) as { name: string; value: string }[];
  if (!Array.isArray(env) || env.some((e) => typeof e !== "object" || e === null || typeof e.name !== "string" || typeof e.value !== "string")) {
    throw new JobSpecError(`Job '${name}': 'environmentVariables' must be a list of {name, value} strings`);
  }
  const constraints = (o["constraints"] ?? []) as [string, string, string][];
  if (!Array.isArray(constraints)) throw new JobSpecError(`Job '${name}': 'constraints' must be a list of [attribute, OPERATOR, value]`);
  for (const c of constraints) {
    if (!Array.isArray(c) || c.length !== 3 || c.some((x) => typeof x !== "string") || !CONSTRAINT_OPS.has(c[1])) {
      throw new JobSpecError(`Job '${name}': invalid constraint ${JSON.stringify(c)}: expected [attribute, EQUALS|LIKE|UNLIKE, value]`);
    }
    if (c[1] !== "EQUALS") {
      try {
        new RegExp(c[2]);
      } catch {
        throw new JobSpecError(`Job '${name}': constraint ${JSON.stringify(c)} has an invalid regular expression`);
      }
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!KNOWN.has(k) && !STATS_FIELDS.has(k)) extra[k] = v;
  const runAsUser = str(o, "runAsUser");
  return {
    name,
    command,
    arguments: strings(o, "arguments"),
    shell: bool(o, "shell", true),
    ...(scheduled && schedule ? { schedule } : {}),
    ...(cron !== undefined ? { cron } : {}),
    ...(scheduleTimeZone ? { scheduleTimeZone } : {}),
    epsilon,
    parents,
    retries: Math.floor(num(o, "retries", JOB_DEFAULTS.retries)),
    async: bool(o, "async", false),
    concurrent: bool(o, "concurrent", false),
    disabled: bool(o, "disabled", false),
    owner: str(o, "owner", "")!,
    ownerName: str(o, "ownerName", "")!,
    description: str(o, "description", "")!,
    cpus: num(o, "cpus", JOB_DEFAULTS.cpus),
    mem: num(o, "mem", JOB_DEFAULTS.mem),
    disk: num(o, "disk", JOB_DEFAULTS.disk),
    ...(container ? { container } : {}),
    fetch,
    uris: strings(o, "uris"),
    environmentVariables: env,
    ...(runAsUser ? { runAsUser } : {}),
    maxCompletionTime: num(o, "maxCompletionTime", 0),
    highPriority: bool(o, "highPriority", false),
    constraints,
    softError: bool(o, "softError", false),
    // Chronos's docs call it dataJob, its JSON dataProcessingJobType (kept and echoed as posted).
    dataJob: bool(o, "dataJob", false) || bool(o, "dataProcessingJobType", false),
    executor,
    executorFlags: str(o, "executorFlags", "")!,
    taskInfoData: str(o, "taskInfoData", "")!,
    extra,
  };
}

function checkContainer(name: string, c: JobContainer): void {
  if (typeof c !== "object" || c === null) throw new JobSpecError(`Job '${name}': 'container' must be an object`);
  const type = String(c.type ?? "DOCKER").toUpperCase();
  if (type !== "DOCKER" && type !== "MESOS") throw new JobSpecError(`Job '${name}': container type '${c.type}' is not DOCKER or MESOS`);
  if (typeof c.image !== "string" || c.image === "") throw new JobSpecError(`Job '${name}': container.image is required`);
}

/** Whether the job is started by its schedule (else by its parents). */
export function isScheduled(spec: JobSpec): boolean {
  return spec.schedule !== undefined || spec.cron !== undefined;
}

/** The job as Chronos shows it (its own fields plus the unknown ones it was posted with). */
export function jobSpecJson(spec: JobSpec): Record<string, unknown> {
  const { extra, ...rest } = spec;
  const out: Record<string, unknown> = { ...extra, ...rest };
  if (!isScheduled(spec)) delete out["schedule"];
  if (spec.parents.length === 0) delete out["parents"];
  return out;
}
