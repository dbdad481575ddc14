/**
 * A simulated world for the jobs engine on the manual clock: a replicated log that can
 * lose quorum or break a call after committing, a cluster of agents with tasks that run
 * for seeded durations, offers, reconciliation, status updates retried until
 * acknowledged, and framework-failover fencing (a deposed jobs leader's launches are
 * refused by the master). Leaders of the jobs framework and masters fail over at seeded
 * random instants.
 */
import type { ManualClock } from "../../src/runtime/clock.js";
import type { Random } from "../../src/runtime/random.js";
import { JobsEngine, type JobTaskStatus, type JobsCluster, type LaunchTask, type LedgerLog, type TaskStateName } from "../../src/frameworks/jobs/engine.js";
import { JobsLedger } from "../../src/frameworks/jobs/ledger.js";
import type { JobOffer } from "../../src/frameworks/jobs/offer-fit.js";
import type { LedgerRecord } from "../../src/frameworks/jobs/records.js";

/**
 * The masters' replicated log as the framework kit's fenced store presents it: a new
 * writer's open fences the previous one's writes (they fail, uncommitted); an append may
 * break after committing (the writer's state then lags the log until it replays).
 */
export class SimLog {
  readonly records: LedgerRecord[] = [];
  available = true;
  /** Probability that an append commits but its caller hears a failure. */
  ambiguous = 0;
  /** Probability that an append fails without committing. */
  lost = 0;
  fencedWrites = 0;
  private epoch = 0;
  private snapshot: { json: string; position: number } | undefined;

  constructor(
    private readonly clock: ManualClock,
    private readonly random: Random,
    private readonly latencyMs = 3,
  ) {}

  private later<T>(fn: () => T): Promise<T> {
    return new Promise((resolve, reject) =>
      this.clock.setTimer(this.latencyMs, () => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e as Error);
        }
      }),
    );
  }

  /** Takes a snapshot of everything so far (as the kit's store compacts its log). */
  compact(): void {
    const l = new JobsLedger();
    for (const r of this.records) l.apply(structuredClone(r));
    this.snapshot = { json: JSON.stringify(l.toJSON()), position: this.records.length };
  }

  /** A writer's handle; opening it fences every earlier one. */
  open(): LedgerLog {
    const epoch = ++this.epoch;
    let ledger = new JobsLedger();
    return {
      load: () =>
        this.later(() => {
          if (!this.available) throw new Error("no quorum");
          ledger = this.snapshot ? JobsLedger.fromJSON(JSON.parse(this.snapshot.json)) : new JobsLedger();
          for (const r of this.records.slice(this.snapshot?.position ?? 0)) ledger.apply(structuredClone(r));
          return ledger;
        }),
      write: (records) =>
        this.later(() => {
          if (!this.available || this.random.chance(this.lost)) throw new Error("no quorum: not committed");
          if (epoch !== this.epoch) {
            this.fencedWrites++;
            throw new Error("fenced: another writer opened the log");
          }
          this.records.push(...records.map((r) => structuredClone(r)));
          if (this.random.chance(this.ambiguous)) throw new Error("connection broke after the proposal");
          return records.map((r) => ledger.apply(structuredClone(r)));
        }),
    };
  }
}

interface SimTask {
  taskId: string;
  agentId: string;
  epoch: number;
  state: TaskStateName;
  startedAt?: number;
  endedAt?: number;
  exitCode?: number;
}

interface Agent {
  id: string;
  cpus: number;
  mem: number;
  disk: number;
  used: { cpus: number; mem: number; disk: number };
}

/** How a job's task behaves: how long it runs and how it ends. */
export type TaskBehaviour = (job: string, random: Random) => { durationMs: number; exitCode: number };

export class SimCluster {
  readonly tasks = new Map<string, SimTask>();
  readonly agents: Agent[] = [];
  /** Launches refused because they came from a deposed leader. */
  fencedLaunches = 0;
  mastersUp = true;
  private epoch = 0;
  private engine: JobsEngine | undefined;
  private unacked = new Map<string, JobTaskStatus>();
  private offerSeq = 0;
  private validOffers = new Set<string>();
  private readonly offerAgent = new Map<string, string>();
  private wanting = false;

  constructor(
    private readonly clock: ManualClock,
    private readonly random: Random,
    private readonly behaviour: TaskBehaviour,
    agents = 4,
  ) {
    for (let i = 0; i < agents; i++) this.agents.push({ id: `agent-${i}`, cpus: 4, mem: 8192, disk: 100_000, used: { cpus: 0, mem: 0, disk: 0 } });
  }

  private ticking = false;
  /** Offers every second while the leader wants them; unacknowledged updates every 10 s. */
  private kick(first = 1_000): void {
    if (this.ticking) return;
    this.ticking = true;
    this.clock.setTimer(first, () => {
      this.ticking = false;
      this.offerRound();
      this.redeliver();
      if (this.wanting || this.unacked.size > 0) this.kick();
    });
  }

