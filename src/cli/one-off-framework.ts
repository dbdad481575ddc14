import type * as grpc from "@grpc/grpc-js";
import type { Offer } from "../gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskInfo, type TaskStatus } from "../gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor, type ResourceRequest } from "../actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../actors/scheduler-driver/driver.js";
import type { ClientCredential } from "../security/auth/client-credential.js";
import { describeStatus, isTerminal } from "../actors/task-states.js";
import { transitionChecker } from "../runtime/transitions.js";
import { Resources } from "../resources/resources.js";
import type { Clock, Timer } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import type { Random } from "../runtime/random.js";
import type { OutputSinks, TaskOutput } from "../frameworks/common/sandbox-output.js";
import { RunExit } from "./run-exit.js";
import type { RunMark } from "./run-timing.js";


/** Where the run is. */
export enum RunPhase {
  SUBSCRIBING = "SUBSCRIBING",
  WAITING_FOR_OFFER = "WAITING_FOR_OFFER",
  LAUNCHING = "LAUNCHING",
  RUNNING = "RUNNING",
  KILLING = "KILLING",
  DONE = "DONE",
}

const ALLOWED: Record<RunPhase, readonly RunPhase[]> = {
  [RunPhase.SUBSCRIBING]: [RunPhase.WAITING_FOR_OFFER, RunPhase.DONE],
  [RunPhase.WAITING_FOR_OFFER]: [RunPhase.LAUNCHING, RunPhase.DONE],
  [RunPhase.LAUNCHING]: [RunPhase.RUNNING, RunPhase.KILLING, RunPhase.DONE],
  [RunPhase.RUNNING]: [RunPhase.KILLING, RunPhase.DONE],
  [RunPhase.KILLING]: [RunPhase.DONE],
  [RunPhase.DONE]: [],
};
const checkPhase = transitionChecker(ALLOWED, "run");

/** Everything a one-off run needs, validated (see run.ts for the flags). */
export interface OneOffSpec {
  masters: string;
  /** Authenticate as this principal (none: unauthenticated). */
  credential?: ClientCredential;
  name: string;
  role: string;
  user: string;
  command: string | string[];
  resources: ResourceRequest;
  env: Record<string, string>;
  /** Whole-run limit in seconds (0: none). */
  timeoutSeconds: number;
  /** How long offers that do not fit are refused. */
  declineSeconds: number;
  /** After a kill, how long to wait for the terminal update before tearing down anyway. */
  killTimeoutSeconds: number;
}

export interface OneOffIo {
  /** A line for the user (state changes, sandbox). */
  out: (line: string) => void;
  /** A line about trouble (reasons, reconnects). */
  err: (line: string) => void;
  clock: Clock;
  logger: Logger;
  random?: Random;
  /** Where the task's stdout/stderr go as they grow (read from its sandbox); none: not shown. */
  output?: OutputSinks;
  /** TLS to the masters (the cluster CA, a principal's certificate); default plaintext. */
  channelCredentials?: grpc.ChannelCredentials;
  /** Called at each phase (subscribe, subscribed, offer, accept, TASK_*): run-timing.ts. */
  mark?: RunMark;
}

/** Offers kept away for good once the task is launched. */
const DONT_OFFER_AGAIN = 3600;

/**
 * A framework that runs one command task, like mesos-execute: subscribe, wait for an offer
 * that fits (declining the others with a filter), launch, print each state change,
 * acknowledge, and tear down at the end. Resolves with an exit code (RunExit).
 */
export class OneOffFramework {
  private phase = RunPhase.SUBSCRIBING;
  private readonly driver: SchedulerDriver;
  private task: TaskInfo | undefined;
  private hostname = "";
  private lastState: TaskState | undefined;
  private sandboxShown = false;
  private declined = 0;
  /** The exit code when the task ends after we killed it (timeout or Ctrl-C). */
  private killExit: RunExit = RunExit.INTERRUPTED;
  private deadline: Timer | undefined;
  private killGuard: Timer | undefined;
  /** The task's output being copied to io.output, once its sandbox is known. */
  private output: Promise<TaskOutput | undefined> | undefined;
  private resolve: (code: RunExit) => void = () => {};
  private readonly done: Promise<RunExit>;

