/**
 * The failover benchmark's framework, in the bench process on the real SchedulerDriver:
 * launches `tasks` tasks one per offer (the rest of an offer comes back next allocation),
 * records each task's latest state, and after a resubscription reconciles the tasks not yet
 * heard RUNNING since (explicitly, again every second) until all of them are.
 */
import { FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { silentLogger } from "../../src/runtime/log.js";

export class FailoverFramework {
  readonly driver: SchedulerDriver;
  /** Task id -> agent id. */
  private readonly agents = new Map<string, string>();
  /** Tasks heard RUNNING since `mark()`. */
  private readonly runningSince = new Set<string>();
  private launched = 0;
  resubscribedAt = 0;
  private reconciling: NodeJS.Timeout | undefined;

  constructor(
    masters: string,
    private readonly tasks: number,
  ) {
    this.driver = new SchedulerDriver({
      masters,
      framework: { name: "failover-bench", roles: ["*"], user: "root", failoverTimeout: 3600, capabilities: [FrameworkInfo_Capability.PARTITION_AWARE] },
      logger: silentLogger(),
      callbacks: {
        offers: (offers) => this.onOffers(offers),
        update: (status) => {
          if (status.state === TaskState.RUNNING) this.runningSince.add(status.taskId?.value ?? "");
        },
        subscribed: (_e, resubscribed) => {
          if (!resubscribed) return;
          this.resubscribedAt = performance.now();
          this.reconcileMissing();
          this.reconciling = setInterval(() => this.reconcileMissing(), 1_000);
        },
      },
    });
  }

  /** Tasks heard RUNNING since the last mark(). */
  get running(): number {
    return this.runningSince.size;
  }

  /** Forget what was heard: count RUNNING updates from now on. */
  mark(): void {
    this.runningSince.clear();
  }

  async stop(): Promise<void> {
    clearInterval(this.reconciling);
    await this.driver.teardown().catch(() => undefined);
    await this.driver.stop();
  }

  private reconcileMissing(): void {
    const missing = [...this.agents].filter(([t]) => !this.runningSince.has(t)).map(([t, a]) => ({ taskId: { value: t }, agentId: { value: a } }));
    if (missing.length === 0) clearInterval(this.reconciling);
    else void this.driver.reconcile(missing).catch(() => undefined);
  }

  private onOffers(offers: Offer[]): void {
    for (const offer of offers) {
      const resources = this.launched < this.tasks ? pickResources(offer, { cpus: 0.1, mem: 32 }) : undefined;
      if (!resources) {
        void this.driver.decline([offer.id!.value], refuseFor(3600)).catch(() => undefined);
        continue;
      }
      const taskId = `task-${this.launched++}`;
      this.agents.set(taskId, offer.agentId!.value);
      void this.driver.launch([offer.id!.value], [commandTask({ command: "sleep 600", offer, resources, name: taskId, taskId })], refuseFor(0)).catch(() => undefined);
    }
  }
}
