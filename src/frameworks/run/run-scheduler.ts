/**
 * The run service's scheduling: one long-lived framework that runs the one-off tasks
 * `dcos-node run` asks for (run-server.ts), so a run pays neither a subscription nor an
 * allocation round when offers are at hand.
 *
 * Offers: a run takes the first held offer that fits; the rest of that offer goes back to
 * the allocator at once (refuse_seconds 0) and comes back at its next round. One offer is
 * kept for `holdMs` after the last submit or launch (a quick succession of runs finds it
 * warm; further offers are declined for the rest of the window); then the framework
 * SUPPRESSes and declines what it holds, so other frameworks get those resources. A run
 * that no held offer fits REVIVEs (a fresh allocation round, filters cleared). Held offers
 * never outlive the window by more than an offer's round trip: holding them for ever would
 * starve every other framework.
 *
 * Each run streams RunEvents to its client. A client that goes away (the HTTP stream
 * closes before the end) gets its task killed, as a `mesos-execute` that dies takes its
 * task with it; a task this leader does not know (one a previous leader launched for a
 * client that is gone) is killed when its status arrives after reconciliation.
 */
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskInfo, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor } from "../../actors/scheduler-driver/builders.js";
import type { SchedulerDriver } from "../../actors/scheduler-driver/driver.js";
import { describeStatus, isTerminal, taskStateName } from "../../actors/task-states.js";
import { Resources } from "../../resources/resources.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { Random } from "../../runtime/random.js";
import { TaskOutput } from "../common/sandbox-output.js";
import { RunExit } from "./run-exit.js";
import type { RunRequest } from "./run-request.js";

/** One line of a run's stream (NDJSON on the wire; docs/frameworks.md, "The run service"). */
export type RunEvent =
  | { event: "subscribed"; master: string; frameworkId: string; taskId: string }
  | { event: "launching"; taskId: string; agentId: string; hostname: string; resources: string }
  | { event: "status"; taskId: string; state: string; text: string; timestamp: number; sandbox?: string; hostname?: string }
  | { event: "stdout" | "stderr"; data: string }
  | { event: "error"; message: string }
  | { event: "end"; exit: RunExit; reason?: string };

export enum RunPhase {
  WAITING_FOR_OFFER = "WAITING_FOR_OFFER",
  LAUNCHING = "LAUNCHING",
  RUNNING = "RUNNING",
  KILLING = "KILLING",
  DONE = "DONE",
}

/** Default time offers are kept after the last run. */
export const DEFAULT_OFFER_HOLD_MS = 10_000;
/** After a kill, how long to wait for the task's end before giving the client up. */
const KILL_TIMEOUT_MS = 30_000;

/** What the scheduler needs of the driver (a SchedulerDriver; tests may give less). */
export type RunDriver = Pick<SchedulerDriver, "launch" | "decline" | "suppress" | "revive" | "kill" | "acknowledge" | "master">;

export interface RunSchedulerOptions {
  driver: RunDriver;
  frameworkId: string;
  clock: Clock;
  logger: Logger;
  random?: Random;
  /** Offers are kept this long after the last submit or launch (default 10 s). */
  holdMs?: number;
  /** The framework subscribed suppressed (no offers until the first run revives); default false: offers held from the start for holdMs. */
  suppressed?: boolean;
  /** host:port of an agent's HTTP endpoint (for the task's output). */
  agentHttp(agentId: string): Promise<string>;
  /** The service's own Authorization header for the agents' /files/read. */
  authorization?: string;
}

/** Counters for /metrics. */
export interface RunCounters {
  launched: number;
  revives: number;
  suppresses: number;
  orphansKilled: number;
  disconnects: number;
}

export class RunScheduler {
  private readonly held = new Map<string, Offer>();
  private readonly pending: OneOffRun[] = [];
  private readonly runs = new Map<string, OneOffRun>();
  /** Runs in progress per owner ("" for anonymous), for the run service's per-principal cap. */
  private readonly byOwner = new Map<string, number>();
  private holdUntil: number;
  private holdTimer: Timer | undefined;
  private suppressed = false;
  private stopped = false;
  readonly counters: RunCounters = { launched: 0, revives: 0, suppresses: 0, orphansKilled: 0, disconnects: 0 };
  readonly holdMs: number;
  private readonly random: Random;

