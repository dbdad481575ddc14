/**
 * The steps of a random run on a Cluster (harness.ts), for property tests that check
 * something after every step: frameworks subscribing and torn down, launches, status
 * updates, declines, agents joining, going silent, reregistering and unregistering, time.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { UnregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { DeclineRequestSchema, TeardownRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Code, type DcosError } from "../../src/runtime/error.js";
import type { Random } from "../../src/runtime/random.js";
import { commandTask, type Cluster, type Scheduler } from "./harness.js";

const STATES = [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST];

export interface RandomRun {
  readonly steps: Record<string, () => Promise<unknown>>;
  readonly pick: <T>(xs: T[]) => T | undefined;
  readonly tasks: { s: Scheduler; id: string }[];
  readonly schedulers: Scheduler[];
}

/** `launch` launches `taskResources.length` tasks on one offer, the i-th with taskResources[i]. */
export function randomSteps(c: Cluster, r: Random, taskResources: string[] = ["cpus:0.5;mem:64;disk:10"]): RandomRun {
  const schedulers: Scheduler[] = [];
  const tasks: { s: Scheduler; id: string }[] = [];
  let next = 0;
  const pick = <T>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[r.int(xs.length)]);
  const steps: Record<string, () => Promise<unknown>> = {
    subscribe: async () => void schedulers.push(await c.subscribe(`fw${next++}`, { partitionAware: r.int(2) === 0, failoverTimeout: 5 })),
    launch: async () => {
      await c.allocate();
      const s = pick(schedulers);
      const offer = s && pick(s.sink.offers());
      if (!s || !offer) return;
      s.sink.clear();
      const ids = taskResources.map(() => `t${next++}`);
      for (const id of ids) tasks.push({ s, id });
      await c.launch(s, [offer], ids.map((id, i) => commandTask(id, taskResources[i])));
    },
    update: async () => {
      const t = pick(tasks);
      const agent = pick(c.agents);
      if (t && agent) agent.update(t.s.frameworkId, t.id, pick(STATES)!);
    },
    decline: async () => {
      const s = pick(schedulers);
      const offers = s?.sink.offers() ?? [];
      if (!s || offers.length === 0) return;
      s.sink.clear();
      // The sink keeps offers rescinded since: those are answered NOT_FOUND, the rest declined.
      await c.facade
        .decline(create(DeclineRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, offerIds: offers.map((o) => o.id!) }))
        .catch((e: DcosError) => assert.equal(e.code, Code.NOT_FOUND, e.message));
    },
    addAgent: async () => void (await c.addAgent(`extra${next++}`, "cpus:2;mem:2048;disk:500")),
    silence: async () => {
      const a = pick(c.agents);
      if (a) a.answerPings = !a.answerPings;
    },
    time: async () => c.clock.advance(500 + r.int(3000)),
    reregister: async () => pick(c.agents.filter((a) => a.agentId))?.reregister(),
    unregister: async () => {
      const a = pick(c.agents.filter((x) => x.agentId));
      a?.tell(create(UnregisterAgentSchema, { agentId: { value: a.agentId } }));
    },
    teardown: async () => {
      const s = pick(schedulers);
      if (!s) return;
      schedulers.splice(schedulers.indexOf(s), 1);
      await c.facade.teardown(create(TeardownRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId })).catch(() => undefined);
    },
  };
  return { steps, pick, tasks, schedulers };
}
