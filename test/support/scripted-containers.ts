/**
 * Containers for simulations and agent unit tests that "run" their command per a script on
 * the test's clock (a ManualClock): nothing starts, every run replays. It models what the
 * agent depends on in the posix containerizer (src/isolation/posix.ts) when it runs command
 * tasks itself (command-task.ts), split the way the real thing is split:
 *
 * - ScriptedHost is the machine. Its containers outlive the agent: the command runs for its
 *   scripted time and exits with its code or signal, reacts to SIGTERM after its scripted
 *   delay (or never), and its launch wrapper (the supervisor) may be killed by someone else.
 *   The recorder's exit status file and a destroy's deadline (`exit_status.destroying`)
 *   stay on the host until a containerizer has reported the container's end.
 * - ScriptedContainerizer is the agent's containerizer, one per agent process
 *   (`host.containerizer()`); it dies with its agent (`host.agentCrashed()`): the SIGKILL
 *   at the end of a kill grace is its timer and goes with it. A new one recovers the
 *   checkpointed containers: one that ended meanwhile reports the recorded status (or "left
 *   no exit status" when its wrapper was killed), a destroy that was under way is finished
 *   with the rest of its grace and reported "destroyed", and containers nobody checkpointed
 *   are orphans.
 *
 * Like the warm launcher (src/isolation/launcher-server.ts), the host kills its containers
 * when no agent came back within `recoveryTimeoutMs`: each with its kill grace, the destroy
 * marker written first, so the agent that finally returns reports them killed.
 *
 * The host also answers what the old FakeContainerizer's users read (`launched`, `destroyed`,
 * `containers()`, `exit()`), and keeps how each command really ended (`ends`) so a
 * simulation can check that what frameworks heard is exactly that.
 */
import type { Clock, Timer } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import type {
  ContainerConfig,
  ContainerId,
  ContainerState,
  Containerizer,
  RecoveryResult,
  ResourceUsage,
  Termination,
} from "../../src/isolation/containerizer.js";
import { describeExit, type ExitStatus } from "../../src/isolation/launcher.js";

/** How a scripted command behaves. Every field is optional: the default runs until killed, and SIGTERM ends it at once. */
export interface CommandScript {
  /**
   * The launch takes this long (the wrapper started, isolated, the "go" not yet said): an
   * agent killed meanwhile leaves a container whose command never starts (its gate reads
   * no "go"), an orphan for the restarted agent. Default 0.
   */
  launchMs?: number;
  /** It exits on its own this long after it started (absent: never on its own). */
  runsMs?: number;
  /** How it exits on its own: this status (default 0), or this signal. */
  exitCode?: number;
  signal?: NodeJS.Signals;
  /** SIGTERM ends it (by SIGTERM) this long after it came: its own cleanup (default 0; Infinity: it ignores SIGTERM). */
  termMs?: number;
  /** Its launch wrapper (what supervises it) is SIGKILLed by someone else this long after the start; the command goes with it. */
  wrapperKilledMs?: number;
}

/** How a container's command ended on the host, as a test may compare with what frameworks heard. */
export interface ScriptedEnd {
  /** The command had started (the launch got its "go"). */
  started: boolean;
  /** The status the recorder wrote; undefined when the wrapper was killed first. */
  status?: ExitStatus;
  wrapperKilled: boolean;
  /** A destroy (the agent's kill) had begun when it ended. */
  destroyed: boolean;
  at: number;
}

interface HostContainer {
  config: ContainerConfig;
  state: ContainerState;
  script: CommandScript;
  running: boolean;
  /** The launch said "go": the command runs (or ran). */
  started: boolean;
  /** The recorder's exit_status file. */
  recorded?: ExitStatus;
  wrapperKilled: boolean;
  /** `exit_status.destroying`: the deadline of a destroy under way. */
  destroyDeadline?: number;
  /** A destroy (the agent's kill) began. */
  destroyRequested: boolean;
  /** When the command got its first SIGTERM (it reacts to that one). */
  termAt?: number;
  /** The command's own timers (its run, its SIGTERM handler, its wrapper's killer): they live on the host. */
  timers: Timer[];
}

