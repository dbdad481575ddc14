/**
 * The namespaces isolator: each container gets its own PID and mount namespaces, with a
 * /proc of its own, so a task sees only its own processes and cannot signal another
 * task's. It uses util-linux's `unshare --pid --fork --mount-proc`: the recorder (see
 * launcher.ts) becomes the namespace's init, so when it ends, the kernel kills whatever
 * is left in the namespace; `--kill-child` ends the namespace if unshare itself is killed.
 */
import type { ContainerConfig, ContainerId, ContainerState } from "./containerizer.js";
import { hostCommand } from "./host-command.js";
import type { Isolator } from "./isolator.js";

export const UNSHARE_OPTIONS: readonly string[] = ["--pid", "--fork", "--mount-proc", "--kill-child", "--"];

export class NamespacesIsolator implements Isolator {
  readonly name = "namespaces";
  private readonly unshare = hostCommand("unshare", "util-linux");

  async prepare(_config: ContainerConfig): Promise<void> {}

  launchPrefix(_config: ContainerConfig): string[] {
    return [this.unshare, ...UNSHARE_OPTIONS];
  }

  async isolate(_id: ContainerId, _pid: number): Promise<void> {}

  async recover(_state: ContainerState): Promise<void> {}

  async cleanup(_id: ContainerId): Promise<void> {}
}