  constructor(readonly o: RunSchedulerOptions) {
    this.holdMs = o.holdMs ?? DEFAULT_OFFER_HOLD_MS;
    this.random = o.random ?? Random.fromOs();
    this.suppressed = o.suppressed ?? false;
    this.holdUntil = o.clock.now() + (this.suppressed ? 0 : this.holdMs);
    if (!this.suppressed) this.armHoldTimer();
  }

  get offersHeld(): number {
    return this.held.size;
  }

  get isSuppressed(): boolean {
    return this.suppressed;
  }

  get active(): number {
    return this.runs.size;
  }

  /** Runs in progress started by `owner` (undefined: anonymous callers). */
  activeOf(owner: string | undefined): number {
    return this.byOwner.get(owner ?? "") ?? 0;
  }

  run(taskId: string): OneOffRun | undefined {
    return this.runs.get(taskId);
  }

  /** Starts a run for `owner` (the caller's principal); its events go to `emit`, the first at once. */
  submit(request: RunRequest, owner: string | undefined, emit: (e: RunEvent) => void): OneOffRun {
    const taskId = `${request.name}.${this.random.uuid()}`;
    const run = new OneOffRun(this, request, taskId, owner, emit);
    this.runs.set(taskId, run);
    this.byOwner.set(owner ?? "", this.activeOf(owner) + 1);
    emit({ event: "subscribed", master: this.o.driver.master, frameworkId: this.o.frameworkId, taskId });
    this.pending.push(run);
    this.touch();
    this.match();
    // No held offer fits: revive (un-suppresses, and clears the filters of offers declined as spare).
    if (this.pending.includes(run)) {
      this.suppressed = false;
      this.counters.revives++;
      this.o.driver.revive().catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "Revive failed"));
    }
    run.start();
    return run;
  }

  offers(offers: Offer[]): void {
    for (const offer of offers) this.held.set(offer.id?.value ?? "", offer);
    this.match();
    if (!this.wanted()) this.release();
    else if (this.pending.length === 0) this.keepOneSpare();
  }

  /**
   * With no run waiting, one held offer is enough to start the next at once; the others go
   * back for the rest of the window, so other frameworks get those agents meanwhile (a run
   * that no held offer fits revives, which clears the filter).
   */
  private keepOneSpare(): void {
    if (this.held.size <= 1) return;
    const extra = [...this.held.keys()].slice(1);
    for (const id of extra) this.held.delete(id);
    const seconds = Math.max(1, Math.ceil((this.holdUntil - this.o.clock.now()) / 1000));
    this.o.driver.decline(extra, refuseFor(seconds)).catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "Decline failed"));
  }

  rescind(offerId: string): void {
    this.held.delete(offerId);
  }

  update(status: TaskStatus): void {
    if (status.uuid.length > 0) {
      this.o.driver.acknowledge(status).catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "Acknowledgement failed"));
    }
    const taskId = status.taskId?.value ?? "";
    const run = this.runs.get(taskId);
    if (run) {
      run.onStatus(status);
    } else if (!isTerminal(status.state)) {
      // Launched for a client no longer here (a previous leader's, or a run already given up).
      this.counters.orphansKilled++;
      this.o.logger.info({ task: taskId }, `Killing task ${taskId}: no client is waiting for it`);
      this.o.driver.kill(taskId, status.agentId?.value).catch(() => undefined);
    }
  }

  /** Leadership ended: every run ends NOT_LAUNCHED (waiting) or TASK_FAILED (its task is killed by the next leader). */
  stop(reason: string): void {
    this.stopped = true;
    this.holdTimer?.cancel();
    for (const run of [...this.runs.values()]) run.abandon(`The run service stopped (${reason})`);
  }

  /** Called by a run that ended. */
  forget(run: OneOffRun): void {
    if (!this.runs.delete(run.taskId)) return;
    const left = this.activeOf(run.owner) - 1;
    if (left > 0) this.byOwner.set(run.owner ?? "", left);
    else this.byOwner.delete(run.owner ?? "");
    const i = this.pending.indexOf(run);
    if (i >= 0) this.pending.splice(i, 1);
  }

  launch(run: OneOffRun, task: TaskInfo, offerId: string): Promise<void> {
    this.counters.launched++;
    return this.o.driver.launch([offerId], [task], refuseFor(0));
  }

  private wanted(): boolean {
    return !this.stopped && (this.pending.length > 0 || this.o.clock.now() < this.holdUntil);
  }

  private touch(): void {
    this.holdUntil = Math.max(this.holdUntil, this.o.clock.now() + this.holdMs);
    if (!this.holdTimer) this.armHoldTimer();
  }

  private armHoldTimer(): void {
    this.holdTimer?.cancel();
    this.holdTimer = this.o.clock.setTimer(Math.max(1, this.holdUntil - this.o.clock.now()), () => {
      this.holdTimer = undefined;
      if (this.stopped) return;
      if (this.wanted()) this.armHoldTimer();
      else this.release();
    });
  }

  /** Suppress, then hand back every held offer (a short filter covers offers sent before the suppress lands; a revive clears it). */
  private release(): void {
    if (!this.suppressed) {
      this.suppressed = true;
      this.counters.suppresses++;
      this.o.driver.suppress().catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "Suppress failed"));
    }
    const ids = [...this.held.keys()];
    this.held.clear();
    if (ids.length > 0) this.o.driver.decline(ids, refuseFor(5)).catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "Decline failed"));
  }

  private match(): void {
    for (const run of [...this.pending]) {
      for (const [id, offer] of this.held) {
        const resources = pickResources(offer, run.request.resources, run.request.role);
        if (!resources) continue;
        this.held.delete(id);
        this.pending.splice(this.pending.indexOf(run), 1);
        this.touch();
        run.launch(offer, resources);
        break;
      }
    }
  }
}