export class ScriptedHost {
  readonly kind = "scripted";
  /** Every launch, in order (what the agent asked to run). */
  readonly launched: ContainerConfig[] = [];
  /** Every destroy asked of any containerizer on this host. */
  readonly destroyed: { id: ContainerId; gracePeriodMs: number }[] = [];
  /** How each ended container's command ended. */
  readonly ends = new Map<ContainerId, ScriptedEnd>();
  /** Containers whose command started (a launch cut short by the agent's death starts none). */
  readonly started = new Set<ContainerId>();
  /** The script of a new container (default: runs until killed or ended by the test). */
  script: (config: ContainerConfig) => CommandScript = () => ({});
  /** When set, launch() rejects with what it returns (if anything). */
  failLaunch: ((config: ContainerConfig) => Error | undefined) | undefined;
  /** The launcher's --recovery-timeout: an agent away this long has its containers killed (undefined: never). */
  recoveryTimeoutMs: number | undefined;
  private awayTimer: Timer | undefined;
  /** Containers whose runtime directory is on the host: running, or ended and not yet reported. */
  private readonly all = new Map<ContainerId, HostContainer>();
  private current: ScriptedContainerizer | undefined;
  private nextPid = 1000;

  constructor(readonly clock: Clock) {}

  /** The containerizer of a new agent process on this host (the previous one must have crashed). */
  containerizer(): ScriptedContainerizer {
    if (this.current && !this.current.dead) throw new Error("An agent's containerizer is alive on this host: crash it first");
    this.awayTimer?.cancel();
    this.awayTimer = undefined;
    this.current = new ScriptedContainerizer(this);
    return this.current;
  }

  /** kill -9 of the agent: its containerizer stops (its pending kill timers with it); containers keep running. */
  agentCrashed(): void {
    this.current?.die();
    if (this.recoveryTimeoutMs !== undefined && !this.awayTimer) this.awayTimer = this.clock.setTimer(this.recoveryTimeoutMs, () => this.agentStayedAway());
  }

  /** No agent came back within the recovery timeout: every container is destroyed with its kill grace, the marker first. */
  private agentStayedAway(): void {
    this.awayTimer = undefined;
    for (const c of this.all.values()) {
      if (!c.running) continue;
      const graceMs = c.config.killGracePeriodMs ?? 0;
      c.destroyRequested = true;
      c.destroyDeadline = this.clock.now() + graceMs;
      if (graceMs === 0) {
        this.sigkill(c);
        continue;
      }
      this.sigterm(c);
      c.timers.push(this.clock.setTimer(graceMs, () => this.sigkill(c)));
    }
  }

  /** Containers whose command runs (or is being killed). */
  containers(): ContainerId[] {
    return [...this.all.values()].filter((c) => c.running).map((c) => c.state.id);
  }

  /** The test ends a container's command now, with this status or signal. */
  exit(id: ContainerId, exitCode: number | null, signal: NodeJS.Signals | null = null): void {
    const c = this.all.get(id);
    if (!c?.running) return;
    this.end(c, { exitCode: signal ? null : exitCode, signal }, false);
  }

  /** Someone SIGKILLs the container's launch wrapper: the supervisor crashes before it records anything, the command goes with it. */
  killWrapper(id: ContainerId): void {
    const c = this.all.get(id);
    if (!c?.running) return;
    this.end(c, undefined, true);
  }

  // ---- used by ScriptedContainerizer ------------------------------------------------

  /** @internal */
  start(config: ContainerConfig): HostContainer {
    if (this.all.has(config.id)) throw new DcosError(Code.ALREADY_EXISTS, `Container ${config.id} exists`);
    const failure = this.failLaunch?.(config);
    if (failure) throw failure;
    const state: ContainerState = {
      id: config.id,
      containerizer: this.kind,
      isolators: [],
      pid: this.nextPid++,
      startTime: this.clock.now(),
      bootId: "scripted-boot",
      sandbox: config.sandbox,
      runtimeDir: `/scripted/${config.id}`,
      ports: [...(config.resources?.ports ?? [])],
      ...(config.user !== undefined ? { user: config.user } : {}),
    };
    const c: HostContainer = { config, state, script: this.script(config), running: true, started: false, wrapperKilled: false, destroyRequested: false, timers: [] };
    this.all.set(config.id, c);
    this.launched.push(config);
    return c;
  }

