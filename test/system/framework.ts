/**
 * The framework of the system tests: a partition-aware scheduler (the real SchedulerDriver
 * over gRPC) in the test process, outside the hosts' namespaces; it reaches the master through
 * the bridge. It launches a task on a chosen host, records every status update, acknowledges
 * them, and reconciles on demand.
 */
import { FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskInfo, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { taskStateName } from "../../src/actors/task-states.js";
import { testLogger } from "../../src/runtime/log.js";
import { waitFor } from "../support/wait.js";

interface Wanted {
  taskId: string;
  hostname: string;
  command: string;
  /** Ports the task takes from the offer (default none). */
  ports: number;
  /** The task's name (default its id). */
  name: string;
}

export class TestFramework {
  readonly updates: TaskStatus[] = [];
  /** Masters (host:port) it resubscribed at after losing one, in order. */
  readonly resubscribedAt: string[] = [];
  private readonly driver: SchedulerDriver;
  private wanted: Wanted | undefined;
  /** Task id -> agent id, once launched. */
  private readonly agents = new Map<string, string>();
  /** Task id -> what was launched. */
  readonly tasks = new Map<string, TaskInfo>();

  /** `master`: one address or a comma-separated list. */
  constructor(master: string, name: string) {
    this.driver = new SchedulerDriver({
      masters: master,
      framework: { name, roles: ["*"], user: "root", failoverTimeout: 3600, capabilities: [FrameworkInfo_Capability.PARTITION_AWARE] },
      logger: testLogger(),
      callbacks: {
        offers: (offers) => this.onOffers(offers),
        update: (status) => this.updates.push(status),
        subscribed: (_event, resubscribed) => {
          if (resubscribed) this.resubscribedAt.push(this.driver.master);
        },
      },
    });
  }

  get frameworkId(): string | undefined {
    return this.driver.frameworkId;
  }

  async start(): Promise<void> {
    await this.driver.start();
  }

  /** Launches `command` as `taskId` on the agent whose hostname is `hostname`; resolves when it is RUNNING. */
  async launch(taskId: string, hostname: string, command: string, timeoutMs = 30_000, extra: { ports?: number; name?: string } = {}): Promise<TaskStatus> {
    this.wanted = { taskId, hostname, command, ports: extra.ports ?? 0, name: extra.name ?? taskId };
    await this.driver.revive();
    return this.waitForState(taskId, TaskState.RUNNING, timeoutMs);
  }

  /** The agent a launched task went to. */
  agentOf(taskId: string): string {
    const agent = this.agents.get(taskId);
    if (!agent) throw new Error(`Task ${taskId} was not launched`);
    return agent;
  }

  /** The latest update of the task, if any. */
  latest(taskId: string): TaskStatus | undefined {
    return this.updates.findLast((u) => u.taskId?.value === taskId);
  }

  /** Waits for an update of the task in one of `states` after the first `since` updates. */
  waitForState(taskId: string, states: TaskState | TaskState[], timeoutMs: number, since = 0): Promise<TaskStatus> {
    const wanted = Array.isArray(states) ? states : [states];
    const found = waitFor(() => this.updates.slice(since).find((u) => u.taskId?.value === taskId && wanted.includes(u.state)), `task ${taskId} to be ${wanted.map(taskStateName).join(" or ")}`, timeoutMs);
    return this.explained(found, taskId, () => "");
  }

  /** Asks the master for the task's state (explicit reconciliation). */
  reconcile(taskId: string): Promise<void> {
    return this.driver.reconcile([{ taskId: { value: taskId }, agentId: { value: this.agentOf(taskId) } }]);
  }

  /** Reconciles the task every second until an update after the first `since` says `state`; `context` goes into the timeout's message. */
  reconciledAs(taskId: string, state: TaskState, since: number, timeoutMs: number, context: () => string = () => ""): Promise<TaskStatus> {
    let asked = 0;
    const found = waitFor(
      async () => {
        const found = this.updates.slice(since).find((u) => u.taskId?.value === taskId && u.state === state);
        if (!found && Date.now() - asked > 1_000) {
          asked = Date.now();
          await this.reconcile(taskId).catch(() => undefined);
        }
        return found;
      },
      `task ${taskId} reconciled as ${taskStateName(state)}`,
      timeoutMs,
    );
    return this.explained(found, taskId, context);
  }

  /** A timeout says which states the task went through, and the context (e.g. the processes' logs). */
  private async explained(found: Promise<TaskStatus>, taskId: string, context: () => string): Promise<TaskStatus> {
    try {
      return await found;
    } catch (err) {
      throw new Error(`${(err as Error).message}; the task's states: ${this.describe(taskId) || "none"}\n${context()}`);
    }
  }

  /** Asks the master to kill the task. */
  kill(taskId: string): Promise<void> {
    return this.driver.kill(taskId, this.agentOf(taskId));
  }

  /** The task's states so far, for messages. */
  describe(taskId: string): string {
    return this.updates
      .filter((u) => u.taskId?.value === taskId)
      .map((u) => taskStateName(u.state))
      .join(", ");
  }

  /** Tears the framework down (its tasks are killed), then stops the driver. */
  async stop(): Promise<void> {
    await this.driver.teardown().catch(() => undefined);
    await this.driver.stop();
  }

  private onOffers(offers: Offer[]): void {
    for (const offer of offers) {
      const want = this.wanted;
      const resources = want && offer.hostname === want.hostname ? pickResources(offer, { cpus: 0.1, mem: 32, ports: want.ports }) : undefined;
      if (!want || !resources) {
        void this.driver.decline([offer.id!.value], refuseFor(1)).catch(() => undefined);
        continue;
      }
      this.wanted = undefined;
      const task = commandTask({ command: want.command, offer, resources, name: want.name, taskId: want.taskId });
      this.tasks.set(want.taskId, task);
      this.agents.set(want.taskId, offer.agentId!.value);
      void this.driver.launch([offer.id!.value], [task], refuseFor(1)).then(() => this.driver.suppress());
    }
  }
}
