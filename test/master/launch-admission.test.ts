/**
 * Admission control of launches at the leading master (src/actors/master/launch-admission.ts):
 * refusals with RESOURCE_EXHAUSTED and a retry-after before anything is done, calls not run
 * past their caller's deadline, and the retry-after carried through a gRPC status. On the
 * ManualClock.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { OfferIDSchema } from "../../src/gen/dcos/v1/common_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema, DeclineRequestSchema, ReviveRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { LaunchAdmission, MIN_RETRY_AFTER_MS } from "../../src/actors/master/launch-admission.js";
import { MasterFacade, type FrameworkGuard } from "../../src/actors/master/master-facade.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { LoopLateness } from "../../src/runtime/loop-lag.js";
import { Code, DcosError, retryAfterMs } from "../../src/runtime/error.js";
import { statusError, toStatus } from "../../src/runtime/grpc/service.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";
import { serve as serveGrpc, subscribe as subscribeGrpc, subscribed, unary, until } from "./grpc-harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function acceptRequest(s: Scheduler, offers: Offer[], tasks: TaskInfo[]) {
  return create(AcceptRequestSchema, {
    frameworkId: { value: s.frameworkId },
    streamId: s.streamId,
    offerIds: offers.map((o) => create(OfferIDSchema, { value: o.id!.value })),
    operations: [{ kind: { case: "launch", value: { taskInfos: tasks } } }],
    filters: { refuseSeconds: 0 },
  });
}

async function refusal(p: Promise<unknown>): Promise<DcosError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DcosError, String(err));
    return err;
  }
  assert.fail("the call was not refused");
}

const openGuard = (expiresAt?: number): FrameworkGuard => ({ checkOwner: () => undefined, expiresAt });

describe("master: launch admission control", () => {
  it("refuses a launch past max launching tasks before doing anything, and takes the same call once tasks started", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:8;mem:8192" }));
    const facade = new MasterFacade(c.master, { maxLaunchingTasks: 2, maxQueueMs: 0, retryAfterMs: 750 });
    const s = await c.subscribe("fw");
    const first = s.sink.offers();
    await facade.accept(acceptRequest(s, first, [commandTask("t1"), commandTask("t2")]));
    await c.clock.settle();
    assert.equal(c.metric("master/tasks_staging"), 2);
    await c.allocate();
    const offers = s.sink.offers().slice(first.length);
    assert.equal(offers.length, 1, "what the launch left is offered again");

    const err = await refusal(facade.accept(acceptRequest(s, offers, [commandTask("t3")])));
    assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
    assert.match(err.message, /2 tasks launching and 0 queued \(at most 2\).*nothing was done/);
    assert.equal(retryAfterMs(err), 750);
    await c.clock.settle();
    assert.equal(c.metric("master/launches_refused"), 1);
    assert.equal(c.agents[0]!.messages(RunTaskSchema).length, 2, "the refused task never reached the agent");
    assert.equal(await c.facade.inspect((m) => m.offers.get(offers[0]!.id!.value) !== undefined), true, "the offer stays the framework's");

    // A task starts (the agent reports on it): room for the same call, unchanged.
    c.agents[0]!.update(s.frameworkId, "t1", TaskState.STARTING);
    await c.clock.settle();
    await facade.accept(acceptRequest(s, offers, [commandTask("t3")]));
    await c.clock.settle();
    assert.deepEqual(
      c.agents[0]!.messages(RunTaskSchema).map((r) => r.task?.taskId?.value),
      ["t1", "t2", "t3"],
    );
    // Calls that launch nothing are never refused.
    await facade.revive(create(ReviveRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId }));
  });

  it("does not run a launch that waited in the queue past its caller's deadline", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const offers = s.sink.offers();
    const err = await refusal(c.facade.accept(acceptRequest(s, offers, [commandTask("late")]), openGuard(c.clock.now() - 1)));
    assert.equal(err.code, Code.DEADLINE_EXCEEDED);
    assert.match(err.message, /^ACCEPT waited \d+ ms in the master's queue, past its deadline; it was not run/);
    await c.clock.settle();
    assert.equal(c.metric("master/expired_calls"), 1);
    assert.equal(c.agents[0]!.messages(RunTaskSchema).length, 0);
    assert.equal(await c.facade.inspect((m) => m.offers.get(offers[0]!.id!.value) !== undefined), true, "the offer is untouched");
    // Within its deadline the same call runs.
    await c.facade.accept(acceptRequest(s, offers, [commandTask("late")]), openGuard(c.clock.now() + 10_000));
    await c.clock.settle();
    assert.equal(c.agents[0]!.messages(RunTaskSchema).length, 1);
  });
});

describe("master: launch admission over the gRPC SchedulerService", () => {
  it("answers a refused ACCEPT with RESOURCE_EXHAUSTED and dcos-retry-after-ms, which the client reads back, without decoding it", async () => {
    const s = await serveGrpc({ cluster: { agentResources: "cpus:8;mem:8192" }, admission: { maxLaunchingTasks: 1, maxQueueMs: 0, retryAfterMs: 1500 } });
    try {
      const sub = subscribeGrpc(s, "fw");
      const info = await subscribed(s, sub);
      const offersOf = (from: number) => sub.events.slice(from).flatMap((e) => (e.kind.case === "offers" ? e.kind.value.offers : []));
      const first = await until(s, "an offer", () => offersOf(0)[0]);
      const launch = (offerId: { value: string }, taskId: string) =>
        create(AcceptRequestSchema, { ...info, offerIds: [offerId], operations: [{ kind: { case: "launch", value: { taskInfos: [commandTask(taskId, "cpus:1;mem:128")] } } }], filters: { refuseSeconds: 0 } });
      const seen = sub.events.length;
      await unary(s.client, "accept", launch(first.id!, "g1"));
      const next = await until(s, "the rest offered again", () => offersOf(seen)[0]);
      const err = await unary(s.client, "accept", launch(next.id!, "g2")).then(
        () => assert.fail("the second launch was not refused"),
        (e: unknown) => statusError(e),
      );
      assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
      assert.equal(retryAfterMs(err), 1500);
      assert.match(err.message, /1 tasks launching and 0 queued \(at most 1\)/);
      assert.equal(s.cluster.agents[0]!.messages(RunTaskSchema).length, 1);
      // Refused from its bytes, before it was decoded (accept-wire.ts), and not an invalid request.
      assert.equal(s.cluster.metric("master/launches_refused_undecoded"), 1);
      assert.equal(s.cluster.metric("master/launches_refused"), 1);
      assert.equal(s.cluster.metric("grpc/invalid_requests") ?? 0, 0);
      // A call without tasks is still taken while launches are refused.
      await unary(s.client, "decline", create(DeclineRequestSchema, { ...info, offerIds: [next.id!] }));
      assert.equal(s.cluster.metric("master/launches_refused_undecoded"), 1);
    } finally {
      await s.stop();
    }
  });
});

describe("LaunchAdmission", () => {
  it("refuses launches while the oldest queued call has waited past max queue time, and admits them once it ran", async () => {
    const clock = new ManualClock();
    const metrics = new Metrics();
    const a = new LaunchAdmission(clock, () => 0, { maxLaunchingTasks: 0, maxQueueMs: 1000, retryAfterMs: 500, maxLoopLagMs: 0 }, metrics);
    const first = a.queued(0);
    const second = a.queued(3);
    await clock.advance(1000);
    assert.equal(a.check(1), undefined, "waited exactly the limit");
    await clock.advance(500);
    const err = a.check(1);
    assert.equal(err?.code, Code.RESOURCE_EXHAUSTED);
    assert.match(err!.message, /oldest queued call has waited 1500 ms \(at most 1000 ms\)/);
    assert.equal(a.check(0), undefined, "a call without tasks is always admitted");
    a.started(first, undefined, "dcos.v1.ReviveRequest");
    assert.equal(a.oldestWaitMs(), 1500, "the second call is as old");
    a.left(second);
    a.left(second);
    assert.equal(a.oldestWaitMs(), 0);
    assert.equal(a.check(1), undefined);
    assert.equal(metrics.value("master/launches_refused"), 1);
    assert.equal(metrics.value("master/launch_queue_tasks"), 0, "each call leaves the queue once");
  });

  it("counts queued launches against max launching tasks, and admits one call of any size when nothing is launching", () => {
    const clock = new ManualClock();
    let launching = 0;
    const a = new LaunchAdmission(clock, () => launching, { maxLaunchingTasks: 10, maxQueueMs: 0, retryAfterMs: 1000, maxLoopLagMs: 0 }, new Metrics());
    assert.equal(a.check(50), undefined, "nothing launching: a big call goes alone");
    const big = a.queued(50);
    assert.match(a.check(1)!.message, /0 tasks launching and 50 queued \(at most 10\)/);
    a.started(big, undefined, "dcos.v1.AcceptRequest");
    launching = 50;
    assert.equal(a.check(1)?.code, Code.RESOURCE_EXHAUSTED);
    launching = 9;
    assert.equal(a.check(1), undefined);
    assert.equal(a.check(2)?.code, Code.RESOURCE_EXHAUSTED);
  });

  it("refuses launches while the event loop has run later than max loop lag, and admits them once it keeps time", () => {
    const clock = new ManualClock();
    const metrics = new Metrics();
    let lag = 0;
    const a = new LaunchAdmission(clock, () => 0, { maxLaunchingTasks: 0, maxQueueMs: 0, retryAfterMs: 750, maxLoopLagMs: 1000 }, metrics, () => lag);
    lag = 1000;
    assert.equal(a.check(10), undefined, "exactly the limit");
    lag = 2600;
    const err = a.check(10);
    assert.equal(err?.code, Code.RESOURCE_EXHAUSTED);
    assert.match(err!.message, /event loop is 2600 ms behind \(at most 1000 ms\).*retry in 750 ms/);
    assert.equal(a.check(0), undefined, "a call without tasks is always admitted");
    lag = 40;
    assert.equal(a.check(10), undefined);
    assert.equal(metrics.value("master/launches_refused"), 1);
    // Not checked when the limit is 0 (the default of the facade; the master's flag sets it).
    const off = new LaunchAdmission(clock, () => 0, { maxLaunchingTasks: 0, maxQueueMs: 0, retryAfterMs: 750, maxLoopLagMs: 0 }, new Metrics(), () => 60_000);
    assert.equal(off.check(10), undefined);
  });

  it("tells a caller refused for the loop to come back once the loop may have idled off what is past the limit, within [100 ms, retryAfterMs]", async () => {
    const clock = new ManualClock();
    let behind = 0;
    let idleShare = 1;
    const metrics = new Metrics();
    const a = new LaunchAdmission(clock, () => 0, { maxLaunchingTasks: 0, maxQueueMs: 1000, retryAfterMs: 1000, maxLoopLagMs: 1000 }, metrics, () => behind, () => idleShare);
    const wait = (tasks = 10) => retryAfterMs(a.check(tasks));
    behind = 1030;
    assert.equal(wait(), MIN_RETRY_AFTER_MS, "just past the limit: the shortest retry-after");
    behind = 1200;
    idleShare = 0.5;
    assert.equal(wait(), 400, "200 ms past it, idle half the time: 400 ms");
    assert.match(a.check(10)!.message, /retry in 400 ms/);
    idleShare = 0;
    assert.equal(wait(), 1000, "never idle lately: retryAfterMs");
    idleShare = 1;
    behind = 9000;
    assert.equal(wait(), 1000, "never more than retryAfterMs");
    behind = 0;
    const queued = a.queued(1);
    await clock.advance(1250);
    assert.equal(wait(), 1000, "the queue past max queue time: retryAfterMs (its backlog may hold seconds)");
    a.left(queued);
    assert.equal(a.check(10), undefined);
    assert.equal(metrics.value("master/launches_refused"), 6);
    assert.equal(metrics.value("master/launches_refused/loop"), 5, "each refusal counted by the limit that made it");
    assert.equal(metrics.value("master/launches_refused/queue"), 1);
    // The launching-tasks limit keeps retryAfterMs: tasks report when their agents do.
    const full = new LaunchAdmission(clock, () => 10, { maxLaunchingTasks: 10, maxQueueMs: 0, retryAfterMs: 1000, maxLoopLagMs: 0 }, new Metrics());
    assert.equal(retryAfterMs(full.check(1)), 1000);
  });

  it("refuses during a stall and while the loop is saturated behind it, not once it has idled the stall off", () => {
    // The meter's samples by hand (runtime/loop-lag.ts): lateness and the loop's idle time in all.
    const clock = new ManualClock();
    const lateness = new LoopLateness();
    let pending = 0;
    let idle = 0;
    const limits = { maxLaunchingTasks: 0, maxQueueMs: 0, retryAfterMs: 1000, maxLoopLagMs: 1000 };
    const gate = new LaunchAdmission(clock, () => 0, limits, new Metrics(), () => lateness.behindMs(pending, idle), () => lateness.idleShare());
    // Session 10's gate: the largest lateness of the last 20 samples.
    const before = new LaunchAdmission(clock, () => 0, limits, new Metrics(), () => lateness.maxMs(pending), () => 1);
    let now = 0;
    const sample = (late: number, idleMs: number) => {
      now += 100 + late;
      idle += idleMs;
      lateness.record(late, idle, now);
      pending = 0;
    };
    for (let i = 0; i < 20; i++) sample(2, 50); // a loop at half a core
    assert.equal(gate.check(10), undefined);
    pending = 1300; // a stall of 1.3 s, read from inside it
    assert.equal(retryAfterMs(gate.check(10)), 612, "held right now: refused; idle 49% of the time before it (500 of 1,020 ms), so back 300 / 0.49 ms after");
    sample(1300, 0);
    assert.equal(retryAfterMs(gate.check(10)), 1000, "just after the stall, not idle since: the longest retry-after");
    sample(3, 50);
    sample(1, 50);
    assert.ok(gate.check(10), "100 ms of idle: 1.2 s behind still");
    sample(2, 50);
    sample(2, 50);
    sample(2, 50);
    sample(1, 50);
    assert.equal(gate.check(10), undefined, "300 ms of idle since the stall: caught up to the limit");
    assert.ok(before.check(10), "session 10's gate refuses for 20 samples after one stall");
    for (let i = 0; i < 13; i++) sample(1, 50);
    assert.ok(before.check(10), "still, 19 samples (1.9 s) after");
    // A saturated loop (no idle time between its late turns) stays behind: refused.
    for (let i = 0; i < 20; i++) sample(i % 3 === 0 ? 1200 : 400, 0);
    assert.ok(gate.check(10), "saturated: refused");
    for (let i = 0; i < 5; i++) sample(300, 0);
    assert.ok(gate.check(10), "still saturated: its last 1.2-s lateness not idled off");
    sample(5, 1000);
    assert.equal(gate.check(10), undefined, "idle again");
  });

  it("the retry-after travels in the gRPC status (dcos-retry-after-ms) with the leader hint", () => {
    const err = new DcosError(Code.RESOURCE_EXHAUSTED, "busy", { details: { "retry-after-ms": "1250", leader: "m2:5050" } });
    const status = toStatus(err);
    const back = statusError({ code: status.code, details: status.details, metadata: status.metadata, message: status.details });
    assert.equal(back.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(retryAfterMs(back), 1250);
    assert.equal(back.details["leader"], "m2:5050");
    assert.equal(retryAfterMs(new DcosError(Code.RESOURCE_EXHAUSTED, "no wait")), undefined);
    assert.equal(retryAfterMs(new Error("plain")), undefined);
  });
});
