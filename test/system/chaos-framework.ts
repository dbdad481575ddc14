/**
 * The chaos run's framework: a partition-aware scheduler (the real SchedulerDriver) that
 * keeps a ledger of every status update it ever hears, across its own kill -9 and restart
 * (a new driver failing over with the same framework id). It keeps `longTasks` long tasks
 * spread over the agents (each a `sleep` with an argument unique to the task, so the test
 * can count its processes) and launches a stream of short tasks. It never relaunches
 * a task: what happened to each one is what the ledger says.
 */
import { FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { isTerminal, taskStateName } from "../../src/actors/task-states.js";
import { testLogger } from "../../src/runtime/log.js";

export interface LedgerEntry {
  at: number;
  taskId: string;
  state: TaskState;
  reason: number;
  source: number;
  message: string;
  /** The update's uuid in hex ("" for reconciliation answers and other unacknowledged updates). */
  uuid: string;
  /**
   * A second delivery of an update already heard (the same uuid). Delivery is at least once:
   * an agent resends an update until it is acknowledged, and a copy sent on a connection cut
   * by a failover can arrive after the task's later updates. A framework ignores the copy
   * (it carries no new state); the ledger keeps it for the record and checks it says what
   * the first delivery said.
   */
  duplicate: boolean;
}

/** The command line of a long task's process: a sleep whose argument is unique to the task, to find and count it in /proc. */
export function longCommandLine(n: number): string[] {
  return ["sleep", `3600.${String(n).padStart(6, "0")}`];
}

function unknownAnswer(e: LedgerEntry): boolean {
  return e.state === TaskState.UNKNOWN && e.reason === TaskStatus_Reason.RECONCILIATION;
}

export class ChaosFramework {
  readonly ledger: LedgerEntry[] = [];
  /** `task/uuid` of every update heard, to spot a second delivery. */
  private readonly heardUuids = new Set<string>();
  /** Long task id → the agent hostname it was launched on and its process's command line. */
  readonly long = new Map<string, { host: string; argv: string[] }>();
  readonly short = new Set<string>();
  private driver: SchedulerDriver | undefined;
  private id: string | undefined;
  private pendingShort = 0;
  private nextShort = 1;
  private nextLong = 1;
  /** Offers launched on, for spreading the long tasks. */
  private readonly perHost = new Map<string, number>();

  constructor(
    private readonly masters: string,
    private readonly name: string,
    private readonly hosts: readonly string[],
    private readonly longTasks: number,
  ) {}

  get frameworkId(): string | undefined {
    return this.id;
  }

  get subscribed(): boolean {
    return this.driver?.state === "SUBSCRIBED";
  }

  /** Subscribes (again, with the same framework id, after a kill). */
  async start(): Promise<void> {
    const driver = new SchedulerDriver({
      masters: this.masters,
      frameworkId: this.id,
      framework: { name: this.name, roles: ["*"], user: "root", failoverTimeout: 3600, capabilities: [FrameworkInfo_Capability.PARTITION_AWARE] },
      logger: testLogger(),
      // A short reconnect backoff: the run measures how fast the cluster recovers, not the driver's patience.
      backoff: { initialMs: 250, maxMs: 2_000 },
      callbacks: {
        offers: (offers) => this.onOffers(driver, offers),
        update: (s) => this.record(s),
      },
    });
    this.driver = driver;
    await driver.start();
    this.id = driver.frameworkId;
  }

  /** kill -9 of the scheduler: the driver is gone without a teardown; the master keeps the framework for its failover timeout. */
  async kill(): Promise<void> {
    const d = this.driver;
    this.driver = undefined;
    await d?.stop();
  }

  /** Queues `n` short tasks; they launch on the next offers. */
  addShort(n = 1): void {
    this.pendingShort += n;
  }

  /** Launched long tasks that still have to be launched. */
  get longMissing(): number {
    return this.longTasks - this.long.size;
  }

  /**
   * The last state the task was reported in. A TASK_UNKNOWN answer to reconciliation says
   * the master no longer knows the task (one finished and acknowledged is forgotten, as in
   * Mesos), not a new state: it counts only when nothing else was ever heard.
   */
  latest(taskId: string): LedgerEntry | undefined {
    const heard = (e: LedgerEntry): boolean => e.taskId === taskId && !e.duplicate;
    return this.ledger.findLast((e) => heard(e) && !unknownAnswer(e)) ?? this.ledger.findLast(heard);
  }

  /** Second deliveries whose state differs from the first delivery of the same uuid (never expected). */
  changedDuplicates(): string[] {
    const first = new Map<string, LedgerEntry>();
    const out: string[] = [];
    for (const e of this.ledger) {
      if (e.uuid === "") continue;
      const key = `${e.taskId}/${e.uuid}`;
      const seen = first.get(key);
      if (!seen) first.set(key, e);
      else if (seen.state !== e.state) out.push(`task ${e.taskId}: update ${e.uuid} was heard as ${taskStateName(seen.state)}, then again as ${taskStateName(e.state)}`);
    }
    return out;
  }

  /** Distinct terminal states the task was reported in. */
  terminalStates(taskId: string): TaskState[] {
    return [...new Set(this.ledger.filter((e) => e.taskId === taskId && isTerminal(e.state)).map((e) => e.state))];
  }

  /** Everything heard about the task: state, source, reason, message, and the time of day. */
  describe(taskId: string): string {
    return this.ledger
      .filter((e) => e.taskId === taskId)
      .map((e) => {
        const why = [TaskStatus_Source[e.source], e.reason ? TaskStatus_Reason[e.reason] : "", e.message].filter(Boolean).join(" ");
        return `${new Date(e.at).toISOString().slice(11, 23)} ${taskStateName(e.state)}${why ? ` (${why})` : ""}${e.duplicate ? " [again]" : ""}`;
      })
      .join(", ");
  }

  /**
   * Asks the master about the long tasks not last heard RUNNING, as a partition-aware
   * framework does after TASK_UNREACHABLE: the master answers RUNNING once their agent is back.
   */
  async reconcileLong(): Promise<void> {
    const stale = [...this.long.keys()].filter((id) => this.latest(id)?.state !== TaskState.RUNNING);
    if (stale.length > 0 && this.subscribed) await this.driver?.reconcile(stale.map((id) => ({ taskId: { value: id } })));
  }

  /** Asks the master about the launched tasks not heard ending yet (explicit reconciliation). */
  async reconcileOpen(): Promise<void> {
    const open = [...this.long.keys(), ...this.short].filter((id) => this.terminalStates(id).length === 0);
    if (open.length > 0) await this.driver?.reconcile(open.map((id) => ({ taskId: { value: id } })));
  }

  async teardown(): Promise<void> {
    const d = this.driver;
    this.driver = undefined;
    await d?.teardown().catch(() => undefined);
    await d?.stop();
  }

  private record(s: TaskStatus): void {
    const taskId = s.taskId?.value ?? "";
    const uuid = Buffer.from(s.uuid).toString("hex");
    const duplicate = uuid !== "" && this.heardUuids.has(`${taskId}/${uuid}`);
    if (uuid !== "") this.heardUuids.add(`${taskId}/${uuid}`);
    this.ledger.push({ at: Date.now(), taskId, state: s.state, reason: s.reason, source: s.source, message: s.message, uuid, duplicate });
  }

  private onOffers(driver: SchedulerDriver, offers: Offer[]): void {
    for (const offer of offers) {
      const task = this.taskFor(offer);
      if (!task) {
        void driver.decline([offer.id!.value], refuseFor(0.2)).catch(() => undefined);
        continue;
      }
      void driver.launch([offer.id!.value], [task], refuseFor(0)).catch(() => undefined);
    }
  }

  /** One task per offer: a long one while some are missing (spread evenly), else a queued short one. */
  private taskFor(offer: Offer): ReturnType<typeof commandTask> | undefined {
    const resources = pickResources(offer, { cpus: 0.05, mem: 16 });
    if (!resources) return undefined;
    const host = offer.hostname;
    const fewest = Math.min(...this.hosts.map((h) => this.perHost.get(h) ?? 0));
    if (this.longMissing > 0 && (this.perHost.get(host) ?? 0) === fewest) {
      const n = this.nextLong++;
      const taskId = `long-${n}`;
      const argv = longCommandLine(n);
      this.long.set(taskId, { host, argv });
      this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
      return commandTask({ command: `exec ${argv.join(" ")}`, offer, resources, name: taskId, taskId });
    }
    if (this.pendingShort === 0) return undefined;
    this.pendingShort--;
    const taskId = `short-${this.nextShort++}`;
    this.short.add(taskId);
    return commandTask({ command: "sleep 0.2", offer, resources, name: taskId, taskId });
  }
}
