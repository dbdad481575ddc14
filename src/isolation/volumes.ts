/**
 * Volumes of a container: host directories that the container sees at a container path —
 * persistent volumes (made by the agent outside every sandbox) and host path volumes (a
 * directory or file of the host that must already exist, checked against the agent's
 * policy beforehand: host-paths.ts).
 *
 * How the container sees them depends on its isolation:
 * - with the namespaces isolator, a real bind mount inside the container's own mount
 *   namespace (made by `volumeMountArgs` between `unshare` and the recorder, before the
 *   command starts). A relative container path is a directory in the sandbox (an empty
 *   mount point on the host); an absolute one must be an existing directory on the host,
 *   and is covered only inside the container. Read-only volumes are remounted read-only.
 *   A host path that is a file gets a file as its mount point.
 * - plain posix tasks share the host's mount namespace, where a bind mount would be seen by
 *   every process and outlive the task; so they get a symlink `<sandbox>/<container path>`
 *   to the volume directory instead (`linkVolumes`), the container path must be relative,
 *   and a volume cannot be read-only (a link cannot be).
 *
 * Container paths that leave the sandbox ('..') are INVALID_ARGUMENT before anything
 * touches the disk.
 */
import { lstat, mkdir, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { Code, DcosError } from "../runtime/error.js";
import { hostCommand } from "./host-command.js";

export interface ContainerVolume {
  /** Names the volume in messages (the persistence id). */
  id: string;
  /** Absolute path of the directory on the host. */
  hostPath: string;
  /** Where the container sees it: relative to the sandbox, or absolute (namespaces and Docker only). */
  containerPath: string;
  readOnly: boolean;
  /**
   * "persistent" (default): the agent's own directory, made if missing. "host": a host path
   * volume, which must exist (a directory or a file) and is never created.
   */
  source?: "persistent" | "host";
}

/** Why a volume cannot be given to a container, or undefined. */
export function containerVolumeProblem(v: ContainerVolume): string | undefined {
  if (typeof v.hostPath !== "string" || !isAbsolute(v.hostPath) || v.hostPath.includes("\0")) return `volume ${v.id} needs an absolute host path without NUL`;
  const path = v.containerPath;
  if (typeof path !== "string" || path === "") return `volume ${v.id} needs a container path`;
  if (path.includes("\0")) return `volume ${v.id} has a container path with NUL`;
  const n = normalize(path);
  if (isAbsolute(path)) return n === "/" ? `volume ${v.id} cannot be mounted at /` : undefined;
  if (n === "." || n === ".." || n.startsWith(`..${sep}`)) return `volume ${v.id} has container path '${path}', which escapes the sandbox`;
  return undefined;
}

/** Throws INVALID_ARGUMENT for the first volume that cannot be given to container `id`. */
export function validateVolumes(id: string, volumes: readonly ContainerVolume[] | undefined): void {
  if (volumes === undefined) return;
  if (!Array.isArray(volumes)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid volumes for container ${id}: expected a list`);
  for (const v of volumes) {
    const problem = containerVolumeProblem(v);
    if (problem) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid volume for container ${id}: ${problem}`);
  }
}

/** Where the volume is seen from the host's point of view before the namespace covers it. */
function mountPoint(sandbox: string, v: ContainerVolume): string {
  return isAbsolute(v.containerPath) ? normalize(v.containerPath) : join(sandbox, normalize(v.containerPath));
}

/**
 * Plain posix: `<sandbox>/<container path>` → the volume directory. Absolute container paths
 * are refused: without a mount namespace the task could only see them on the host itself.
 */
