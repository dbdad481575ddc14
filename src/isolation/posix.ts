/**
 * The posix containerizer: a container is a process tree started by the gated launcher
 * (launcher.ts) in its own session and process group, with stdout/stderr appended to files
 * in the sandbox. Isolators (cgroups, namespaces) plug in around it; without them a
 * container is found by its session (process-session.ts).
 *
 * Life of a container: LAUNCHING (isolators prepared, launcher spawned and isolated, "go"
 * not yet said) → RUNNING → DESTROYING (destroy asked) → TERMINATED. When the launcher
 * ends (seen as our child's exit, or by polling /proc for a recovered container), whatever
 * is left of the container is killed, the isolators are asked whether a limit was hit and
 * cleaned up, and wait() resolves with the Termination.
 *
 * The runtime directory of a container (`<runtimeRoot>/<id>`) holds `state.json` (what the
 * agent also checkpoints, so orphans can be found), `exit_status` (written by the
 * recorder) and, while a destroy with a grace period runs, `exit_status.destroying` (its
 * deadline: a containerizer that recovers the container finishes that destroy, reported
 * as "destroyed"). It is removed once the termination is known.
 *
 * Kill grace: SIGTERM to every process of the container, again to the ones that appear,
 * until the deadline; the grace ends early once the command has ended (its status is
 * recorded) and nothing but the launcher is left: the recorder lingers during a destroy
 * (launcher.ts), so children that outlive their shell still get the whole grace.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Metrics } from "../metrics/metrics.js";
import { once } from "node:events";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { access, chown, open, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, DcosError, asDcosError } from "../runtime/error.js";
import { silentLogger, type Logger } from "../runtime/log.js";
import { containerEnvironment, validateConfig, validateId } from "./container-config.js";
import type {
  ContainerConfig,
  ContainerId,
  ContainerState,
  Containerizer,
  RecoveryResult,
  ResourceUsage,
  Termination,
} from "./containerizer.js";
import type { Isolator, Limitation } from "./isolator.js";
import { DESTROYING_SUFFIX, GO_LINE, describeExit, launcherArgs, readExitStatusFile, type ExitStatus } from "./launcher.js";
import { bootId, isAlive, readStat, type ProcStat } from "./proc.js";
import { killSession, sessionProcesses, signalEach, sumProcesses } from "./process-session.js";
import { hostCommand } from "./host-command.js";
import { isRoot, resolveUser, type UserIds } from "./users.js";
import { linkVolumes } from "./volumes.js";
import { ContainerPhase, ContainerTable, containerNotFound } from "./container-table.js";
import { LauncherClient } from "./launcher-client.js";
import { RuntimeTrash } from "./runtime-trash.js";
import { gateable } from "./launcher-gates.js";
import type { ExitReport, KnownContainer } from "./launcher-protocol.js";

export interface PosixContainerizerOptions {
  /** Where each container's runtime directory lives (e.g. `<work_dir>/containers`). */
  runtimeRoot: string;
  /** Applied to every container, in order. Empty: plain posix. */
  isolators?: readonly Isolator[];
  logger?: Logger;
  /** How often a recovered container's launcher is looked for in /proc. Default 100 ms. */
  pollIntervalMs?: number;
  /** How long to keep killing what is left of a container before giving up on it. Default 10 s. */
  killTimeoutMs?: number;
  /**
   * Who forks the launch wrappers: "warm" (default), the warm launcher process
   * (launcher-server.ts), off the agent's event loop; "inline", the agent itself.
   */
  launcher?: "warm" | "inline";
  /** How long the warm launcher waits for an agent that went away before killing its containers (default 15 min). */
  recoveryTimeoutMs?: number;
  /**
   * How many launch wrappers the warm launcher keeps forked ahead of need, so that a launch
   * does not wait for a fork (launcher-gates.ts). Default DEFAULT_LAUNCHER_GATES; 0: each
   * wrapper forked when its container is launched.
   */
  launcherGates?: number;
  /** Where `slave/launcher_crashes` is counted. */
  metrics?: Metrics;
  /** Told each stage of a launch (the `containers` bench's per-stage figures); off by default. */
  trace?: (containerId: string, stage: string) => void;
}

