/**
 * Volumes of a container: host directories (persistent volumes, made by the agent outside
 * every sandbox) that the container sees at a container path.
 *
 * How the container sees them depends on its isolation:
 * - with the namespaces isolator, a real bind mount inside the container's own mount
 *   namespace (made by `volumeMountArgs` between `unshare` and the recorder, before the
 *   command starts). A relative container path is a directory in the sandbox (an empty
 *   mount point on the host); an absolute one must be an existing directory on the host,
 *   and is covered only inside the container. Read-only volumes are remounted read-only.
 * - plain posix tasks share the host's mount namespace, where a bind mount would be seen by
 *   every process and outlive the task; so they get a symlink `<sandbox>/<container path>`
 *   to the volume directory instead (`linkVolumes`), and the container path must be relative.
 *
 * Container paths that leave the sandbox ('..') are INVALID_ARGUMENT before anything
 * touches the disk.
 */
import { lstat, mkdir, rm, stat, symlink } from "node:fs/promises";
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
    const link = mountPoint(sandbox, v);
    await mkdir(v.hostPath, { recursive: true });
    await mkdir(dirname(link), { recursive: true });
    const existing = await lstat(link).catch(() => undefined);
    if (existing?.isSymbolicLink()) await rm(link);
    else if (existing) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot show volume ${v.id} at ${link}: something else is there`);
    await symlink(v.hostPath, link);
  }
}

/**
 * Namespaces: makes the volume directories and the mount points (a directory in the sandbox
 * for a relative path; an absolute one must already be a directory on the host, which only
 * the container's namespace will cover).
 */
export async function prepareMountPoints(sandbox: string, volumes: readonly ContainerVolume[]): Promise<void> {
  for (const v of volumes) {
    await mkdir(v.hostPath, { recursive: true });
    const target = mountPoint(sandbox, v);
    if (isAbsolute(v.containerPath)) {
      const st = await stat(target).catch(() => undefined);
      if (!st?.isDirectory()) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Cannot mount volume ${v.id} at '${v.containerPath}': it is not an existing directory on the host (use a relative path for a mount point in the sandbox)`);
      }
      continue;
    }
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isSymbolicLink()) await rm(target);
    await mkdir(target, { recursive: true });
  }
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
