/**
 * What a one-off run asks for, checked: the body of the run service's `POST /v1/runs`
 * (run-server.ts) and the options of `dcos-node run`'s own framework (src/cli/run.ts) go
 * through the same checks, so both refuse the same input with the same sentence.
 */
import type { ResourceRequest } from "../../actors/scheduler-driver/builders.js";
import { validateRole } from "../../resources/roles.js";
import { Code, DcosError } from "../../runtime/error.js";

export interface RunRequest {
  /** The task's name (and, for the one-off framework, the framework's). */
  name: string;
  /** A shell line (`/bin/sh -c`), or argv run without a shell. */
  command: string | string[];
  resources: ResourceRequest;
  role: string;
  /** The user the task runs as. */
  user: string;
  env: Record<string, string>;
  /** Whole-run limit in seconds (0: none): no offer in time gives up, a running task is killed. */
  timeoutSeconds: number;
  /** Copy the task's stdout/stderr to the client as they grow. */
  output: boolean;
}

/** Longest command line, name, user, env entry accepted (the body as a whole is limited by the server). */
const MAX_TEXT = 16 * 1024;
const MAX_ARGS = 1024;
const MAX_ENV = 256;

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

/** INVALID_ARGUMENT unless `value` is a finite number > 0 (≥ 0 with allowZero); undefined passes. */
export function checkPositive(value: number | undefined, what: string, allowZero = false): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw invalid(`Invalid ${what} ${value}: must be a number > ${allowZero ? "= " : ""}0`);
  }
}

/** INVALID_ARGUMENT unless every name is an environment variable name. */
export function checkEnvNames(env: Record<string, string>): void {
  for (const key of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw invalid(`Invalid --env name '${key.slice(0, 64)}': expected [A-Za-z_][A-Za-z0-9_]*`);
  }
}

/** INVALID_ARGUMENT unless there is a command to run. */
export function checkCommand(command: readonly string[]): void {
  if (command.length === 0 || command.every((c) => c.trim() === "")) {
    throw invalid("No command given: put it after --, e.g. dcos-node run --master=… -- echo hello");
  }
}

function text(value: unknown, field: string, max = MAX_TEXT): string {
  if (typeof value !== "string") throw invalid(`'${field}' must be a string`);
  if (value.length > max) throw invalid(`'${field}' is longer than ${max} characters`);
  return value;
}

function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") throw invalid(`'${field}' must be a number`);
  return value;
}

const FIELDS = new Set(["name", "command", "cpus", "mem", "disk", "role", "user", "env", "timeoutSeconds", "output"]);

/** The program's name: "echo" for `echo hello` or `/bin/echo hello` (a shell line: its first word). */
export function nameFromCommand(command: readonly string[]): string {
  const first = (command.length === 1 ? command[0]!.trim().split(/\s+/)[0] : command[0]) ?? "";
  const base = first.split("/").filter((p) => p !== "").at(-1) ?? "";
  const name = base.replace(/[^A-Za-z0-9._-]/g, "");
  return name === "" ? "run" : name;
}

/**
 * The body of `POST /v1/runs` as a RunRequest, or INVALID_ARGUMENT naming the first
 * problem: `{command: "echo hi" | ["echo", "hi"], name? (default: the program's name), cpus, mem, disk?, role?, user,
 * env?, timeoutSeconds?, output?}`. Unknown fields are refused (a typo is not ignored).
 */
export function parseRunRequest(body: unknown): RunRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("The body must be a JSON object");
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!FIELDS.has(key)) throw invalid(`Unknown field '${key.slice(0, 64)}'`);
  let command: string | string[];
  if (typeof o.command === "string") {
    command = text(o.command, "command");
    checkCommand([command]);
  } else if (Array.isArray(o.command)) {
    if (o.command.length > MAX_ARGS) throw invalid(`'command' has more than ${MAX_ARGS} words`);
    command = o.command.map((c, i) => text(c, `command[${i}]`));
    checkCommand(command);
  } else {
    throw invalid("'command' must be a string (a shell line) or an array of strings (argv)");
  }
  const name = o.name === undefined ? nameFromCommand(typeof command === "string" ? [command] : command) : text(o.name, "name", 256);
  if (name.trim() === "") throw invalid("Invalid --name: it is empty");
  const cpus = optionalNumber(o.cpus, "cpus");
  const mem = optionalNumber(o.mem, "mem");
  const disk = optionalNumber(o.disk, "disk");
  const timeoutSeconds = optionalNumber(o.timeoutSeconds, "timeoutSeconds");
  if (cpus === undefined || mem === undefined) throw invalid("'cpus' and 'mem' are required");
  checkPositive(cpus, "--cpus");
  checkPositive(mem, "--mem");
  checkPositive(disk, "--disk", true);
  checkPositive(timeoutSeconds, "--timeout");
  const role = o.role === undefined ? "*" : text(o.role, "role", 256);
  validateRole(role, "--role");
  const user = text(o.user, "user", 256);
  if (user.trim() === "") throw invalid("'user' is empty");
  const env: Record<string, string> = {};
  if (o.env !== undefined) {
    if (typeof o.env !== "object" || o.env === null || Array.isArray(o.env)) throw invalid("'env' must be an object of strings");
    const entries = Object.entries(o.env as Record<string, unknown>);
    if (entries.length > MAX_ENV) throw invalid(`'env' has more than ${MAX_ENV} variables`);
    for (const [k, v] of entries) env[k] = text(v, `env.${k.slice(0, 64)}`);
    checkEnvNames(env);
  }
  if (o.output !== undefined && typeof o.output !== "boolean") throw invalid("'output' must be true or false");
  return {
    name,
    command,
    resources: { cpus, mem, ...(disk !== undefined ? { disk } : {}) },
    role,
    user,
    env,
    timeoutSeconds: timeoutSeconds ?? 0,
    output: o.output !== false,
  };
}