export async function linkVolumes(sandbox: string, volumes: readonly ContainerVolume[]): Promise<void> {
  for (const v of volumes) {
    if (isAbsolute(v.containerPath)) {
      throw new DcosError(
        Code.INVALID_ARGUMENT,
        `Volume ${v.id} has the absolute container path '${v.containerPath}': posix tasks without the namespaces isolator see volumes in their sandbox, use a relative path (or --isolation=namespaces, or a Docker container)`,
      );
    }
    if (v.readOnly) {
      throw new DcosError(
        Code.INVALID_ARGUMENT,
        `Volume ${v.id} is read-only: posix tasks without the namespaces isolator see volumes through a symlink in their sandbox, which cannot be read-only (use --isolation=namespaces, or a Docker container)`,
      );
    }
    const link = mountPoint(sandbox, v);
    await sourceReady(v);
    await staysInSandbox(sandbox, link, v);
    await mkdir(dirname(link), { recursive: true });
    const existing = await lstat(link).catch(() => undefined);
    if (existing?.isSymbolicLink()) await rm(link);
    else if (existing) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot show volume ${v.id} at ${link}: something else is there`);
    await symlink(v.hostPath, link);
  }
}

/**
 * Namespaces: makes the persistent volume directories and the mount points (a directory in
 * the sandbox for a relative path, or an empty file for a host path that is a file; an
 * absolute one must already exist on the host as the same kind, and only the container's
 * namespace will cover it).
 */
export async function prepareMountPoints(sandbox: string, volumes: readonly ContainerVolume[]): Promise<void> {
  for (const v of volumes) {
    const file = !(await sourceReady(v));
    const kind = file ? "file" : "directory";
    const target = mountPoint(sandbox, v);
    if (isAbsolute(v.containerPath)) {
      const st = await stat(target).catch(() => undefined);
      if (!st || st.isDirectory() === file) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Cannot mount volume ${v.id} at '${v.containerPath}': it is not an existing ${kind} on the host (use a relative path for a mount point in the sandbox)`);
      }
      continue;
    }
    await staysInSandbox(sandbox, target, v);
    await mkdir(dirname(target), { recursive: true });
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isSymbolicLink()) await rm(target);
    if (!file) {
      await mkdir(target, { recursive: true });
      continue;
    }
    if (existing?.isDirectory()) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot mount the file ${v.hostPath} of volume ${v.id} at ${target}: a directory is there`);
    await writeFile(target, "", { flag: "a" });
  }
}

/**
 * The directory that will hold a mount point or link in the sandbox must really be in the
 * sandbox: a symlink the task's fetched files put there must not lead the agent (root) to
 * make links or mount points elsewhere on the host.
 */
async function staysInSandbox(sandbox: string, target: string, v: ContainerVolume): Promise<void> {
  const root = await realpath(sandbox);
  // The deepest directory above the target that exists already (the rest is made later).
  let dir = dirname(target);
  let real = await realpath(dir).catch(() => undefined);
  while (real === undefined && dir !== dirname(dir)) {
    dir = dirname(dir);
    real = await realpath(dir).catch(() => undefined);
  }
  if (real === undefined || (real !== root && !real.startsWith(`${root}${sep}`))) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Volume ${v.id} has container path '${v.containerPath}', which leads out of the sandbox through a symlink (to ${real ?? dir})`);
  }
}

/**
 * Makes a persistent volume's directory; checks a host path volume's source exists.
 * Resolves true for a directory, false for a file (host paths only).
 */
async function sourceReady(v: ContainerVolume): Promise<boolean> {
  if (v.source !== "host") {
    await mkdir(v.hostPath, { recursive: true });
    return true;
  }
  const st = await stat(v.hostPath).catch(() => undefined);
  if (!st) throw new DcosError(Code.FAILED_PRECONDITION, `Host path ${v.hostPath} of volume ${v.id} does not exist on this agent`);
  return st.isDirectory();
}

/**
 * $1 is mount(8); then triples "host target rw|ro" up to "--"; then the rest of the argv,
 * which it execs once every volume is mounted. Runs inside the new mount namespace, whose
 * mounts are private (unshare's default), so nothing leaks to the host.
 */
export const MOUNT_SCRIPT = [
  "mount_cmd=$1; shift",
  'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do',
  '  src=$1; dst=$2; mode=$3; shift 3',
  '  "$mount_cmd" --bind "$src" "$dst" || { echo "dcos: cannot bind-mount volume $src at $dst" >&2; exit 124; }',
  '  if [ "$mode" = ro ]; then "$mount_cmd" -o remount,bind,ro "$dst" || { echo "dcos: cannot make volume $dst read-only" >&2; exit 124; }; fi',
  "done",
  "shift",
  'exec "$@"',
].join("\n");

/** The argv (to put after `unshare … --`) that mounts the volumes, then execs what follows. */
export function volumeMountArgs(sandbox: string, volumes: readonly ContainerVolume[]): string[] {
  if (volumes.length === 0) return [];
  const triples = volumes.flatMap((v) => [v.hostPath, mountPoint(sandbox, v), v.readOnly ? "ro" : "rw"]);
  return ["/bin/sh", "-c", MOUNT_SCRIPT, "dcos-mount", hostCommand("mount", "mount"), ...triples, "--"];
}
