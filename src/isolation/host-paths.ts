/**
 * Host path volumes: which of the agent host's directories (or files) a task may see in its
 * container (a Volume with host_path in its ContainerInfo; Marathon's `hostPath` volumes).
 *
 * The agent is the authority: it refuses a host path that is
 * - `/` itself, or under /proc, /sys or /dev (the kernel's and the devices' interfaces:
 *   never, whatever the operator allows);
 * - the agent's work directory (sandboxes, checkpoints, its keys), its credential, key and
 *   secrets files, anything under them, or any directory above them (mounting /var would
 *   show /var/lib/dcos-node/agent);
 * - not under one of the prefixes of `--allowed-host-paths` (default `/`: anywhere else).
 * The check is lexical first (the path as given; `..` is refused outright), then again on
 * the path with its symlinks resolved just before the container starts, and the resolved
 * path is what gets mounted. Pure except `realHostPath`.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, normalize } from "node:path";
import { Code, DcosError } from "../runtime/error.js";

/** Never mounted into a task, whatever --allowed-host-paths says. */
export const NEVER_MOUNTED = ["/proc", "/sys", "/dev"] as const;

/** --allowed-host-paths when not given: anywhere that is not refused for another reason. */
export const DEFAULT_ALLOWED_HOST_PATHS: readonly string[] = ["/"];

/** Something of the agent's that no task may see, nor a directory above it. */
export interface ProtectedPath {
  path: string;
  /** What it is, for the refusal: "the agent's work directory". */
  what: string;
}

export interface HostPathPolicy {
  /** Absolute, normalized prefixes; a host path must be one of them or under one. */
  allowed: readonly string[];
  protectedPaths: readonly ProtectedPath[];
}

/** A host path refused by the policy (the task gets TASK_ERROR with reason TASK_UNAUTHORIZED). */
export class HostPathRefused extends DcosError {
  constructor(message: string) {
    super(Code.PERMISSION_DENIED, message);
  }
}

/** Whether `path` is `prefix` or under it, a path component at a time ("/data" covers "/data/x", not "/database"). */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** "/a//b/" → "/a/b". */
function clean(path: string): string {
  const n = normalize(path);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** The `--allowed-host-paths` flag: comma-separated absolute prefixes. INVALID_ARGUMENT otherwise. */
export function parseAllowedHostPaths(flag: string): string[] {
  const entries = flag
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (entries.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "--allowed-host-paths names no path: give absolute path prefixes, comma-separated (e.g. /data,/srv/shared)");
  return entries.map((e) => {
    if (!isAbsolute(e) || e.includes("\0") || e.split("/").includes("..")) {
      throw new DcosError(Code.INVALID_ARGUMENT, `--allowed-host-paths entry '${e}' is not an absolute path without '..'`);
    }
    return clean(e);
  });
}

/** The policy of an agent: allowed prefixes (default: anywhere) and what of its own is protected. */
export function hostPathPolicy(allowed: readonly string[] | undefined, protectedPaths: readonly ProtectedPath[]): HostPathPolicy {
  return {
    allowed: (allowed ?? DEFAULT_ALLOWED_HOST_PATHS).map(clean),
    protectedPaths: protectedPaths.filter((p) => typeof p.path === "string" && isAbsolute(p.path)).map((p) => ({ ...p, path: clean(p.path) })),
  };
}

/**
 * Why no task may mount `hostPath`, whatever the agent (the part a scheduler can check up
 * front): not absolute, NUL, `..`, `/`, or under /proc, /sys, /dev. Undefined: it may.
 */
export function hostPathShapeProblem(hostPath: unknown): string | undefined {
  if (typeof hostPath !== "string" || !isAbsolute(hostPath)) return `host path ${JSON.stringify(hostPath)} must be an absolute path`;
  if (hostPath.includes("\0")) return "a host path must not contain NUL";
  if (hostPath.split("/").includes("..")) return `host path '${hostPath}' must not contain '..'`;
  const n = clean(hostPath);
  if (n === "/") return "host path '/' (the agent's whole filesystem) cannot be mounted into a task";
  const never = NEVER_MOUNTED.find((p) => isUnder(n, p));
  if (never) return `host path '${hostPath}' is under ${never}, which is never mounted into a task`;
  return undefined;
}

/** Why this agent refuses `hostPath` (shape, protected paths, allowed prefixes); undefined: allowed. */
export function hostPathProblem(hostPath: unknown, policy: HostPathPolicy): string | undefined {
  const shape = hostPathShapeProblem(hostPath);
  if (shape) return shape;
  const n = clean(hostPath as string);
  for (const p of policy.protectedPaths) {
    if (isUnder(n, p.path)) return `host path '${hostPath as string}' is ${n === p.path ? "" : "inside "}${p.what} (${p.path}), which no task may mount`;
    if (isUnder(p.path, n)) return `host path '${hostPath as string}' contains ${p.what} (${p.path}), which no task may see`;
  }
  if (!policy.allowed.some((a) => isUnder(n, a))) {
    return `host path '${hostPath as string}' is not under a path this agent allows (--allowed-host-paths=${policy.allowed.join(",")})`;
  }
  return undefined;
}

/**
 * The host path with its symlinks resolved, checked again against the policy (with the
 * protected paths resolved too): HostPathRefused when the real path is refused,
 * FAILED_PRECONDITION when it does not exist (the agent creates no host directory).
 */
export async function realHostPath(hostPath: string, policy: HostPathPolicy): Promise<string> {
  const first = hostPathProblem(hostPath, policy);
  if (first) throw new HostPathRefused(first);
  let real: string;
  try {
    real = await realpath(hostPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DcosError(Code.FAILED_PRECONDITION, `host path '${hostPath}' ${code === "ENOENT" ? "does not exist on this agent (the agent creates no host directory)" : `cannot be resolved: ${(err as Error).message}`}`);
  }
  const resolvedProtected = await Promise.all(policy.protectedPaths.map(async (p) => ({ ...p, path: await realpath(p.path).catch(() => p.path) })));
  const again = hostPathProblem(real, { ...policy, protectedPaths: [...policy.protectedPaths, ...resolvedProtected] });
  if (again) throw new HostPathRefused(real === hostPath ? again : `host path '${hostPath}' resolves to '${real}': ${again}`);
  return real;
}
