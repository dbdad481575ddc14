/**
 * Persistent volumes on the agent: a volume is a directory outside every sandbox,
 *
 *   <work>/volumes/roles/<role>/<persistence id>
 *
 * (a hierarchical role "a/b" becomes the one component "a%2Fb"), created when the master
 * checkpoints the CREATE, kept when tasks end, removed on DESTROY. A task using the volume
 * sees it at the volume's container path: a Docker bind for docker tasks; a bind mount in the
 * task's own mount namespace under the namespaces isolator; for plain posix tasks a symlink
 * `<sandbox>/<container path>` (they share the host's mount namespace, so a bind mount
 * would be visible to everyone; the container path must then be relative). The
 * containerizer does the mounting or linking (src/isolation/volumes.ts).
 *
 * Bad paths are refused with INVALID_ARGUMENT before anything touches the disk: ids that
 * are not one path component, and container paths with '..' that would escape the sandbox.
 */
import { isAbsolute, join, relative, sep } from "node:path";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Volume_Mode } from "../../gen/dcos/v1/resources_pb.js";
import { reservationRole } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { isPersistentVolume, volumeProblem } from "../../resources/volumes.js";
import type { ContainerVolume } from "../../isolation/volumes.js";

export function volumesRoot(workDir: string): string {
  return join(workDir, "volumes", "roles");
}

/** The host directory of a persistent volume; INVALID_ARGUMENT if it would leave the work dir. */
export function volumeDir(workDir: string, r: Resource): string {
  const problem = volumeProblem(r);
  if (problem) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid persistent volume: ${problem}`);
  const role = reservationRole(r).replaceAll("/", "%2F");
  const root = volumesRoot(workDir);
  const dir = join(root, role, r.disk!.persistence!.id);
  const rel = relative(root, dir);
  if (rel.startsWith("..") || isAbsolute(rel) || rel.split(sep).length !== 2) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid persistent volume ${r.disk!.persistence!.id}: its path ${dir} escapes ${root}`);
  }
  return dir;
}

/** A volume a task uses: where it lives and where the task sees it. */
export type TaskVolume = ContainerVolume;

/** The persistent volumes among a task's resources. */
export function taskVolumes(workDir: string, resources: readonly Resource[]): TaskVolume[] {
  return resources.filter(isPersistentVolume).map((r) => ({
    id: r.disk!.persistence!.id,
    hostPath: volumeDir(workDir, r),
    containerPath: r.disk!.volume!.containerPath,
    readOnly: r.disk!.volume!.mode === Volume_Mode.RO,
  }));
}