/** One run: its task from offer to end, and its client's stream. */
export class OneOffRun {
  private phase = RunPhase.WAITING_FOR_OFFER;
  private task: TaskInfo | undefined;
  private hostname = "";
  private lastState: TaskState | undefined;
  private sandboxShown = false;
  private killExit: RunExit = RunExit.INTERRUPTED;
  private deadline: Timer | undefined;
  private killGuard: Timer | undefined;
  private output: Promise<TaskOutput | undefined> | undefined;
  private clientGone = false;

  constructor(
    private readonly scheduler: RunScheduler,
    readonly request: RunRequest,
    readonly taskId: string,
    /** The principal that started it (undefined: anonymous). */
    readonly owner: string | undefined,
    private readonly emit: (e: RunEvent) => void,
  ) {}

  get state(): RunPhase {
    return this.phase;
  }

  start(): void {
    const seconds = this.request.timeoutSeconds;
    if (seconds > 0 && this.phase !== RunPhase.DONE) this.deadline = this.scheduler.o.clock.setTimer(seconds * 1000, () => this.onTimeout());
  }

  launch(offer: Offer, resources: NonNullable<ReturnType<typeof pickResources>>): void {
    const r = this.request;
    const task = commandTask({ command: r.command, offer, resources, name: r.name, taskId: this.taskId, env: r.env, user: r.user });
    this.task = task;
    this.hostname = offer.hostname;
    this.phase = RunPhase.LAUNCHING;
    this.send({ event: "launching", taskId: this.taskId, agentId: offer.agentId?.value ?? "", hostname: offer.hostname, resources: Resources.of(resources).toString() });
    this.scheduler.launch(this, task, offer.id?.value ?? "").catch((err: unknown) => this.finish(RunExit.NOT_LAUNCHED, `The master refused the launch: ${(err as Error).message}`));
  }

  onStatus(status: TaskStatus): void {
    if (status.state !== this.lastState) this.show(status);
    if (isTerminal(status.state)) {
      const ok = status.state === TaskState.FINISHED;
      const code = this.phase === RunPhase.KILLING ? this.killExit : ok ? RunExit.FINISHED : RunExit.TASK_FAILED;
      this.finish(code, ok ? undefined : `Task ${this.taskId} ended ${describeStatus(status)}`);
    } else if (this.phase === RunPhase.LAUNCHING) {
      this.phase = RunPhase.RUNNING;
    }
  }

  /** Ctrl-C on the client (POST …/kill): kill the task; the stream ends with 130. */
  interrupt(): void {
    this.kill("Interrupted", RunExit.INTERRUPTED);
  }

