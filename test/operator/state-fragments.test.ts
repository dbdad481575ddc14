/**
 * /state assembled from kept fragments (state-fragments.ts) is byte for byte the whole
 * build (JSON.stringify(masterStateJson(stateResponse(…)))) after every kind of change the
 * master makes, its gzip is that body, and a build remakes only what changed.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { QuotaConfigSchema, WeightInfoSchema, MaintenanceScheduleSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { UnregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { AcknowledgeRequestSchema, ReviveRequestSchema, SuppressRequestSchema, TeardownRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { stateResponse } from "../../src/actors/master/state-response.js";
import { masterStateJson } from "../../src/operator/master-state-json.js";
import { StateFragments, type FragmentStats } from "../../src/operator/state-fragments.js";
import { SummaryFragments } from "../../src/operator/summary-fragments.js";
import { masterSummaryJson } from "../../src/operator/master-summary-json.js";
import { filterState, visibleIn } from "../../src/actors/master/state-filter.js";
import type { ViewPermissions } from "../../src/security/auth/view-acls.js";
import type { TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/index.js";
import { Random } from "../../src/runtime/random.js";
import { Cluster, commandTask, type Scheduler } from "../master/harness.js";
import { randomSteps } from "../master/random-steps.js";
import { scalar } from "../support/resources.js";
import { testSeed } from "../support/seed.js";

const CTX = { cluster: "test", flags: { hostname: "m1" } };

/** Where two bodies first differ, with some text around it. */
function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at byte ${i}: assembled …${a.subarray(Math.max(0, i - 80), i + 80).toString()}… whole …${b.subarray(Math.max(0, i - 80), i + 80).toString()}…`;
}

/** Views restricted by ACLs: tasks running as alice only; no framework at all. */
const VIEWS: Record<string, ViewPermissions> = {
  "alice's tasks": { all: false, framework: () => true, task: (user) => user === "alice", executor: () => true },
  "no framework": { all: false, framework: () => false, task: () => true, executor: () => true },
  "not bob's frameworks": { all: false, framework: (user) => user !== "bob", task: () => true, executor: () => true },
};

/** A task that runs as alice (its framework's user is nobody). */
function aliceTask(id: string, resources: string): TaskInfo {
  const t = commandTask(id, resources);
  t.command!.user = "alice";
  return t;
}

/** The /state-summary fragments kept alongside each /state fragments under test. */
const summaries = new WeakMap<StateFragments, SummaryFragments>();

/**
 * Builds /state, /frameworks (cut from /state's parts) and /state-summary both ways in one
 * master turn and asserts the bytes (and the gzip) agree.
 */
async function same(c: Cluster, fragments: StateFragments, what: string): Promise<FragmentStats> {
  let summary = summaries.get(fragments);
  if (!summary) summaries.set(fragments, (summary = new SummaryFragments(CTX)));
  const summaryFragments = summary;
  const built = await c.masterSystem.dispatch(c.master, (m) => {
    const ctx = { ...CTX, leader: m.core.masterInfo(), electedTime: m.startedAt / 1000 };
    const state = masterStateJson(stateResponse(m.core, m.startedAt), ctx);
    const filtered = Object.fromEntries(Object.entries(VIEWS).map(([name, view]) => [name, Buffer.from(JSON.stringify(masterStateJson(filterState(stateResponse(m.core, m.startedAt), view), ctx)))]));
    const filteredSummaries = Object.fromEntries(
      Object.entries(VIEWS).map(([name, view]) => {
        const visible = visibleIn(stateResponse(m.core, m.startedAt), view);
        return [name, Buffer.from(JSON.stringify(masterSummaryJson(m.core, m.startedAt, ctx, (id) => visible.framework(id))))];
      }),
    );
    return {
      filtered,
      filteredSummaries,
      assembled: fragments.build(m.core, m.startedAt),
      whole: Buffer.from(JSON.stringify(state)),
      frameworks: Buffer.from(JSON.stringify({ frameworks: state.frameworks, completed_frameworks: state.completed_frameworks, unregistered_frameworks: [] })),
      summary: summaryFragments.build(m.core, m.startedAt),
      wholeSummary: Buffer.from(JSON.stringify(masterSummaryJson(m.core, m.startedAt, ctx))),
    };
  });
  const { assembled, whole } = built;
  const bytes = assembled.bytes;
  assert.ok(bytes.equals(whole), `${what}: ${firstDifference(bytes, whole)}`);
  assert.ok(gunzipSync(await assembled.gzipped()).equals(whole), `${what}: the gzip body is the body`);
  assert.ok(assembled.frameworks.bytes.equals(built.frameworks), `${what}: /frameworks ${firstDifference(assembled.frameworks.bytes, built.frameworks)}`);
  assert.ok(gunzipSync(await assembled.frameworks.gzipped()).equals(built.frameworks), `${what}: the gzip body of /frameworks`);
  for (const [name, view] of Object.entries(VIEWS)) {
    const got = fragments.filtered(assembled, view);
    assert.ok(got.bytes.equals(built.filtered[name]!), `${what}: /state as ${name} sees it ${firstDifference(got.bytes, built.filtered[name]!)}`);
    assert.ok(gunzipSync(await got.gzipped()).equals(built.filtered[name]!), `${what}: the gzip body of /state as ${name} sees it`);
    const fw = JSON.parse(got.frameworks.bytes.toString());
    const state = JSON.parse(built.filtered[name]!.toString());
    assert.deepEqual(fw, { frameworks: state.frameworks, completed_frameworks: state.completed_frameworks, unregistered_frameworks: [] }, `${what}: /frameworks as ${name} sees it`);
  }
  for (const name of Object.keys(VIEWS)) {
    const got = summaryFragments.filtered(built.summary, VIEWS[name]!);
    const want = built.filteredSummaries[name]!;
    assert.ok(got.bytes.equals(want), `${what}: /state-summary as ${name} sees it ${firstDifference(got.bytes, want)}`);
    assert.ok(gunzipSync(await got.gzipped()).equals(want), `${what}: the gzip body of /state-summary as ${name} sees it`);
  }
  assert.ok(built.summary.bytes.equals(built.wholeSummary), `${what}: /state-summary ${firstDifference(built.summary.bytes, built.wholeSummary)}`);
  assert.ok(gunzipSync(await built.summary.gzipped()).equals(built.wholeSummary), `${what}: the gzip body of /state-summary`);
  return fragments.last;
}

/** What the last /state-summary build beside `fragments` remade. */
function summaryStats(fragments: StateFragments): FragmentStats {
  return summaries.get(fragments)!.last;
}

async function ack(c: Cluster, s: Scheduler, agentId: string, taskId: string, uuid: Uint8Array): Promise<void> {
  await c.facade.acknowledge(create(AcknowledgeRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, agentId: { value: agentId }, taskId: { value: taskId }, uuid }));
  await c.clock.settle();
}

describe("/state from kept fragments", () => {
  it("is the whole build's bytes after each kind of change, and remakes only the changed fragments", async () => {
    const c = await Cluster.start({ agents: 3, agentResources: "cpus:8;mem:8192;disk:1000;ports:[31000-32000]", agentPingTimeoutMs: 1000, maxAgentPingTimeouts: 2 });
    // Groups of ~2 fragments: many groups, so cutting and keeping them is exercised.
    const fragments = new StateFragments(CTX, { tasksPerGroup: 2, agentsPerGroup: 2 });
    try {
      await same(c, fragments, "agents only");
      const none = await same(c, fragments, "no change");
      assert.deepEqual([none.tasks, none.agents, none.frameworks, none.groups], [0, 0, 0, 0], "nothing changed: nothing remade");
      const noneSummary = summaryStats(fragments);
      assert.deepEqual([noneSummary.agents, noneSummary.frameworks, noneSummary.groups], [0, 0, 0], "nothing changed: no summary fragment remade");

      const s = await c.subscribe("fw", { roles: ["*"] });
      await same(c, fragments, "a framework subscribed and holds offers");
      const [offer] = s.sink.offers();
      const agent = c.agents.find((a) => a.agentId === offer!.agentId!.value)!;
      await c.launch(s, [offer!], ["a", "b", "c", "d", "e"].map((id, i) => (i % 2 === 0 ? aliceTask : commandTask)(id, `cpus:0.5;mem:64;ports:[${31000 + 2 * i}-${31001 + 2 * i}]`)));
      await same(c, fragments, "five tasks launched");
      assert.equal(c.master.core.frameworks.get(s.frameworkId)!.tasks.size, 5);
      await c.allocate();
      await c.launchGroup(s, s.sink.offers().filter((o) => o.agentId!.value !== agent.agentId).slice(0, 1), { executorId: { value: "ex" }, resources: parseResources("cpus:0.1;mem:32").toProto() }, [commandTask("g1", "cpus:0.2;mem:16")]);
      await same(c, fragments, "a task group with its executor");
      for (const id of ["a", "b", "c", "d", "e"]) agent.update(s.frameworkId, id, TaskState.RUNNING);
      await c.clock.settle();
      await same(c, fragments, "tasks running");

      agent.update(s.frameworkId, "c", TaskState.RUNNING, { message: "healthy again" });
      await c.clock.settle();
      const one = await same(c, fragments, "one status update");
      assert.equal(one.tasks, 1, "one task remade");
      assert.equal(one.agents + one.frameworks, 0, "the task still holds its resources: its agent and framework are kept");
      assert.ok(one.groups <= 1, `one group remade, not ${one.groups}`);
      const oneSummary = summaryStats(fragments);
      assert.deepEqual([oneSummary.agents, oneSummary.frameworks], [0, 0], "a status in the same state changes no count: no summary fragment remade");

      const uuid = agent.update(s.frameworkId, "d", TaskState.FINISHED);
      await c.clock.settle();
      const done = await same(c, fragments, "a task finished");
      assert.deepEqual([done.tasks, done.agents, done.frameworks], [1, 1, 1], "the task, and its agent's and framework's used resources");
      const doneSummary = summaryStats(fragments);
      assert.deepEqual([doneSummary.agents, doneSummary.frameworks], [1, 1], "the summary remakes the task's agent and framework (their counts changed), no other");
      await ack(c, s, agent.agentId!, "d", uuid);
      await same(c, fragments, "the finished task acknowledged (into the completed history)");

      await c.facade.operateResources({ operation: "reserve", agentId: agent.agentId!, resources: [scalar("disk", 100, "ops"), scalar("cpus", 1, "ops")] });
      await c.clock.settle();
      await same(c, fragments, "resources reserved");
      await c.facade.operateResources({ operation: "create", agentId: agent.agentId!, resources: [scalar("disk", 100, "ops", "db-1")] });
      await c.clock.settle();
      await same(c, fragments, "a volume created");
      await c.facade.operateResources({ operation: "destroy", agentId: agent.agentId!, resources: [scalar("disk", 100, "ops", "db-1")] });
      await c.clock.settle();
      await same(c, fragments, "the volume destroyed");

      await c.facade.updateWeights([create(WeightInfoSchema, { role: "ops", weight: 2 })]);
      await c.facade.updateQuota([], [create(QuotaConfigSchema, { role: "ops", guarantees: { cpus: { value: 1 } } })]);
      await c.clock.settle();
      await same(c, fragments, "weights and quota");

      const host = c.agents[2]!.hostname;
      await c.facade.updateMaintenanceSchedule(create(MaintenanceScheduleSchema, { windows: [{ machineIds: [{ hostname: host }], unavailability: { startSeconds: c.clock.now() / 1000 + 3600, durationSeconds: 600 } }] }));
      await c.clock.settle();
      await same(c, fragments, "a maintenance window (inverse offers, maintenance_status)");
      await c.facade.startMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: host, ip: "" }]);
      await c.clock.settle();
      await same(c, fragments, "a machine down");
      await c.facade.stopMaintenance([{ $typeName: "dcos.v1.MachineID", hostname: host, ip: "" }]);
      await c.clock.settle();
      await same(c, fragments, "the machine up again");

      const other = c.agents.find((a) => a !== agent && a.hostname !== host)!;
      await c.facade.deactivateAgent(other.agentId!);
      await c.clock.settle();
      await same(c, fragments, "an agent deactivated");
      await c.facade.reactivateAgent(other.agentId!);
      await c.clock.settle();
      await same(c, fragments, "the agent reactivated");
      await c.facade.drainAgent(other.agentId!, 1, false);
      await c.clock.settle();
      await same(c, fragments, "an agent draining");
      await c.clock.advance(2000);
      await same(c, fragments, "the agent drained");
      await c.facade.reactivateAgent(other.agentId!);
      await c.clock.settle();

      await c.masterSystem.dispatch(c.master, ({ core }) => {
        core.agents.get(agent.agentId!)!.setTotalResources(parseResources("cpus:16;mem:8192;disk:1000;ports:[31000-32000]").toProto());
        core.changed();
      });
      await same(c, fragments, "an agent's total resources updated");

      await c.facade.suppress(create(SuppressRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, roles: ["*"] }));
      await c.clock.settle();
      await same(c, fragments, "offers suppressed");
      await c.facade.revive(create(ReviveRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, roles: ["*"] }));
      await c.allocate();
      await same(c, fragments, "revived and offered again");

      agent.answerPings = false;
      await c.clock.advance(5000);
      await same(c, fragments, "an agent unreachable (its tasks unreachable)");
      agent.answerPings = true;
      agent.reregister();
      await c.clock.settle();
      await same(c, fragments, "the agent reregistered");

      const late = await c.addAgent("late", "cpus:2;mem:1024", undefined);
      await same(c, fragments, "an agent added");
      late.tell(create(UnregisterAgentSchema, { agentId: { value: late.agentId } }));
      await c.clock.settle();
      await same(c, fragments, "an agent removed");

      await c.facade.teardown(create(TeardownRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId }));
      await c.clock.settle();
      await same(c, fragments, "the framework torn down (a completed framework)");
    } finally {
      await c.stop();
    }
  });

  it("made ahead in slices (a cold build), then built: the same bytes, and only what changed meanwhile is made again", async () => {
    const c = await Cluster.start({ agents: 40, agentResources: "cpus:4;mem:4096" });
    try {
      const s = await c.subscribe("fw");
      const offers = s.sink.offers();
      for (const [i, offer] of offers.entries()) await c.launch(s, [offer], [commandTask(`t${i}`, "cpus:1;mem:64")]);
      const fragments = new StateFragments(CTX);
      const core = c.master.core;
      assert.equal(fragments.cold(core), true, "nothing made yet");
      let slices = 1;
      while (!(await c.masterSystem.dispatch(c.master, (m) => fragments.warm(m.core, 0)))) slices++;
      assert.ok(slices >= 2, `40 agents with a budget of 0 ms take more than one slice (${slices})`);
      c.agents.find((a) => a.agentId === offers[0]!.agentId!.value)!.update(s.frameworkId, "t0", TaskState.RUNNING);
      await c.clock.settle();
      assert.equal(core.frameworks.get(s.frameworkId)!.tasks.get("t0")!.state, TaskState.RUNNING);
      const built = await same(c, fragments, "after warming and one change");
      assert.deepEqual([built.tasks, built.agents], [1, 0], "only the changed task is made in the building turn");
      assert.equal(fragments.cold(core), false);
    } finally {
      await c.stop();
    }
  });

  it("is the whole build's bytes after every step of a random run", async () => {
    const seed = testSeed(7);
    const r = new Random(seed);
    const c = await Cluster.start({ agents: 4, agentResources: "cpus:4;mem:4096;disk:1000;ports:[31000-31100]", seed, agentPingTimeoutMs: 1000, maxAgentPingTimeouts: 2 });
    const fragments = new StateFragments(CTX, { tasksPerGroup: 3, agentsPerGroup: 2 });
    const run = randomSteps(c, r, ["cpus:0.25;mem:32", "cpus:0.5;mem:32"]);
    const pick = run.pick;
    let aliceTasks = 0;
    let bobs = 0;
    const steps: Record<string, () => Promise<unknown>> = {
      ...run.steps,
      reserve: async () => {
        const a = pick(c.agents.filter((x) => x.agentId));
        if (a) await c.facade.operateResources({ operation: r.int(2) === 0 ? "reserve" : "unreserve", agentId: a.agentId!, resources: [scalar("cpus", 0.5, "ops")] }).catch(() => undefined);
      },
      subscribeBob: async () => void run.schedulers.push(await c.subscribe(`bob${bobs++}`, { user: "bob", failoverTimeout: 5 })),
      launchAlice: async () => {
        await c.allocate();
        const s = pick(run.schedulers);
        const offer = s && pick(s.sink.offers());
        if (!s || !offer) return;
        s.sink.clear();
        const id = `alice${aliceTasks++}`;
        run.tasks.push({ s, id });
        await c.launch(s, [offer], [aliceTask(id, "cpus:0.25;mem:32")]);
      },
      drain: async () => {
        const a = pick(c.agents.filter((x) => x.agentId));
        if (!a) return;
        const call = r.int(3);
        const p = call === 0 ? c.facade.drainAgent(a.agentId!, 1, false) : call === 1 ? c.facade.deactivateAgent(a.agentId!) : c.facade.reactivateAgent(a.agentId!);
        await p.catch(() => undefined);
      },
    };
    // Launches and updates more often than the rest: tasks in every state, on every agent.
    const names = [...Object.keys(steps), "subscribe", "launch", "launch", "launch", "launchAlice", "update", "update", "update"];
    const history: string[] = [];
    let most = 0;
    // Builds that walked the task lists of only some of the frameworks with tasks (the others' groups kept).
    let partial = 0;
    let multi = 0;
    try {
      for (let i = 0; i < 120; i++) {
        const name = names[r.int(names.length)]!;
        history.push(name);
        await steps[name]!();
        await c.clock.settle();
        await same(c, fragments, `seed ${seed} (replay: DCOS_SEED=${seed}), after step ${i} (${history.slice(-5).join(", ")})`);
        most = Math.max(most, [...c.master.core.agents.values()].reduce((n, a) => n + a.tasks.size, 0));
        const lists = new Set([...c.master.core.agents.values()].flatMap((a) => [...a.tasks.values()].map((t) => t.frameworkId?.value ?? "")));
        if (lists.size >= 2) multi++;
        if (lists.size >= 2 && fragments.last.walked! < lists.size) partial++;
      }
      // Coverage, checked for the default seed (another seed's run may hold few tasks, launch
      // none as alice, or never keep two frameworks' tasks still); the bytes are checked for
      // every seed above.
      assert.ok(most >= 4 || seed !== 7, `the run had tasks (at most ${most} at once)`);
      assert.ok(bobs > 0 || seed !== 7, "a framework of bob's subscribed (a filtered view sees part of the frameworks)");
      assert.ok(partial > 0 || seed !== 7, `some builds walked only the frameworks whose tasks changed (${partial} of ${multi} with two or more frameworks' tasks)`);
      assert.ok(aliceTasks > 0 || seed !== 7, "some tasks ran as alice (a filtered view sees part of the groups)");
    } finally {
      await c.stop();
    }
  });
});