/** Pre-forked launch wrappers the warm launcher keeps ready (a launch burst beyond them waits for forks). */
export const DEFAULT_LAUNCHER_GATES = 16;
/** Mesos's --recovery_timeout. */
export const DEFAULT_RECOVERY_TIMEOUT_MS = 15 * 60_000;
/** The kill grace the warm launcher gives a container whose config names none (a task's default kill grace). */
const DEFAULT_KILL_GRACE_MS = 3_000;

const STATE_FILE = "state.json";
const STATUS_FILE = "exit_status";
/** How often destroy looks for processes that have not had their SIGTERM yet. */
const TERM_POLL_MS = 50;

class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  settled = false;
  constructor() {
    this.promise = new Promise<T>((r) => (this.resolve = (v: T) => {
      this.settled = true;
      r(v);
    }));
  }
}

/** One container as the containerizer tracks it. */
class Container {
  phase = ContainerPhase.LAUNCHING;
  state: ContainerState;
  child?: ChildProcess;
  /** Resolves when the launcher process has ended, with its status when we were its parent. */
  readonly launcherGone = new Deferred<ExitStatus | undefined>();
  readonly termination = new Deferred<Termination>();
  /** Resolves when launch has finished, well or not. */
  readonly launched = new Deferred<void>();
  destroyRequested = false;
  /** destroy sent SIGKILL: without a recorded status (a recovered container), that is how the command ended. */
  sigkillSent = false;
  destroying?: Promise<Termination>;
  pollTimer?: NodeJS.Timeout;
  /** The warm launcher is the wrapper's parent and reports its end. */
  viaLauncher = false;
  /** The launcher killed what was left of the wrapper's session before it reported the end. */
  sessionEmpty = false;
  /** The pre-forked gate it was launched on was gone when the launcher got the container: the command never ran. */
  launchFailure?: string;

  constructor(state: ContainerState) {
    this.state = state;
  }
}

export class PosixContainerizer implements Containerizer {
  readonly kind = "posix";
  private readonly table = new ContainerTable<Container>();
  private readonly isolators: readonly Isolator[];
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly killTimeoutMs: number;
  private detached = false;
  private readonly launcher?: LauncherClient;
  /** Ends the launcher reported for containers not (yet) adopted: a recovery adopts them a moment later. */
  private readonly unclaimedExits = new Map<ContainerId, ExitReport>();
  /** Where ended containers' runtime directories go (runtime-trash.ts). */
  private readonly trash: RuntimeTrash;

  get mountsVolumes(): boolean {
    return this.isolators.some((i) => i.mountsVolumes);
  }

  constructor(private readonly options: PosixContainerizerOptions) {
    this.isolators = options.isolators ?? [];
    this.log = (options.logger ?? silentLogger()).child({ component: "posix-containerizer" });
    this.pollMs = options.pollIntervalMs ?? 100;
    this.killTimeoutMs = options.killTimeoutMs ?? 10_000;
    this.trash = new RuntimeTrash(options.runtimeRoot, (err, path) => this.log.warn({ err, path }, "Could not remove an ended container's runtime directory"));
    if ((options.launcher ?? "warm") === "warm") {
      this.launcher = LauncherClient.create({
        dir: join(options.runtimeRoot, ".launcher"),
        recoveryTimeoutMs: options.recoveryTimeoutMs ?? DEFAULT_RECOVERY_TIMEOUT_MS,
        gates: options.launcherGates ?? DEFAULT_LAUNCHER_GATES,
        logger: this.log,
        metrics: options.metrics,
        onExit: (r) => this.launcherReported(r),
        onLost: () => this.launcherLost(),
      });
    }
  }

  // ---- launch ------------------------------------------------------------------------

