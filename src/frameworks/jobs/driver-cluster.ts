/**
 * The jobs engine's cluster on the scheduler driver: protobuf offers and status updates
 * in, launches, kills, reconciliation and revive/suppress out. Status updates are
 * acknowledged only once the engine wrote what they say (explicit acknowledgements).
 */
import { pickResources, refuseFor } from "../../actors/scheduler-driver/builders.js";
import type { SchedulerDriver } from "../../actors/scheduler-driver/driver.js";
import { Value_Type } from "../../gen/dcos/v1/common_pb.js";
import type { Offer } from "../../gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskInfo, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { Logger } from "../../runtime/log.js";
import { Resources } from "../../resources/resources.js";
import { metricStateName } from "../../actors/task-states.js";
import type { JobTaskStatus, JobsCluster, LaunchTask, TaskStateName } from "./engine.js";
import { buildJobTask } from "./job-task.js";
import type { JobOffer } from "./offer-fit.js";

/** The JobOffer view of a protobuf offer: unreserved-or-role scalars and text attributes. */
export function jobOffer(o: Offer): JobOffer {
  const r = Resources.of(o.resources);
  const attributes: Record<string, string> = {};
  for (const a of o.attributes) {
    if (a.type === Value_Type.TEXT) attributes[a.name] = a.text?.value ?? "";
    else if (a.type === Value_Type.SCALAR) attributes[a.name] = String(a.scalar?.value ?? "");
    else if (a.type === Value_Type.SET) attributes[a.name] = (a.set?.item ?? []).join(",");
  }
  return { id: o.id!.value, agentId: o.agentId!.value, hostname: o.hostname, cpus: r.scalar("cpus"), mem: r.scalar("mem"), disk: r.scalar("disk"), attributes };
}

/** "running" for TASK_STATE_RUNNING: the jobs engine's names are the enum's, lower-cased. */
function stateName(state: TaskState): TaskStateName | undefined {
  return state === TaskState.UNSPECIFIED ? undefined : (metricStateName(state) as TaskStateName);
}

export function jobTaskStatus(s: TaskStatus, ack?: () => void): JobTaskStatus | undefined {
  const state = stateName(s.state);
  if (!state || !s.taskId) return undefined;
  return {
    taskId: s.taskId.value,
    agentId: s.agentId?.value ?? "",
    state,
    message: s.message,
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    ...(ack ? { ack } : {}),
  };
}

export class DriverCluster implements JobsCluster {
  private readonly offers = new Map<string, Offer>();

  constructor(
    private readonly driver: SchedulerDriver,
    private readonly role: string,
    private readonly log: Logger,
  ) {}

  /** Remembers the protobuf offers (the engine sees JobOffers) and returns their views. */
  received(offers: Offer[]): JobOffer[] {
    for (const o of offers) this.offers.set(o.id!.value, o);
    return offers.map(jobOffer);
  }

  rescinded(id: string): void {
    this.offers.delete(id);
  }

  launch(offer: JobOffer, tasks: LaunchTask[]): void {
    const o = this.offers.get(offer.id);
    this.offers.delete(offer.id);
    if (!o) return this.log.warn({ offer: offer.id }, "Launch on an offer that is gone; its tasks will be reported dropped");
    const infos: TaskInfo[] = [];
    let left = o;
    for (const t of tasks) {
      const resources = pickResources(left, { cpus: t.spec.cpus, mem: t.spec.mem, disk: t.spec.disk }, this.role);
      if (!resources) {
        this.log.warn({ task: t.taskId }, "Offer no longer fits the task (it will be relaunched)");
        continue;
      }
      left = { ...left, resources: [...Resources.of(left.resources).subtract(Resources.of(resources))] } as Offer;
      infos.push(buildJobTask(t.spec, t.run, t.taskId, t.agentId, resources));
    }
    this.driver.launch([o.id!], infos, refuseFor(1)).catch((err: Error) => {
      // The master may or may not have the tasks (no answer, or it stopped leading): ask it
      // now rather than when the attempts fall silent (30 s); a new subscription asks again.
      this.log.warn({ err: err.message, offer: offer.id }, "Launch failed; reconciling its tasks");
      this.reconcile(infos.map((t) => ({ taskId: t.taskId!.value, agentId: offer.agentId })));
    });
  }

  decline(offerIds: string[]): void {
    for (const id of offerIds) this.offers.delete(id);
    // A short refusal: a declined agent is offered again within a second when runs fall due (a revive may not clear filters).
    if (offerIds.length) this.driver.decline(offerIds.map((value) => ({ value })), refuseFor(1)).catch(() => undefined);
  }

  kill(taskId: string, agentId: string): void {
    this.driver.kill({ value: taskId }, agentId ? { value: agentId } : undefined).catch((err: Error) => this.log.debug({ err: err.message, task: taskId }, "Kill failed (retried)"));
  }

  reconcile(tasks: { taskId: string; agentId: string }[]): void {
    this.driver.reconcile(tasks.map((t) => ({ taskId: t.taskId, ...(t.agentId ? { agentId: t.agentId } : {}) }))).catch((err: Error) => this.log.debug({ err: err.message }, "Reconcile failed (retried)"));
  }

  wantOffers(want: boolean): void {
    (want ? this.driver.revive() : this.driver.suppress()).catch(() => undefined);
  }
}