  /** A view of the cluster for one jobs leader (its own framework session). */
  connect(engine: JobsEngine): JobsCluster {
    const epoch = ++this.epoch;
    this.engine = engine;
    this.validOffers.clear();
    this.wanting = false;
    const current = () => epoch === this.epoch && this.mastersUp;
    return {
      launch: (offer: JobOffer, tasks: LaunchTask[]) => {
        if (epoch !== this.epoch) {
          this.fencedLaunches += tasks.length;
          return;
        }
        for (const t of tasks) this.launch(t, offer, epoch);
      },
      decline: (ids) => {
        for (const id of ids) this.validOffers.delete(id);
      },
      kill: (taskId) => {
        if (!current()) return;
        const t = this.tasks.get(taskId);
        if (t && !isEnded(t.state)) this.end(t, "killed", undefined, "killed by the scheduler");
      },
      reconcile: (list) => {
        if (!current()) return;
        for (const { taskId, agentId } of list) {
          const t = this.tasks.get(taskId);
          this.send({ taskId, agentId, state: t ? t.state : "unknown", message: "reconciliation" }, false);
        }
      },
      wantOffers: (want) => {
        if (epoch === this.epoch) this.wanting = want;
        // A revive brings offers at the next allocation (well within a second).
        if (want) this.kick(200);
      },
    };
  }

  /** The masters lose quorum (in-flight offers vanish) or regain it (the driver resubscribes). */
  setMastersUp(up: boolean): void {
    this.mastersUp = up;
    this.validOffers.clear();
    if (up) {
      this.engine?.subscribed();
      this.kick();
    }
  }

  private launch(t: LaunchTask, offer: JobOffer, epoch: number): void {
    if (!this.mastersUp || !this.validOffers.has(offer.id)) {
      // The master refuses a launch on an offer it no longer has: TASK_DROPPED.
      this.tasks.set(t.taskId, { taskId: t.taskId, agentId: t.agentId, epoch, state: "dropped" });
      this.send({ taskId: t.taskId, agentId: t.agentId, state: "dropped", message: "offer no longer valid" }, true);
      return;
    }
    this.validOffers.delete(offer.id);
    if (this.tasks.has(t.taskId)) throw new Error(`Task id ${t.taskId} launched twice`);
    const agent = this.agents.find((a) => a.id === t.agentId)!;
    agent.used.cpus += t.spec.cpus;
    agent.used.mem += t.spec.mem;
    agent.used.disk += t.spec.disk;
    const task: SimTask = { taskId: t.taskId, agentId: t.agentId, epoch, state: "staging" };
    this.tasks.set(t.taskId, task);
    const { durationMs, exitCode } = this.behaviour(t.spec.name, this.random);
    this.clock.setTimer(50, () => {
      if (task.state !== "staging") return;
      task.state = "running";
      task.startedAt = this.clock.now();
      this.send({ taskId: t.taskId, agentId: t.agentId, state: "running", message: "running" }, true);
      this.clock.setTimer(durationMs, () => {
        if (task.state !== "running") return;
        this.end(task, exitCode === 0 ? "finished" : "failed", exitCode, `Command exited with status ${exitCode}`);
      });
    });
    (task as SimTask & { spec?: LaunchTask["spec"] }).spec = t.spec;
  }

  private end(task: SimTask, state: TaskStateName, exitCode: number | undefined, message: string): void {
    task.state = state;
    task.endedAt = this.clock.now();
    if (exitCode !== undefined) task.exitCode = exitCode;
    const spec = (task as SimTask & { spec?: LaunchTask["spec"] }).spec;
    const agent = this.agents.find((a) => a.id === task.agentId)!;
    if (spec) {
      agent.used.cpus -= spec.cpus;
      agent.used.mem -= spec.mem;
      agent.used.disk -= spec.disk;
    }
    this.send({ taskId: task.taskId, agentId: task.agentId, state, message, ...(exitCode !== undefined ? { exitCode } : {}) }, true);
  }

  /** Status updates from agents are retried until acknowledged (reconciliation answers are not). */
  private send(s: JobTaskStatus, reliable: boolean): void {
    const key = `${s.taskId}/${s.state}`;
    if (reliable) {
      this.unacked.set(key, s);
      this.kick();
    }
    const deliver = () => {
      if (!this.mastersUp || !this.engine) return;
      this.engine.status({ ...s, ...(reliable ? { ack: () => this.unacked.delete(key) } : {}) });
    };
    this.clock.setTimer(5, deliver);
  }

  private lastRedeliver = 0;
  private redeliver(): void {
    if (this.clock.now() - this.lastRedeliver < 10_000) return;
    this.lastRedeliver = this.clock.now();
    if (!this.mastersUp || !this.engine) return;
    for (const [key, s] of [...this.unacked]) this.engine.status({ ...s, ack: () => this.unacked.delete(key) });
  }

  private offerRound(): void {
    if (!this.mastersUp || !this.engine || !this.wanting) return;
    const offers: JobOffer[] = [];
    // As a master does, an agent whose resources are in an outstanding offer is not offered again.
    for (const id of this.offerAgent.keys()) if (!this.validOffers.has(id)) this.offerAgent.delete(id);
    const offered = new Set(this.offerAgent.values());
    for (const a of this.agents) {
      if (offered.has(a.id)) continue;
      const free = { cpus: a.cpus - a.used.cpus, mem: a.mem - a.used.mem, disk: a.disk - a.used.disk };
      if (free.cpus < 0.01) continue;
      const id = `offer-${++this.offerSeq}`;
      this.validOffers.add(id);
      this.offerAgent.set(id, a.id);
      offers.push({ id, agentId: a.id, hostname: a.id, ...free, attributes: { rack: a.id === "agent-0" ? "r1" : "r2" } });
    }
    if (offers.length) this.engine.addOffers(offers);
  }
}

const isEnded = (s: TaskStateName) => !["staging", "starting", "running", "killing", "unreachable"].includes(s);
