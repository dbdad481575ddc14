import type { ExecutorTokens } from "./executor-tokens.js";
import type { SecretResolver } from "./secrets.js";
import type { Containerizer } from "../../isolation/containerizer.js";
import type { ProtectedPath } from "../../isolation/host-paths.js";
import type { Pid } from "../../runtime/pid.js";
import type { Random } from "../../runtime/random.js";
import type { FileSystem } from "../../runtime/file-system.js";
import type { BootIdSource } from "./boot-id.js";
import type { LaunchTrace } from "./launch-trace.js";
import type { HostFacts } from "./resource-detection.js";

export interface AgentOptions {
  /** The master's pid (e.g. `master@10.0.0.1:5050`). */
  master: Pid;
  /**
   * Every master of a replicated group (`--master=a,b,c`), `master` first or not: the agent
   * registers with one, moves on to the next when unanswered, and follows LeadingMaster
   * announcements. Default: [master].
   */
  masters?: readonly Pid[];
  /** Sandboxes and checkpoints live here. */
  workDir: string;
  containerizer: Containerizer;
  /** host:port of the ExecutorService executors connect back to. */
  executorEndpoint: string;
  /** Signs each executor's token (DCOS_EXECUTOR_TOKEN); none: executors get no token. */
  executorTokens?: ExecutorTokens;
  /** The `--resources` flag; entries replace the detected resources of the same name. */
  resources?: string;
  /** The `--attributes` flag: `rack:a;zone:1`. */
  attributes?: string;
  /** Default: os.hostname(). */
  hostname?: string;
  /** The port of the agent's HTTP endpoint (/files), told to the master in AgentInfo.http_port. */
  httpPort?: number;
  /** Actor name; default "agent". */
  name?: string;
  /** Instead of detecting CPUs, memory and disk (tests). */
  hostFacts?: HostFacts;
  /** The seeded source of registration backoff, container ids and status update uuids (default seeded from the clock). */
  random?: Random;
  /** Per-stage timestamps of command task launches (launch-trace.ts, the `containers` bench); off by default. */
  launchTrace?: LaunchTrace;
  /**
   * Longest a container's end waits behind launches of agent-run tasks under way
   * (launch-lane.ts; default 100 ms; 0: ends never wait).
   */
  launchLaneMaxWaitMs?: number;
  /**
   * An agent-run task's RUNNING record is written beside its container's checkpoint and sent
   * once the checkpoint is durable (launch.ts; default true); false: written only after it.
   */
  runningBesideCheckpoint?: boolean;
  /**
   * An agent-run task's TASK_STARTING is asked for as its RunTask is handled, before its
   * sandbox is made (launch.ts; default true); false: once the agent has handled what it had
   * queued meanwhile (before session 8).
   */
  startingBeforeSandbox?: boolean;
  /**
   * Where the status update streams are checkpointed: "journal" (default), one append-only
   * journal for every stream of the agent, each batch of records one fdatasync
   * (update-journal.ts); "files", a file per task (the layout before session 9; the
   * `containers` bench's `--update-log=journal,files`). An agent on "journal" also reads and
   * takes over the per-task files an older agent left.
   */
  statusUpdateLog?: "journal" | "files";
  /** The journal is compacted from this size on (update-journal.ts; default 4 MiB; tests make it small). */
  statusUpdateCompactMinBytes?: number;
  /**
   * An ended executor's checkpoint file is emptied and kept for the next launch's first
   * checkpoint (spare-files.ts: no inode made or freed per task); default true. false: each
   * made and deleted (before session 10; the `containers` bench's `--spares=on,off`).
   */
  spareCheckpoints?: boolean;
  /** Registration retry: first after a random wait up to this, doubling (Mesos: 1 s). */
  registrationBackoffMs?: number;
  /** Most time between registration attempts (Mesos: 1 min). */
  maxRegistrationBackoffMs?: number;
  /** Master pings missed before the agent looks for the master again (Mesos: 5). */
  maxMissedPings?: number;
  /** Until an executor must subscribe (Mesos: 1 min). */
  executorRegistrationTimeoutMs?: number;
  /**
   * After an agent restart, until a recovered executor should have subscribed again (default
   * 15 s). One that has not but whose container still runs is late, not dead: it is waited
   * for until executorRecoveryTimeoutMs (a starved executor on a busy machine).
   */
  executorReregistrationTimeoutMs?: number;
  /**
   * How long an executor keeps trying to reach its agent after the connection broke before it
   * gives up and exits (given to executors as DCOS_RECOVERY_TIMEOUT, in seconds; Mesos's
   * --recovery_timeout, 15 min), and so how long after its recovery the agent waits for a
   * recovered executor whose container still runs before destroying it.
   */
  executorRecoveryTimeoutMs?: number;
  statusUpdateRetryMs?: number;
  statusUpdateMaxRetryMs?: number;
  /** The machine's boot id (default: the kernel's, /proc/sys/kernel/random/boot_id); a change means a reboot. */
  bootId?: BootIdSource;
  /** Seals and resolves secret environment variables (default: a fresh key, no secrets directory). */
  secrets?: SecretResolver;
  /** Run tasks as the framework's user (needs root). Default false. */
  switchUser?: boolean;
  /**
   * `--allowed-host-paths`: the prefixes under which tasks may mount host paths (default
   * ["/"]: anywhere except /, /proc, /sys, /dev, the work dir and protectedHostPaths).
   */
  allowedHostPaths?: readonly string[];
  /** The agent's credential, key and secrets files (besides its work dir), which no task may mount. */
  protectedHostPaths?: readonly ProtectedPath[];
  /**
   * The agent's disk: checkpoints, status update streams, sandbox and volume directories
   * (default the real one; tests give test/support/crash-fs.ts's in-memory CrashFs).
   */
  fs?: FileSystem;
  /**
   * Who runs a command task (`--command-executor`): "agent" (default) runs its command
   * directly in its container and is its executor (command-task.ts); "process" starts the
   * node command executor in the container, one process per task, as before.
   */
  commandExecutor?: CommandExecutorMode;
}

export type CommandExecutorMode = "agent" | "process";

export const AGENT_DEFAULTS = {
  name: "agent",
  registrationBackoffMs: 1_000,
  maxRegistrationBackoffMs: 60_000,
  maxMissedPings: 5,
  /** Used until the master says its ping interval. */
  pingIntervalSeconds: 15,
  executorRegistrationTimeoutMs: 60_000,
  executorReregistrationTimeoutMs: 15_000,
  executorRecoveryTimeoutMs: 15 * 60_000,
} as const;

export const AGENT_VERSION = "0.1.0";
