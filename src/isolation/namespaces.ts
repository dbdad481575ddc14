/**
 * The namespaces isolator: each container gets its own PID and mount namespaces, with a
 * /proc of its own, so a task sees only its own processes and cannot signal another
 * task's. It uses util-linux's `unshare --pid --fork --mount-proc`: the recorder (see
 * launcher.ts) becomes the namespace's init, so when it ends, the kernel kills whatever
 * is left in the namespace; `--kill-child` ends the namespace if unshare itself is killed.
 *
 * The container's volumes (persistent volumes) are bind-mounted inside its mount namespace
 * before the command starts (volumes.ts); the mounts are private to the namespace and go
 * away with it, the volume directories stay.
 */
import type { ContainerConfig, ContainerId, ContainerState } from "./containerizer.js";
import { hostCommand } from "./host-command.js";
import { hasExited, listProcesses } from "./proc.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Isolator } from "./isolator.js";
import { prepareMountPoints, volumeMountArgs } from "./volumes.js";

export const UNSHARE_OPTIONS: readonly string[] = ["--pid", "--fork", "--mount-proc", "--kill-child", "--"];

export class NamespacesIsolator implements Isolator {
  readonly name = "namespaces";
  readonly mountsVolumes = true;
  private readonly unshare = hostCommand("unshare", "util-linux");
  private readonly nsenter = hostCommand("nsenter", "util-linux");

  async prepare(config: ContainerConfig): Promise<void> {
    await prepareMountPoints(config.sandbox, config.volumes ?? []);
  }

  launchPrefix(config: ContainerConfig): string[] {
    return [this.unshare, ...UNSHARE_OPTIONS, ...volumeMountArgs(config.sandbox, config.volumes ?? [])];
  }

  async isolate(_id: ContainerId, _pid: number): Promise<void> {}

  /** nsenter the PID and mount namespaces of the container's init (the recorder, unshare's one child). */
  async enterPrefix(state: ContainerState): Promise<string[]> {
    const init = (await listProcesses()).find((p) => p.ppid === state.pid && !hasExited(p));
    if (!init) throw new DcosError(Code.FAILED_PRECONDITION, `Container '${state.id}' has no process left in its namespaces`);
    // --wd: entering a mount namespace moves to its root; the check runs where the task does.
    return [this.nsenter, `--target=${init.pid}`, "--pid", "--mount", "--wd", "--"];
  }

  async recover(_state: ContainerState): Promise<void> {}

  async cleanup(_id: ContainerId): Promise<void> {}
}
