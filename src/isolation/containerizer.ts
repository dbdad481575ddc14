/**
 * The containerizer interface: what the agent uses to launch, wait for, measure and
 * destroy containers. The posix containerizer (posix.ts) implements it with process
 * groups; isolators (isolator.ts: cgroups, later namespaces) plug into it; a Docker
 * containerizer will implement the same interface directly.
 *
 * Everything here is plain TypeScript data (not protobuf): the agent maps TaskInfo to a
 * ContainerConfig, and checkpoints ContainerState as JSON.
 */

import { constants as osConstants } from "node:os";
import type { ContainerVolume } from "./volumes.js";

export type ContainerId = string;

/** What the container was given. Isolators enforce what they can; posix enforces none. */
export interface ContainerResources {
  cpus?: number;
  memMb?: number;
  diskMb?: number;
  /** Host ports, already picked from the offer's ranges; exposed as PORT0..N and PORTS. */
  ports?: readonly number[];
}

export interface ContainerConfig {
  /** Letters, digits, '.', '_' and '-' (it names files and cgroups). */
  id: ContainerId;
  /**
   * A string runs through `/bin/sh -c`; an array is an argv run as is (the first element
   * is looked up on PATH). In a Docker container an array is the image's CMD (its
   * entrypoint, if any, runs it), and an empty array runs the image's own default command.
   */
  command: string | readonly string[];
  /** Added to the container's environment. The agent's own environment is not inherited. */
  env?: Readonly<Record<string, string>>;
  /** Absolute path of the sandbox, which must exist; the command's working directory. */
  sandbox: string;
  /** Run as this user (name or numeric uid); only an agent running as root may ask for it. */
  user?: string;
  resources?: ContainerResources;
  /**
   * Host directories the container sees at a container path (persistent and host path volumes): bind
   * mounts under the namespaces isolator, symlinks in the sandbox otherwise (volumes.ts).
   */
  volumes?: readonly ContainerVolume[];
  /** Where stdout and stderr are appended; default `<sandbox>/stdout` and `<sandbox>/stderr`. */
  stdoutPath?: string;
  stderrPath?: string;
  /**
   * The kill grace of what runs in it (a task's kill policy), for a destroy nobody asked
   * for: the warm launcher's, when the agent stays away for the recovery timeout.
   */
  killGracePeriodMs?: number;
}

/**
 * Why a container ended, when it is more than "the command ended on its own":
 * - "destroyed": destroy() was called (the agent maps this to TASK_KILLED);
 * - "memory limit" / "pids limit": an isolator's limit was hit and the container was ended;
 * - "launch failed": the command could not be started (missing user, bad sandbox, …);
 * - "status unknown": after a recovery the process was found gone without a recorded status,
 *   or the launch wrapper was SIGKILLed (not by destroy) before the command's status was recorded.
 */
export type TerminationReason = "destroyed" | "memory limit" | "pids limit" | "launch failed" | "status unknown";

export interface Termination {
  containerId: ContainerId;
  /** The command's exit status, when it exited on its own (null when a signal ended it or it is unknown). */
  exitCode: number | null;
  /** The signal that ended the command, e.g. "SIGTERM", or null. */
  signal: NodeJS.Signals | null;
  reason?: TerminationReason;
  /** One human sentence: "Command exited with status 3", "Memory limit of 64 MiB exceeded (…)". */
  message: string;
  /** For a memory limit: the most memory the container used, in bytes. */
  memoryBytes?: number;
}