  async launch(config: ContainerConfig): Promise<ContainerState> {
    validateConfig(config);
    if (this.detached) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot launch container '${config.id}': the containerizer is detached`);
    const runtimeDir = join(this.options.runtimeRoot, config.id);
    const c = new Container({
      id: config.id,
      containerizer: this.kind,
      isolators: this.isolators.map((i) => i.name),
      pid: 0,
      startTime: 0,
      bootId: bootId(),
      sandbox: config.sandbox,
      runtimeDir,
      ...(config.resources?.ports?.length ? { ports: [...config.resources.ports] } : {}),
    });
    this.table.reserve(c); // the id is taken before the first await
    try {
      await this.start(c, config);
    } catch (e) {
      await this.abortLaunch(c);
      throw asDcosError(e, Code.INTERNAL, `Launching container '${config.id}' failed`);
    } finally {
      c.launched.resolve();
    }
    this.log.info({ container: c.state.id, pid: c.state.pid }, "Container launched");
    return { ...c.state };
  }

  private async start(c: Container, config: ContainerConfig): Promise<void> {
    // The launch path's metadata calls are synchronous (each a few µs of kernel work): through
    // the thread pool they queued behind other containers' fsyncs (checkpoints, status
    // updates), tens of ms with 20 launches in flight (the containers bench's --stages).
    const sandboxStat = statSync(config.sandbox, { throwIfNoEntry: false });
    if (!sandboxStat?.isDirectory()) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid container config for '${config.id}': sandbox ${config.sandbox} is not an existing directory`);
    }
    const user = config.user === undefined ? undefined : await this.userFor(config);
    freshDir(c.state.runtimeDir);
    for (const isolator of this.isolators) await isolator.prepare(config);
    this.options.trace?.(config.id, "isolators prepared");
    // Without a mount namespace a bind mount would be the host's: volumes are symlinks then (volumes.ts).
    if (!this.mountsVolumes) await linkVolumes(config.sandbox, config.volumes ?? []);

    const stdoutPath = config.stdoutPath ?? join(config.sandbox, "stdout");
    const stderrPath = config.stderrPath ?? join(config.sandbox, "stderr");
    if (user) await chown(config.sandbox, user.uid, user.gid);
    const args = launcherArgs({
      statusFile: join(c.state.runtimeDir, STATUS_FILE),
      command: config.command,
      isolationPrefix: this.isolators.flatMap((i) => i.launchPrefix?.(config) ?? []),
      commandPrefix: user ? userPrefix(user) : [],
    });
    const env = containerEnvironment(config);
    if (user) Object.assign(env, { USER: user.name, LOGNAME: user.name });
    if (user) c.state.user = config.user;
    let pid: number;
    let startTime: number | undefined;
    this.options.trace?.(config.id, "spawn asked");
    const req = this.launcher && {
      id: config.id,
      args,
      cwd: config.sandbox,
      env,
      stdout: stdoutPath,
      stderr: stderrPath,
      ...(user ? { owner: { uid: user.uid, gid: user.gid } } : {}),
      runtimeDir: c.state.runtimeDir,
      killGraceMs: Math.round(config.killGracePeriodMs ?? DEFAULT_KILL_GRACE_MS),
      procsFiles: this.isolators.flatMap((i) => i.procsFiles?.(config.id) ?? []),
    };
    // A pre-forked gate the launcher announced: its pid is known without asking (launcher-gates.ts).
    const gate = req && gateable({ op: "spawn", ...req }) ? this.launcher!.takeGate() : undefined;
    if (req && gate) {
      c.viaLauncher = true;
      ({ pid, startTime } = gate);
      c.state.pid = pid;
    } else if (req) {
      c.viaLauncher = true;
      ({ pid, startTime } = await this.launcher!.spawn(req));
      c.state.pid = pid;
    } else {
      pid = await this.spawnInline(c, config.sandbox, args, env, stdoutPath, stderrPath, user);
      startTime = (await readStat(pid))?.startTime;
    }
    if (!startTime) throw new DcosError(Code.INTERNAL, `Container '${config.id}': the launcher (pid ${pid}) ended before it was told to start`);
    c.state.startTime = startTime;
    this.options.trace?.(config.id, "pid known");
    for (const isolator of this.isolators) await isolator.isolate(config.id, pid);
    this.options.trace?.(config.id, "cgroups placed");
    writeFileSync(join(c.state.runtimeDir, STATE_FILE), JSON.stringify(c.state));
    if (req && gate) {
      // One message: the container and "go". A gate that died meanwhile is a launch that failed (its command never ran).
      this.launcher!.spawnOnGate(req, gate).catch((e: unknown) => {
        if (!DcosError.is(e, Code.INTERNAL) || c.launcherGone.settled) return; // the launcher went away: watched through /proc
        c.launchFailure = (e as Error).message;
        c.launcherGone.resolve(undefined);
      });
    } else if (c.child) {
      c.child.stdin!.on("error", () => undefined); // the launcher may be gone already; its exit tells
      c.child.stdin!.end(GO_LINE);
    } else {
      this.launcher!.go(config.id);
    }
    this.options.trace?.(config.id, "go sent");
    this.table.transition(c, ContainerPhase.RUNNING);
    void this.finish(c);
  }

  /** The agent forks the wrapper itself (`launcher: "inline"`, or no warm launcher). */
  private async spawnInline(c: Container, cwd: string, args: string[], env: Record<string, string>, stdoutPath: string, stderrPath: string, user: UserIds | undefined): Promise<number> {
    const out = await open(stdoutPath, "a", 0o644);
    const err = await open(stderrPath, "a", 0o644);
    try {
      if (user) {
        await out.chown(user.uid, user.gid);
        await err.chown(user.uid, user.gid);
      }
      const child = spawn("/bin/sh", args, { cwd, env, detached: true, stdio: ["pipe", out.fd, err.fd] });
      c.child = child;
      child.once("exit", (code, signal) => c.launcherGone.resolve({ exitCode: code, signal }));
      await once(child, "spawn"); // rejects on a spawn 'error'
    } finally {
      await out.close();
      await err.close();
    }
    c.state.pid = c.child.pid!;
    return c.state.pid;
  }

  /** The warm launcher saw a wrapper end. */
  private launcherReported(r: ExitReport): void {
    const c = this.table.get(r.id);
    if (!c) {
      this.unclaimedExits.set(r.id, r);
      return;
    }
    if (!c.viaLauncher || (c.state.pid !== 0 && c.state.pid !== r.pid)) return; // not (or no longer) watched through it
    c.sessionEmpty = r.sessionEmpty;
    c.launcherGone.resolve({ exitCode: r.exitCode, signal: r.signal });
  }

  /** The warm launcher went away: the containers it started are watched through /proc again. */
  private launcherLost(): void {
    for (const c of this.table.values()) {
      if (!c.viaLauncher || c.launcherGone.settled) continue;
      c.viaLauncher = false;
      if (c.phase === ContainerPhase.LAUNCHING) continue; // its spawn fails, launch cleans up
      this.log.warn({ container: c.state.id, pid: c.state.pid }, "Watching a container through /proc: its launcher went away");
      this.poll(c);
    }
  }

  /** The user to switch to; undefined when the agent already runs as it. */
  private async userFor(config: ContainerConfig): Promise<UserIds | undefined> {
    const user = await resolveUser(config.user!);
    if (typeof process.getuid === "function" && user.uid === process.getuid()) return undefined;
    if (!isRoot()) {
      throw new DcosError(Code.PERMISSION_DENIED, `Cannot run container '${config.id}' as user '${config.user}': the agent does not run as root`);
    }
    return user;
  }

  /** A launch that failed half way: kill what may have started and forget the container. */
  private async abortLaunch(c: Container): Promise<void> {
    if (c.state.pid > 0) {
      await this.killEverything(c).catch((e) => this.log.warn({ err: e, container: c.state.id }, "Could not kill a half-launched container"));
    }
    await this.cleanupIsolators(c);
    this.trash.discard(c.state.runtimeDir);
    this.table.release(c.state.id);
  }

  // ---- the end of a container --------------------------------------------------------

  /** Waits for the launcher to end, then kills the rest, asks the isolators and resolves wait(). */
  private async finish(c: Container): Promise<void> {
    const direct = await c.launcherGone.promise;
    if (this.detached) return;
    const recorded = readExitStatusFile(join(c.state.runtimeDir, STATUS_FILE));
    // The warm launcher emptied the session already (without cgroups, a /proc scan here).
    if (!(c.sessionEmpty && !this.tracker(c))) await this.killEverything(c).catch((e) => this.log.error({ err: e, container: c.state.id }, "Processes of an ended container could not all be killed"));
    const limitation = await this.limitation(c);
    await this.cleanupIsolators(c);
    // Detached meanwhile (the agent stops): the runtime directory stays, so the next agent learns how the container ended.
    if (this.detached) return;
    const termination = c.launchFailure !== undefined
      ? { containerId: c.state.id, exitCode: null, signal: null, reason: "launch failed" as const, message: `Launching container '${c.state.id}' failed: ${c.launchFailure}` }
      : recorded === undefined && direct?.signal === "SIGKILL" && !c.destroyRequested && !limitation
      ? this.wrapperKilled(c)
      : this.termination(c, recorded ?? direct ?? (c.sigkillSent ? { exitCode: null, signal: "SIGKILL" } : undefined), limitation);
    this.table.transition(c, ContainerPhase.TERMINATED);
    this.table.end(c.state.id, termination);
    this.log.info({ container: c.state.id, termination }, "Container terminated");
    if (c.viaLauncher) this.launcher?.forget(c.state.id);
    c.termination.resolve(termination);
    // Once the end is known: taken away at once, removed in the background (an unlink waits for the journal).
    this.trash.discard(c.state.runtimeDir);
  }

  /**
   * The launch wrapper itself was SIGKILLed (not by destroy) before the command's status was
   * recorded: what supervised the command is gone, and the command was killed with the rest.
   */
  private wrapperKilled(c: Container): Termination {
    return {
      containerId: c.state.id,
      exitCode: null,
      signal: "SIGKILL",
      reason: "status unknown",
      message: "The container's launch wrapper was killed (SIGKILL) before the command ended; the command was killed with it",
    };
  }

  private termination(c: Container, status: ExitStatus | undefined, limitation: Limitation | undefined): Termination {
    const base = { containerId: c.state.id, exitCode: status?.exitCode ?? null, signal: status?.signal ?? null };
    if (limitation) {
      return { ...base, reason: limitation.reason, message: limitation.message, ...(limitation.memoryBytes !== undefined ? { memoryBytes: limitation.memoryBytes } : {}) };
    }
    if (c.destroyRequested) {
      return { ...base, reason: "destroyed", message: `Container destroyed: ${status ? describeExit(status) : "status unknown"}` };
    }
    if (!status) {
      return { ...base, reason: "status unknown", message: "Container ended while the agent was away and left no exit status" };
    }
    return { ...base, message: describeExit(status) };
  }

  private async limitation(c: Container): Promise<Limitation | undefined> {
    for (const isolator of this.isolatorsOf(c)) {
      const l = await isolator.limitation?.(c.state.id).catch((e) => {
        this.log.warn({ err: e, container: c.state.id, isolator: isolator.name }, "Could not read limitations");
        return undefined;
      });
      if (l) return l;
    }
    return undefined;
  }

  private async cleanupIsolators(c: Container): Promise<void> {
    for (const isolator of this.isolatorsOf(c)) {
      await isolator.cleanup(c.state.id).catch((e) => this.log.error({ err: e, container: c.state.id, isolator: isolator.name }, "Isolator cleanup failed"));
    }
  }

  private isolatorsOf(c: Container): Isolator[] {
    return this.isolators.filter((i) => c.state.isolators.includes(i.name));
  }

  // ---- processes ---------------------------------------------------------------------

  /** The isolator that tracks the container's processes, if any (cgroups). */
  private tracker(c: Container): Isolator | undefined {
    return this.isolatorsOf(c).find((i) => i.pids !== undefined && i.kill !== undefined);
  }

  private async processes(c: Container): Promise<ProcStat[]> {
    const tracker = this.tracker(c);
    if (!tracker) return sessionProcesses(c.state.pid);
    const stats = await Promise.all((await tracker.pids!(c.state.id)).map((pid) => readStat(pid)));
    return stats.filter((s): s is ProcStat => s !== undefined && s.state !== "Z");
  }

  /** SIGKILL every process of the container until none is left. */
  private async killEverything(c: Container): Promise<void> {
    const tracker = this.tracker(c);
    const deadline = Date.now() + this.killTimeoutMs;
    for (;;) {
      // Without cgroups, the /proc scan that finds the session's processes to kill also says
      // whether any is left: one scan per attempt.
      const left = tracker ? (await tracker.kill!(c.state.id), await this.processes(c)) : await killSession(c.state.pid);
      if (left.length === 0) return;
      if (Date.now() > deadline) {
        throw new DcosError(Code.DEADLINE_EXCEEDED, `Processes of container '${c.state.id}' still run ${this.killTimeoutMs} ms after SIGKILL`);
      }
      await sleep(10);
    }
  }

  // ---- wait, destroy, usage ----------------------------------------------------------

  async wait(id: ContainerId): Promise<Termination> {
    const done = this.table.termination(id);
    if (done) return done;
    const c = this.table.get(id);
    if (!c) throw containerNotFound(id);
    return c.termination.promise;
  }

  async destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination> {
    const done = this.table.termination(id);
    if (done) return done;
    const c = this.table.get(id);
    if (!c) throw containerNotFound(id);
    if (!(Number.isFinite(gracePeriodMs) && gracePeriodMs >= 0)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid grace period ${gracePeriodMs} for container '${id}': a non-negative number of milliseconds`);
    }
    c.destroying ??= this.destroySteps(c, gracePeriodMs);
    return c.destroying;
  }

  private async destroySteps(c: Container, gracePeriodMs: number): Promise<Termination> {
    await c.launched.promise;
    if (c.phase === ContainerPhase.TERMINATED || !this.table.has(c.state.id)) return this.wait(c.state.id);
    c.destroyRequested = true;
    this.table.transition(c, ContainerPhase.DESTROYING);
    if (gracePeriodMs > 0) await this.terminate(c, gracePeriodMs);
    // Detached meanwhile (the agent stops): the containers are not ours to kill any more; a
    // recovering containerizer finishes this destroy (exit_status.destroying).
    if (this.detached) return c.termination.promise;
    c.sigkillSent = true;
    await this.killEverything(c).catch((e) => this.log.error({ err: e, container: c.state.id }, "Destroy could not kill every process"));
    return c.termination.promise;
  }

  /**
   * SIGTERM to every process but the launcher (which must live to record how the command
   * ended), until the launcher ends or the grace period is over. Processes that appear
   * meanwhile (the command had not started yet, or it forked) get their SIGTERM too, and so
   * does one that exec'd since its SIGTERM (a shell's child caught between fork and exec
   * runs the shell's trap, not the default action: it would ignore the signal).
   */
  private async terminate(c: Container, gracePeriodMs: number): Promise<void> {
    const deadline = Date.now() + gracePeriodMs;
    const statusFile = join(c.state.runtimeDir, STATUS_FILE);
    // Before any SIGTERM: the recorder must know to linger, and a restarted agent to finish the job.
    await writeFile(statusFile + DESTROYING_SUFFIX, String(deadline)).catch((e) => this.log.warn({ err: e, container: c.state.id }, "Could not write the destroy marker"));
    /** `<pid> <comm>` of the processes signalled: an exec changes the comm. */
    const signalled = new Set<string>();
    let ended = false;
    void c.launcherGone.promise.then(() => (ended = true));
    while (!ended && !this.detached && Date.now() < deadline) {
      const procs = await this.processes(c);
      // The command has ended: once only the launcher (and, under a PID namespace, the recorder, its child) is left, the grace is over.
      if (await access(statusFile).then(() => true, () => false)) {
        if (procs.every((p) => p.pid === c.state.pid || p.ppid === c.state.pid)) return;
      }
      const fresh = procs.filter((p) => p.pid !== c.state.pid && !signalled.has(`${p.pid} ${p.comm}`));
      signalEach(fresh.map((p) => p.pid), "SIGTERM");
      for (const p of fresh) signalled.add(`${p.pid} ${p.comm}`);
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<void>((r) => (timer = setTimeout(r, Math.min(TERM_POLL_MS, Math.max(0, deadline - Date.now())))));
      await Promise.race([c.launcherGone.promise, tick]);
      clearTimeout(timer);
    }
  }

  async enter(id: ContainerId): Promise<string[]> {
    const c = this.table.get(id);
    if (!c || c.phase === ContainerPhase.TERMINATED) throw containerNotFound(id);
    const prefix: string[] = [];
    for (const isolator of this.isolatorsOf(c)) prefix.push(...((await isolator.enterPrefix?.(c.state)) ?? []));
    if (c.state.user !== undefined) prefix.push(...userPrefix(await resolveUser(c.state.user)));
    return prefix;
  }

  async usage(id: ContainerId): Promise<ResourceUsage> {
    const c = this.table.get(id);
    if (!c || c.phase === ContainerPhase.TERMINATED) throw containerNotFound(id);
    const totals = sumProcesses(await this.processes(c));
    let usage: ResourceUsage = { containerId: id, timestamp: Date.now(), ...totals };
    for (const isolator of this.isolatorsOf(c)) {
      if (isolator.usage) usage = { ...usage, ...(await isolator.usage(id)), containerId: id };
    }
    return usage;
  }

  /** Pre-forked gates the warm launcher announced that no launch took yet (launcher-gates.ts). */
  gatesKnown(): number {
    return this.launcher?.gatesKnown ?? 0;
  }

  containers(): ContainerId[] {
    return this.table.ids();
  }

  state(id: ContainerId): ContainerState | undefined {
    const c = this.table.get(id);
    return c && c.phase !== ContainerPhase.LAUNCHING ? { ...c.state } : undefined;
  }

  // ---- recovery and detach -----------------------------------------------------------

  async recover(states: readonly ContainerState[]): Promise<RecoveryResult> {
    const supervised = new Map<string, KnownContainer>();
    if (this.launcher) {
      const known = await this.launcher.attach().catch((e: unknown) => {
        this.log.warn({ err: e }, "Could not attach to the warm launcher; recovered containers are watched through /proc");
        return [];
      });
      for (const k of known) supervised.set(k.id, k);
    }
    const recovered: ContainerId[] = [];
    for (const s of states) {
      if (s.containerizer !== this.kind) continue;
      if (this.table.has(s.id)) continue;
      await this.adopt(s, supervised.get(s.id));
      recovered.push(s.id);
    }
    this.trash.sweep();
    const orphans: ContainerId[] = [];
    const known = new Set(states.map((s) => s.id));
    for (const name of await readdir(this.options.runtimeRoot).catch(() => [] as string[])) {
      if (known.has(name) || this.table.has(name)) continue;
      const s = await this.readStateFile(name);
      if (!s) continue;
      await this.adopt(s, supervised.get(s.id));
      orphans.push(s.id);
    }
    // Ends of containers the launcher supervised that the agent does not know: nothing waits for them.
    for (const id of this.unclaimedExits.keys()) if (!this.table.has(id)) this.launcher?.forget(id);
    this.unclaimedExits.clear();
    this.log.info({ recovered, orphans }, "Containers recovered");
    return { recovered, orphans };
  }

  private async readStateFile(name: string): Promise<ContainerState | undefined> {
    try {
      validateId("container id", name);
      const s = JSON.parse(await readFile(join(this.options.runtimeRoot, name, STATE_FILE), "utf8")) as ContainerState;
      return s.id === name && s.containerizer === this.kind ? s : undefined;
    } catch {
      return undefined;
    }
  }

  /** Tracks a checkpointed container again: watches its launcher if it still runs. */
  private async adopt(s: ContainerState, supervised?: KnownContainer): Promise<void> {
    validateId("container id", s.id);
    const c = new Container({ ...s, isolators: [...s.isolators] });
    this.table.adopt(c);
    for (const name of s.isolators) {
      const isolator = this.isolators.find((i) => i.name === name);
      if (!isolator) this.log.warn({ container: s.id, isolator: name }, "Recovering a container whose isolator is not configured any more");
      else await isolator.recover(c.state).catch((e) => this.log.error({ err: e, container: s.id, isolator: name }, "Isolator recovery failed"));
    }
    this.table.transition(c, ContainerPhase.RUNNING);
    c.launched.resolve();
    if (supervised && supervised.pid === s.pid && supervised.startTime === s.startTime && s.bootId === bootId()) {
      // The warm launcher is still the wrapper's parent: it reports the end (or has it already).
      c.viaLauncher = true;
      const exit = this.unclaimedExits.get(s.id) ?? supervised.exit;
      this.unclaimedExits.delete(s.id);
      if (exit) this.launcherReported(exit);
      else this.launcher!.watch(s.id);
    } else {
      const alive = s.bootId === bootId() && (await isAlive(s.pid, s.startTime));
      if (alive) this.poll(c);
      else c.launcherGone.resolve(undefined);
    }
    const destroyDeadline = await this.destroyDeadline(c);
    if (destroyDeadline !== undefined) c.destroyRequested = true;
    void this.finish(c);
    if (destroyDeadline !== undefined) {
      const rest = Math.max(0, destroyDeadline - Date.now());
      this.log.info({ container: s.id, graceLeftMs: rest }, "Finishing the destroy that was under way when the agent stopped");
      void this.destroy(s.id, rest).catch((e) => this.log.error({ err: e, container: s.id }, "Could not finish the destroy of a recovered container"));
    }
  }

  /** The deadline of a destroy that was under way (`exit_status.destroying`), if any. */
  private async destroyDeadline(c: Container): Promise<number | undefined> {
    const text = await readFile(join(c.state.runtimeDir, STATUS_FILE + DESTROYING_SUFFIX), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    const deadline = Number(text.trim());
    return Number.isFinite(deadline) ? deadline : 0;
  }

  private poll(c: Container): void {
    c.pollTimer = setTimeout(() => {
      c.pollTimer = undefined;
      void isAlive(c.state.pid, c.state.startTime).then((alive) => {
        if (this.detached) return;
        if (alive) this.poll(c);
        else c.launcherGone.resolve(undefined);
      });
    }, this.pollMs);
  }

  /** Forgets every container (they keep running); wait, destroy and usage then answer NOT_FOUND. */
  detach(): void {
    this.detached = true;
    const ids = this.containers();
    for (const c of this.table.values()) {
      if (c.pollTimer) clearTimeout(c.pollTimer);
      c.child?.unref();
    }
    this.launcher?.detach();
    this.table.clear();
    this.log.info({ containers: ids }, "Containerizer detached; containers keep running");
  }


}

/** Drops root for the command (setpriv from util-linux), keeping the recorder as root. */
function userPrefix(user: UserIds): string[] {
  return [hostCommand("setpriv", "util-linux"), `--reuid=${user.uid}`, `--regid=${user.gid}`, user.name === String(user.uid) ? "--clear-groups" : "--init-groups", "--"];
}

/**
 * Makes `dir` (0700) empty and new: one mkdir for a new container's id (its root is there);
 * only a leftover of the same id (or a missing root) costs the recursive removal and mkdir.
 */
function freshDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EEXIST" && code !== "ENOENT") throw err;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}