  constructor(
    private readonly spec: OneOffSpec,
    private readonly io: OneOffIo,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
    this.driver = new SchedulerDriver({
      masters: spec.masters,
      credential: spec.credential,
      framework: { name: spec.name, roles: [spec.role], user: spec.user, failoverTimeout: 0 },
      implicitAcknowledgements: false,
      ...(io.channelCredentials ? { channelCredentials: io.channelCredentials } : {}),
      clock: io.clock,
      logger: io.logger,
      random: io.random,
      callbacks: {
        subscribed: (e, resubscribed) => this.onSubscribed(e.frameworkId?.value ?? "", resubscribed),
        offers: (offers) => this.onOffers(offers),
        update: (status) => this.onUpdate(status),
        disconnected: (error) => this.io.err(`Lost the master ${this.driver.master}: ${error?.message ?? "stream ended"}; reconnecting`),
        stopped: (error) => error && this.finish(this.task ? RunExit.TASK_FAILED : RunExit.NOT_LAUNCHED, error.message),
      },
    });
  }

  get state(): RunPhase {
    return this.phase;
  }

  /** Runs to the end; aborting `signal` (Ctrl-C) kills the task, a second abort gives up at once. */
  run(signal?: AbortSignal): Promise<RunExit> {
    this.io.mark?.("subscribe");
    this.driver.start().catch((err: unknown) => this.finish(RunExit.NOT_LAUNCHED, `Cannot subscribe: ${(err as Error).message}`));
    if (this.spec.timeoutSeconds > 0) this.deadline = this.io.clock.setTimer(this.spec.timeoutSeconds * 1000, () => this.onTimeout());
    if (signal) {
      const onAbort = (): void => this.interrupt();
      signal.addEventListener("abort", onAbort, { once: true });
      void this.done.then(() => signal.removeEventListener("abort", onAbort));
      if (signal.aborted) onAbort();
    }
    return this.done;
  }

  /** Ctrl-C: kill the task if there is one, else stop; a second one stops at once. */
  interrupt(): void {
    if (this.phase === RunPhase.DONE) return;
    if (this.phase === RunPhase.KILLING || !this.task) {
      this.finish(RunExit.INTERRUPTED, "Interrupted");
      return;
    }
    this.killExit = RunExit.INTERRUPTED;
    this.kill("Interrupted");
  }

  private transition(to: RunPhase): void {
    checkPhase(this.phase, to);
    this.io.logger.debug({ from: this.phase, to }, `dcos-node run ${this.phase} -> ${to}`);
    this.phase = to;
  }

  private onSubscribed(frameworkId: string, resubscribed: boolean): void {
    this.io.mark?.("subscribed");
    this.io.out(`${resubscribed ? "Resubscribed" : "Subscribed"} to master ${this.driver.master} as framework ${frameworkId}`);
    if (this.phase === RunPhase.SUBSCRIBING) this.transition(RunPhase.WAITING_FOR_OFFER);
  }

  private onOffers(offers: Offer[]): void {
    if (this.phase === RunPhase.WAITING_FOR_OFFER) this.io.mark?.("offer");
    for (const offer of offers) {
      const id = offer.id?.value ?? "";
      const resources = this.phase === RunPhase.WAITING_FOR_OFFER ? pickResources(offer, this.spec.resources, this.spec.role) : undefined;
      if (resources) {
        this.launch(offer, resources);
        continue;
      }
      const seconds = this.phase === RunPhase.WAITING_FOR_OFFER ? this.spec.declineSeconds : DONT_OFFER_AGAIN;
      this.declined++;
      this.driver.decline([id], refuseFor(seconds)).catch((err: unknown) => this.io.logger.warn({ offer: id, err: (err as Error).message }, "Decline failed"));
    }
  }

  private launch(offer: Offer, resources: NonNullable<ReturnType<typeof pickResources>>): void {
    const task = commandTask({ command: this.spec.command, offer, resources, name: this.spec.name, env: this.spec.env, random: this.io.random });
    this.task = task;
    this.hostname = offer.hostname;
    this.transition(RunPhase.LAUNCHING);
    this.io.out(`Launching task ${task.taskId?.value} on agent ${offer.agentId?.value} (${offer.hostname}) with ${Resources.of(resources).toString()}`);
    const launched = this.driver.launch([offer.id?.value ?? ""], [task], refuseFor(DONT_OFFER_AGAIN));
    this.io.mark?.("accept");
    launched.then(
      () => this.driver.suppress().catch((err: unknown) => this.io.logger.warn({ err: (err as Error).message }, "Suppress failed")),
      (err: unknown) => this.finish(RunExit.NOT_LAUNCHED, `The master refused the launch: ${(err as Error).message}`),
    );
  }

