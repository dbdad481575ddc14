/**
 * Validation of a ContainerConfig and of the ids that name files and cgroups, and the
 * environment a container gets. Bad input is a DcosError(INVALID_ARGUMENT) that says which
 * field is wrong and why.
 */
import { isAbsolute } from "node:path";
import { Code, DcosError } from "../runtime/error.js";
import type { ContainerConfig } from "./containerizer.js";
import { validateVolumes } from "./volumes.js";
import { DEFAULT_PATH } from "./host-command.js";

const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const MAX_ID_LENGTH = 200;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks an id that becomes a path component (agent, framework, executor, container ids).
 * Refuses '/', NUL, '.' and '..', leading dots and anything outside [A-Za-z0-9._-].
 */
export function validateId(kind: string, id: unknown): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${kind}: it must be a non-empty string`);
  }
  if (id.length > MAX_ID_LENGTH) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${kind} '${id.slice(0, 40)}…': longer than ${MAX_ID_LENGTH} characters`);
  }
  if (!ID_PATTERN.test(id)) {
    throw new DcosError(
      Code.INVALID_ARGUMENT,
      `Invalid ${kind} ${JSON.stringify(id)}: only letters, digits, '.', '_' and '-' are allowed, and it must not start with '.' or '-'`,
    );
  }
  return id;
}

function hasNul(s: string): boolean {
  return s.includes("\0");
}

function validatePath(field: string, p: string | undefined): void {
  if (p === undefined) return;
  if (typeof p !== "string" || p.length === 0 || !isAbsolute(p) || hasNul(p)) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid container config: ${field} must be an absolute path without NUL, got ${JSON.stringify(p)}`);
  }
}

/** Throws INVALID_ARGUMENT for the first thing wrong with the config. */
export function validateConfig(config: ContainerConfig): void {
  if (config === null || typeof config !== "object") {
    throw new DcosError(Code.INVALID_ARGUMENT, "Invalid container config: expected an object");
  }
  validateId("container id", config.id);
  const { command } = config;
  if (typeof command === "string") {
    if (command.trim().length === 0 || hasNul(command)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid command for container ${config.id}: a shell command must be non-empty and without NUL`);
    }
  } else if (Array.isArray(command)) {
    // An empty argv in a Docker container: the image's entrypoint / default command.
    const imageDefault = command.length === 0 && (config as { docker?: unknown }).docker !== undefined;
    if ((command.length === 0 && !imageDefault) || command.some((a) => typeof a !== "string" || hasNul(a)) || command[0] === "") {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid command for container ${config.id}: an argv must be a non-empty list of strings without NUL (empty only in a Docker container: the image's default command)`);
    }
  } else {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid command for container ${config.id}: expected a string or an array of strings`);
  }
  validatePath("sandbox", config.sandbox);
  if (config.sandbox === undefined) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid container config for ${config.id}: sandbox is required`);
  validatePath("stdoutPath", config.stdoutPath);
  validatePath("stderrPath", config.stderrPath);
  validateVolumes(config.id, config.volumes);
  for (const [k, v] of Object.entries(config.env ?? {})) {
    if (!ENV_NAME.test(k) || typeof v !== "string" || hasNul(v)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid environment variable ${JSON.stringify(k)} for container ${config.id}`);
    }
  }
  if (config.user !== undefined && (typeof config.user !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/.test(config.user))) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid user ${JSON.stringify(config.user)} for container ${config.id}`);
  }
  const r = config.resources ?? {};
  for (const key of ["cpus", "memMb", "diskMb"] as const) {
    const v = r[key];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid resources for container ${config.id}: ${key} must be a non-negative number, got ${String(v)}`);
    }
  }
  const ports = r.ports ?? [];
  if (!Array.isArray(ports)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid resources for container ${config.id}: ports must be a list`);
  const seen = new Set<number>();
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid port ${String(p)} for container ${config.id}: ports are integers in 1..65535`);
    }
    if (seen.has(p)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ports for container ${config.id}: port ${p} is listed twice`);
    seen.add(p);
  }
}

/**
 * The environment of a container: PATH, then the config's variables, then ours, which win:
 * DCOS_SANDBOX, DCOS_CONTAINER_ID, PORT0..PORTn, PORT (= PORT0) and PORTS (comma-separated).
 */
export function containerEnvironment(config: ContainerConfig): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, ...(config.env ?? {}) };
  env.DCOS_SANDBOX = config.sandbox;
  env.DCOS_CONTAINER_ID = config.id;
  const ports = config.resources?.ports ?? [];
  ports.forEach((p, i) => (env[`PORT${i}`] = String(p)));
  if (ports.length > 0) {
    env.PORT = String(ports[0]);
    env.PORTS = ports.join(",");
  }
  return env;
}