/** A snapshot of what a container uses now. */
export interface ResourceUsage {
  containerId: ContainerId;
  /** Milliseconds since the epoch when the snapshot was taken. */
  timestamp: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Resident memory, in bytes (the sum over processes for posix; the cgroup's charge with cgroups). */
  memRssBytes: number;
  memLimitBytes?: number;
  processes: number;
  threads: number;
  /** With a CPU quota: how long the container was throttled. */
  cpuThrottledSeconds?: number;
}

/**
 * What the agent checkpoints for each container, so a new containerizer can find it again
 * after the agent restarts. Plain JSON. `pid` + `startTime` name the container's first
 * process for good (a reused pid has another start time); `bootId` tells whether the host
 * rebooted since (then nothing of it is left).
 */
export interface ContainerState {
  id: ContainerId;
  /** Which containerizer launched it ("posix"; later "docker"). */
  containerizer: string;
  /** The isolators that were applied, by name, so recovery can ask each of them. */
  isolators: string[];
  pid: number;
  startTime: number;
  bootId: string;
  sandbox: string;
  /** The containerizer's private directory for this container (exit status file, state). */
  runtimeDir: string;
  /** The ports it was given, so the agent can account for them after a restart. */
  ports?: number[];
  /** The user its command runs as, when the containerizer switched to it. */
  user?: string;
}

export interface RecoveryResult {
  /** Checkpointed containers found again (running, or ended while the agent was down: wait() tells). */
  recovered: ContainerId[];
  /**
   * Containers the containerizer found that the agent did not checkpoint (it died between
   * launch and checkpoint). They are known to the containerizer, so the agent can destroy them.
   */
  orphans: ContainerId[];
}

export interface Containerizer {
  /** "posix", "docker", … (matches ContainerState.containerizer). */
  readonly kind: string;

  /**
   * Whether containers without a Docker image get their own mount namespace, where volumes
   * are bind mounts (absolute container paths and read-only volumes need it); without one
   * they are symlinks in the sandbox (volumes.ts). Absent: no.
   */
  readonly mountsVolumes?: boolean;

  /**
   * Starts a container. Resolves once the command is running, with the state to checkpoint.
   * Rejects with a DcosError: INVALID_ARGUMENT for a bad config, ALREADY_EXISTS for an id in
   * use, FAILED_PRECONDITION/PERMISSION_DENIED when the host cannot do it.
   */
  launch(config: ContainerConfig): Promise<ContainerState>;

  /**
   * Resolves when the container has ended and nothing of it runs any more. Never rejects for
   * a known container (a failure is a Termination with a reason); NOT_FOUND for an unknown id.
   */
  wait(id: ContainerId): Promise<Termination>;

  /**
   * SIGTERM to every process of the container, SIGKILL after the grace period to what is
   * left; resolves with the termination once everything in it is gone. Idempotent.
   */
  destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination>;

  /** CPU time, memory and process count now. NOT_FOUND for an unknown or ended container. */
  usage(id: ContainerId): Promise<ResourceUsage>;

  /** Containers that are running (or being destroyed). */
  containers(): ContainerId[];

  /** The checkpointable state of a running container. */
  state(id: ContainerId): ContainerState | undefined;

  /**
   * The argv prefix that runs a command inside a running container: in its cgroups and
   * namespaces, as its user (the agent's command health checks of tasks it runs itself).
   * NOT_FOUND for an unknown container. Containerizers without it cannot do that.
   */
  enter?(id: ContainerId): Promise<string[]>;

  /** After an agent restart: find the checkpointed containers again and watch them. */
  recover(states: readonly ContainerState[]): Promise<RecoveryResult>;

  /**
   * Stops watching without touching the containers (they keep running), as an agent does
   * when it shuts down for an upgrade. Pending wait() promises stay unresolved.
   */
  detach(): void;
}

/**
 * The status a shell reports for an ended process: its exit code, or 128 + the number of the
 * signal that ended it (SIGKILL: 137); undefined when neither is known.
 */
export function shellExitStatus(exitCode: number | null, signal: NodeJS.Signals | null): number | undefined {
  if (exitCode !== null) return exitCode;
  const number = signal ? (osConstants.signals as Record<string, number>)[signal] : undefined;
  return number === undefined ? undefined : 128 + number;
}