  /** The client's stream closed before the end: the task is killed, nobody hears of it. */
  disconnect(): void {
    if (this.phase === RunPhase.DONE) return;
    this.clientGone = true;
    this.scheduler.counters.disconnects++;
    this.scheduler.o.logger.info({ task: this.taskId }, `The client of run ${this.taskId} disconnected; killing its task`);
    this.kill("The client disconnected", RunExit.INTERRUPTED);
  }

  /** The service stopped leading: the client hears so; the task is the next leader's orphan (killed). */
  abandon(reason: string): void {
    this.finish(this.task ? RunExit.TASK_FAILED : RunExit.NOT_LAUNCHED, reason);
  }

  private send(e: RunEvent): void {
    if (!this.clientGone) this.emit(e);
  }

  private show(status: TaskStatus): void {
    this.lastState = status.state;
    const sandbox = !this.sandboxShown && status.sandboxDirectory ? status.sandboxDirectory : undefined;
    this.send({
      event: "status",
      taskId: this.taskId,
      state: taskStateName(status.state),
      text: describeStatus(status),
      timestamp: status.timestamp > 0 ? status.timestamp * 1000 : this.scheduler.o.clock.now(),
      ...(sandbox ? { sandbox, hostname: this.hostname } : {}),
    });
    if (sandbox) {
      this.sandboxShown = true;
      if (this.request.output && !this.clientGone) this.output = this.followOutput(status.agentId?.value ?? this.task?.agentId?.value ?? "", sandbox);
    }
  }

  private async followOutput(agentId: string, sandbox: string): Promise<TaskOutput | undefined> {
    try {
      const agentHttp = await this.scheduler.o.agentHttp(agentId);
      const output = new TaskOutput({
        agentHttp,
        sandbox,
        sinks: { stdout: (data) => this.send({ event: "stdout", data }), stderr: (data) => this.send({ event: "stderr", data }) },
        clock: this.scheduler.o.clock,
        warn: (message) => this.send({ event: "error", message }),
        ...(this.scheduler.o.authorization ? { authorization: this.scheduler.o.authorization } : {}),
      });
      output.start();
      return output;
    } catch (err) {
      this.send({ event: "error", message: `Cannot show the task's output: ${(err as Error).message} (it is in the sandbox)` });
      return undefined;
    }
  }

  private onTimeout(): void {
    this.deadline = undefined;
    const limit = `${this.request.timeoutSeconds} s`;
    if (this.phase === RunPhase.WAITING_FOR_OFFER) {
      const want = Object.entries(this.request.resources).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(", ");
      this.finish(RunExit.NOT_LAUNCHED, `No offer fit ${want} for role ${this.request.role} within ${limit}`);
    } else {
      this.kill(`Timed out after ${limit}`, RunExit.TIMED_OUT);
    }
  }

  private kill(why: string, exit: RunExit): void {
    if (this.phase === RunPhase.DONE || this.phase === RunPhase.KILLING) return;
    if (this.phase === RunPhase.WAITING_FOR_OFFER) {
      this.finish(exit, why);
      return;
    }
    this.phase = RunPhase.KILLING;
    this.killExit = exit;
    this.send({ event: "error", message: `${why}; killing task ${this.taskId}` });
    const clock = this.scheduler.o.clock;
    this.killGuard = clock.setTimer(KILL_TIMEOUT_MS, () => this.finish(exit, `Task ${this.taskId} did not end within ${KILL_TIMEOUT_MS / 1000} s of the kill`));
    this.scheduler.o.driver.kill(this.taskId, this.task?.agentId?.value).catch((err: unknown) => this.send({ event: "error", message: `Kill failed: ${(err as Error).message}` }));
  }

  private finish(code: RunExit, reason?: string): void {
    if (this.phase === RunPhase.DONE) return;
    this.phase = RunPhase.DONE;
    this.deadline?.cancel();
    this.killGuard?.cancel();
    this.scheduler.forget(this);
    void (this.output ?? Promise.resolve(undefined))
      .then((o) => o?.finish())
      .catch(() => undefined)
      .then(() => {
        if (reason) this.send({ event: "error", message: reason });
        this.send({ event: "end", exit: code, ...(reason ? { reason } : {}) });
      });
  }
}