  private onUpdate(status: TaskStatus): void {
    const ours = this.task !== undefined && status.taskId?.value === this.task.taskId?.value;
    if (ours && status.state !== this.lastState) this.show(status);
    if (status.uuid.length > 0) {
      this.driver.acknowledge(status).catch((err: unknown) => this.io.logger.warn({ err: (err as Error).message }, "Acknowledgement failed"));
    }
    if (!ours) return;
    if (isTerminal(status.state)) {
      const ok = status.state === TaskState.FINISHED;
      const code = this.phase === RunPhase.KILLING ? this.killExit : ok ? RunExit.FINISHED : RunExit.TASK_FAILED;
      this.finish(code, ok ? undefined : `Task ${status.taskId?.value} ended ${describeStatus(status)}`);
    } else if (this.phase === RunPhase.LAUNCHING) {
      this.transition(RunPhase.RUNNING);
    }
  }

  private show(status: TaskStatus): void {
    this.lastState = status.state;
    this.io.mark?.(`TASK_${TaskState[status.state]}`);
    const at = status.timestamp > 0 ? status.timestamp * 1000 : this.io.clock.now();
    this.io.out(`${new Date(at).toISOString()} ${describeStatus(status)}`);
    if (!this.sandboxShown && status.sandboxDirectory) {
      this.sandboxShown = true;
      this.io.out(`Sandbox: ${this.hostname ? `${this.hostname}:` : ""}${status.sandboxDirectory} (stdout, stderr)`);
      if (this.io.output) this.output = this.followOutput(status.agentId?.value ?? this.task?.agentId?.value ?? "", status.sandboxDirectory, this.io.output);
    }
  }

  private async followOutput(agentId: string, sandbox: string, sinks: OutputSinks): Promise<TaskOutput | undefined> {
    try {
      // Loaded once a sandbox is known: the operator protocol's code (the largest generated
      // file) is then off the path to TASK_RUNNING, and `--no-output` never loads it.
      const { agentHttpAddress, TaskOutput } = await import("../frameworks/common/sandbox-output.js");
      const agentHttp = await agentHttpAddress(this.driver.master, agentId, this.io.channelCredentials);
      const output = new TaskOutput({ agentHttp, sandbox, sinks, clock: this.io.clock, warn: (m) => this.io.err(m) });
      output.start();
      return output;
    } catch (err) {
      this.io.err(`Cannot show the task's output: ${(err as Error).message} (it is in the sandbox)`);
      return undefined;
    }
  }

  private onTimeout(): void {
    this.deadline = undefined;
    const limit = `${this.spec.timeoutSeconds} s`;
    if (this.phase === RunPhase.SUBSCRIBING) {
      this.finish(RunExit.NOT_LAUNCHED, `Could not subscribe to ${this.spec.masters} within ${limit}`);
    } else if (this.phase === RunPhase.WAITING_FOR_OFFER) {
      const want = Object.entries(this.spec.resources).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(", ");
      this.finish(RunExit.NOT_LAUNCHED, `No offer fit ${want} for role ${this.spec.role} within ${limit} (declined ${this.declined} offer(s))`);
    } else if (this.phase === RunPhase.LAUNCHING || this.phase === RunPhase.RUNNING) {
      this.killExit = RunExit.TIMED_OUT;
      this.kill(`Timed out after ${limit}`);
    }
  }

  private kill(why: string): void {
    const task = this.task!;
    this.transition(RunPhase.KILLING);
    this.io.err(`${why}; killing task ${task.taskId?.value}`);
    this.killGuard = this.io.clock.setTimer(this.spec.killTimeoutSeconds * 1000, () =>
      this.finish(this.killExit, `Task ${task.taskId?.value} did not end within ${this.spec.killTimeoutSeconds} s of the kill; tearing down`),
    );
    this.driver.kill(task.taskId!.value, task.agentId?.value).catch((err: unknown) => this.io.err(`Kill failed: ${(err as Error).message}; tearing down`));
  }

  private finish(code: RunExit, reason?: string): void {
    if (this.phase === RunPhase.DONE) return;
    this.transition(RunPhase.DONE);
    this.deadline?.cancel();
    this.killGuard?.cancel();
    if (reason) this.io.err(reason);
    this.driver
      .teardown()
      .catch((err: unknown) => this.io.logger.debug({ err: (err as Error).message }, "Teardown failed; stopping the driver"))
      .then(() => this.driver.stop())
      .then(() => this.output?.then((o) => o?.finish()))
      .catch((err: unknown) => this.io.logger.debug({ err: (err as Error).message }, "Finishing the task's output failed"))
      .finally(() => this.resolve(code));
  }
}