  /** @internal The launch says "go": the command starts, its scripted life with it. */
  go(c: HostContainer): void {
    if (!c.running) return;
    c.started = true;
    this.started.add(c.state.id);
    const { runsMs, wrapperKilledMs } = c.script;
    if (runsMs !== undefined) {
      c.timers.push(this.clock.setTimer(runsMs, () => this.exit(c.state.id, c.script.exitCode ?? 0, c.script.signal ?? null)));
    }
    if (wrapperKilledMs !== undefined) c.timers.push(this.clock.setTimer(wrapperKilledMs, () => this.killWrapper(c.state.id)));
  }

  /** @internal The agent died before its launch said "go": the gate reads end of file and exits, the command never runs. */
  abandon(c: HostContainer): void {
    if (c.running && !c.started) this.end(c, undefined, false);
  }

  /** @internal */
  get(id: ContainerId): HostContainer | undefined {
    return this.all.get(id);
  }

  /** @internal The containers on the host (runtime directories), for a recovering containerizer. */
  ids(): ContainerId[] {
    return [...this.all.keys()];
  }

  /** @internal SIGTERM to the command: its scripted handler ends it later (or never). */
  sigterm(c: HostContainer): void {
    if (!c.running || c.termAt !== undefined) return;
    c.termAt = this.clock.now();
    const ms = c.script.termMs ?? 0;
    if (ms !== Infinity) c.timers.push(this.clock.setTimer(ms, () => this.exit(c.state.id, null, "SIGTERM")));
  }

  /** @internal SIGKILL to every process of the container. */
  sigkill(c: HostContainer): void {
    if (c.running) this.end(c, { exitCode: null, signal: "SIGKILL" }, false);
  }

  /** @internal The containerizer reported the end: the runtime directory goes. */
  remove(id: ContainerId): void {
    this.all.delete(id);
  }

  private end(c: HostContainer, status: ExitStatus | undefined, wrapperKilled: boolean): void {
    c.running = false;
    for (const t of c.timers) t.cancel();
    c.timers = [];
    c.recorded = status;
    c.wrapperKilled = wrapperKilled;
    this.ends.set(c.state.id, { started: c.started, ...(status ? { status } : {}), wrapperKilled, destroyed: c.destroyRequested, at: this.clock.now() });
    this.current?.ended(c, true);
  }
}

interface Watched {
  done: Promise<Termination>;
  resolve: (t: Termination) => void;
  termination?: Termination;
  destroyRequested: boolean;
  destroying?: Promise<Termination>;
  killTimer?: Timer;
}

/** The containerizer of one agent process on a ScriptedHost. */
export class ScriptedContainerizer implements Containerizer {
  readonly kind = "scripted";
  dead = false;
  private readonly watched = new Map<ContainerId, Watched>();
  /** Launches not yet past their "go". */
  private readonly launching = new Set<HostContainer>();

  constructor(private readonly host: ScriptedHost) {}

  async launch(config: ContainerConfig): Promise<ContainerState> {
    this.alive();
    const c = this.host.start(config);
    const launchMs = c.script.launchMs ?? 0;
    if (launchMs > 0) {
      this.launching.add(c);
      await new Promise<void>((resolve) => this.host.clock.setTimer(launchMs, resolve));
      this.launching.delete(c);
      // The agent died meanwhile: its launch never returns (the host already abandoned the container).
      if (this.dead) return new Promise<ContainerState>(() => undefined);
    }
    this.host.go(c);
    this.watch(config.id);
    return { ...c.state };
  }

  async wait(id: ContainerId): Promise<Termination> {
    return this.watchedOrThrow(id).done;
  }

