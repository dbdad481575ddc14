/**
 * The isolator interface: what the posix containerizer asks of each isolation mechanism
 * (cgroups, namespaces) around a container's life. Chosen by the agent flag
 * `--isolation=posix|cgroups,namespaces` (see isolation-flag.ts). Every method but the
 * lifecycle ones is optional: an isolator implements what its mechanism can do.
 *
 * Order of calls for one container: prepare → (spawn the gated launcher) → isolate →
 * ("go") … → limitation → cleanup; kill/pids/usage at any time while it runs; recover
 * instead of prepare/isolate after an agent restart.
 */
import type { ContainerConfig, ContainerId, ContainerState, ResourceUsage, TerminationReason } from "./containerizer.js";

/** A limit the container hit, which ends it with a reason other than its own exit. */
export interface Limitation {
  reason: TerminationReason;
  /** One sentence, e.g. "Memory limit of 64 MiB exceeded: the kernel killed a process using 63.9 MiB". */
  message: string;
  memoryBytes?: number;
}

export interface Isolator {
  /** "cgroups", "namespaces" (as in the flag and in ContainerState.isolators). */
  readonly name: string;

  /**
   * True when the isolator shows the config's volumes to the container itself (namespaces:
   * bind mounts in its mount namespace); without one, the containerizer links them into
   * the sandbox.
   */
  readonly mountsVolumes?: boolean;

  /** Before the launcher is spawned: create what the container needs and apply its limits. */
  prepare(config: ContainerConfig): Promise<void>;

  /** Argv put between the gate and the recorder (namespaces: `unshare --pid --fork …`). */
  launchPrefix?(config: ContainerConfig): string[];

  /**
   * Argv that puts a command into the running container's isolation (cgroups: join its
   * cgroups; namespaces: nsenter its PID and mount namespaces), for Containerizer.enter.
   */
  enterPrefix?(state: ContainerState): Promise<string[]>;

  /** After spawn, before "go": put the (still waiting) launcher process in the isolation. */
  isolate(id: ContainerId, pid: number): Promise<void>;

  /**
   * Every process of the container, including ones that left its process group or session
   * (setsid, double fork). Only isolators that track processes (cgroups) implement it.
   */
  pids?(id: ContainerId): Promise<number[]>;

  /** The `cgroup.procs` files that list the container's processes (the warm launcher reads them without the agent). */
  procsFiles?(id: ContainerId): string[];

  /** SIGKILL every process of the container, leaving none able to fork away (freeze, kill, thaw). */
  kill?(id: ContainerId): Promise<void>;

  /** What the isolator measures better than /proc (cgroup CPU, memory, throttling). */
  usage?(id: ContainerId): Promise<Partial<ResourceUsage>>;

  /** After the container's launcher ended: whether a limit was hit (an OOM kill, …). */
  limitation?(id: ContainerId): Promise<Limitation | undefined>;

  /** After an agent restart: the checkpointed container, to find its isolation again. */
  recover(state: ContainerState): Promise<void>;

  /** Removes what prepare created; nothing of the container runs any more. Idempotent. */
  cleanup(id: ContainerId): Promise<void>;
}