  async destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination> {
    const w = this.watchedOrThrow(id);
    this.host.destroyed.push({ id, gracePeriodMs });
    if (w.termination) return w.termination;
    if (!(Number.isFinite(gracePeriodMs) && gracePeriodMs >= 0)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid grace period ${gracePeriodMs} for container '${id}': a non-negative number of milliseconds`);
    }
    w.destroying ??= this.destroySteps(id, w, gracePeriodMs);
    return w.destroying;
  }

  /** As posix: the deadline is written before SIGTERM; SIGKILL (this process's timer) when the grace is over. */
  private destroySteps(id: ContainerId, w: Watched, gracePeriodMs: number): Promise<Termination> {
    const c = this.host.get(id)!;
    w.destroyRequested = true;
    c.destroyRequested = true;
    if (gracePeriodMs > 0) {
      c.destroyDeadline = this.host.clock.now() + gracePeriodMs;
      this.host.sigterm(c);
      w.killTimer = this.host.clock.setTimer(gracePeriodMs, () => {
        w.killTimer = undefined;
        if (!this.dead) this.host.sigkill(c);
      });
    } else {
      this.host.sigkill(c);
    }
    return w.done;
  }

  async usage(id: ContainerId): Promise<ResourceUsage> {
    const w = this.watchedOrThrow(id);
    if (w.termination) throw new DcosError(Code.NOT_FOUND, `Container ${id} has ended`);
    return { containerId: id, timestamp: this.host.clock.now(), cpuUserSeconds: 0, cpuSystemSeconds: 0, memRssBytes: 0, processes: 1, threads: 1 };
  }

  containers(): ContainerId[] {
    if (this.dead) return [];
    return [...this.watched.entries()].filter(([, w]) => !w.termination).map(([id]) => id);
  }

  state(id: ContainerId): ContainerState | undefined {
    const c = this.host.get(id);
    return c && this.watched.has(id) && !this.dead ? { ...c.state } : undefined;
  }

  async recover(states: readonly ContainerState[]): Promise<RecoveryResult> {
    this.alive();
    const recovered: ContainerId[] = [];
    for (const s of states) {
      if (s.containerizer !== this.kind || this.watched.has(s.id) || !this.host.get(s.id)) continue;
      this.adopt(s.id);
      recovered.push(s.id);
    }
    const known = new Set(states.map((s) => s.id));
    const orphans = this.host.ids().filter((id) => !known.has(id) && !this.watched.has(id));
    for (const id of orphans) this.adopt(id);
    return { recovered, orphans };
  }

  detach(): void {
    this.die();
  }

  // ---- internals ----------------------------------------------------------------------

  /** @internal The agent process died (or detached): nothing of it acts any more. */
  die(): void {
    this.dead = true;
    for (const w of this.watched.values()) w.killTimer?.cancel();
    for (const c of this.launching) this.host.abandon(c);
  }

  /** @internal The host says the container's command ended; `seen`: this process watched it end (the wrapper was its child). */
  ended(c: HostContainer, seen: boolean): void {
    const w = this.watched.get(c.state.id);
    if (this.dead || !w || w.termination) return;
    w.killTimer?.cancel();
    const base = { containerId: c.state.id, exitCode: c.recorded?.exitCode ?? null, signal: c.recorded?.signal ?? null };
    let t: Termination;
    if (!c.recorded && c.wrapperKilled && seen && !w.destroyRequested) {
      t = { ...base, exitCode: null, signal: "SIGKILL", reason: "status unknown", message: "The container's launch wrapper was killed (SIGKILL) before the command ended; the command was killed with it" };
    } else if (w.destroyRequested) {
      t = { ...base, reason: "destroyed", message: `Container destroyed: ${c.recorded ? describeExit(c.recorded) : "status unknown"}` };
    } else if (!c.recorded) {
      t = { ...base, reason: "status unknown", message: "Container ended while the agent was away and left no exit status" };
    } else {
      t = { ...base, message: describeExit(c.recorded) };
    }
    w.termination = t;
    this.host.remove(c.state.id);
    w.resolve(t);
  }

  private watch(id: ContainerId): Watched {
    let resolve!: (t: Termination) => void;
    const done = new Promise<Termination>((r) => (resolve = r));
    const w: Watched = { done, resolve, destroyRequested: false };
    this.watched.set(id, w);
    return w;
  }

  /** Tracks a container found on the host again: reports an end that came while no agent watched, finishes a destroy under way. */
  private adopt(id: ContainerId): void {
    const c = this.host.get(id)!;
    const w = this.watch(id);
    const deadline = c.destroyDeadline;
    if (deadline !== undefined) w.destroyRequested = true;
    if (!c.running) {
      this.ended(c, false);
      return;
    }
    if (deadline !== undefined) void this.destroy(id, Math.max(0, deadline - this.host.clock.now()));
  }

  private watchedOrThrow(id: ContainerId): Watched {
    const w = this.dead ? undefined : this.watched.get(id);
    if (!w) throw new DcosError(Code.NOT_FOUND, `Unknown container ${id}`);
    return w;
  }

  private alive(): void {
    if (this.dead) throw new DcosError(Code.UNAVAILABLE, "This containerizer's agent process is gone");
  }
}
