import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { RunTaskGroupSchema, RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { OfferSchema, type Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema, DeclineRequestSchema, ReviveRequestSchema, SuppressRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { ExecutorInfo_Type, TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const cpus = (o: { resources: { name: string; scalar?: { value: number } }[] }): number => o.resources.find((r) => r.name === "cpus")?.scalar?.value ?? 0;

describe("master: offers", () => {
  it("offer declined and filtered for refuse_seconds", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const [offer] = s.sink.offers();
    assert.ok(offer);
    await c.facade.decline(
      create(DeclineRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, offerIds: [offer.id!], filters: { refuseSeconds: 10 } }),
    );
    s.sink.clear();
    await c.clock.advance(9000);
    assert.equal(s.sink.offers().length, 0, "filtered for 10 s");
    assert.equal(c.metric("master/outstanding_offers"), 0);
    await c.clock.advance(2000);
    assert.equal(s.sink.offers().length, 1, "offered again once the filter expired");
    assert.equal(c.metric("master/offers_declined"), 1);
  });

  it("declining an offer that is not outstanding answers NOT_FOUND naming it; the known ones are declined all the same", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const [offer] = s.sink.offers();
    const ids = { frameworkId: { value: s.frameworkId }, streamId: s.streamId };
    await assert.rejects(
      c.facade.decline(create(DeclineRequestSchema, { ...ids, offerIds: [offer!.id!, { value: "no-such-offer" }] })),
      (e: DcosError) => e.code === Code.NOT_FOUND && /Offer\(s\) no-such-offer are not outstanding offers of framework .*; the other 1 offer\(s\) were declined/.test(e.message),
    );
    assert.equal(c.metric("master/offers_declined"), 1);
    assert.equal(c.metric("master/outstanding_offers"), 0);
    await assert.rejects(c.facade.decline(create(DeclineRequestSchema, { ...ids, offerIds: [offer!.id!] })), (e: DcosError) => e.code === Code.NOT_FOUND, "declined twice");
  });

  it("offer rescinded on timeout", async () => {
    const c = (cluster = await Cluster.start({ offerTimeoutMs: 30_000 }));
    const s = await c.subscribe("fw");
    const [offer] = s.sink.offers();
    await c.clock.advance(29_000);
    assert.equal(s.sink.of("rescind").length, 0);
    await c.clock.advance(1000);
    assert.deepEqual(
      s.sink.of("rescind").map((r) => r.offerId?.value),
      [offer!.id!.value],
    );
    assert.equal(c.metric("master/offers_rescinded"), 1);
    // A launch on the rescinded offer is dropped.
    s.sink.clear();
    await c.launch(s, [offer!], [commandTask("late")]);
    const u = s.sink.updates();
    assert.equal(u.length, 1);
    assert.equal(u[0]!.state, TaskState.DROPPED);
    assert.equal(u[0]!.reason, TaskStatus_Reason.INVALID_OFFERS);
    assert.match(u[0]!.message, /no longer valid/);
    assert.equal(c.agents[0]!.messages(RunTaskSchema).length, 0);
  });

  it("bad accept: an invalid task gets TASK_ERROR with the reason, the valid one runs", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const offers = s.sink.offers();
    const noCommand = commandTask("empty", "cpus:1;mem:64", "   ");
    await c.launch(s, offers, [commandTask("ok", "cpus:1;mem:64"), noCommand, commandTask("ok", "cpus:1;mem:64")]);
    const byTask = new Map(s.sink.updates().map((u) => [u.taskId!.value, u]));
    assert.equal(byTask.get("empty")?.state, TaskState.ERROR);
    assert.equal(byTask.get("empty")?.reason, TaskStatus_Reason.TASK_INVALID);
    assert.match(byTask.get("empty")!.message, /shell command with an empty value/);
    assert.equal(byTask.get("ok")?.state, TaskState.ERROR, "the duplicate 'ok' is refused");
    assert.match(byTask.get("ok")!.message, /same task_id as another task/);
    assert.deepEqual(
      c.agents[0]!.messages(RunTaskSchema).map((r) => r.task?.taskId?.value),
      ["ok"],
    );
    assert.equal(c.metric("master/tasks_error"), 2);
  });

  it("bad accept: resources not offered are refused", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    await c.launch(s, s.sink.offers(), [commandTask("big", "cpus:3;mem:64"), commandTask("second", "cpus:2;mem:64"), commandTask("gpu", "gpus:1")]);
    const byTask = new Map(s.sink.updates().map((u) => [u.taskId!.value, u]));
    assert.equal(byTask.has("big"), false, "the first task fits");
    assert.equal(byTask.get("second")?.state, TaskState.ERROR, "3 + 2 cpus exceed the 4 offered");
    assert.match(byTask.get("second")!.message, /resources not in the offers/);
    assert.equal(byTask.get("gpu")?.state, TaskState.ERROR);
    assert.deepEqual(
      c.agents[0]!.messages(RunTaskSchema).map((r) => r.task?.taskId?.value),
      ["big"],
    );
  });

  it("bad accept: another framework's offer drops the tasks and leaves that offer alone", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const a = await c.subscribe("a");
    const b = await c.subscribe("b");
    await c.allocate();
    const offerOfB = b.sink.offers()[0] ?? a.sink.offers()[1];
    assert.ok(offerOfB);
    const stranger = offerOfB.frameworkId?.value === a.frameworkId ? b : a;
    await c.launch(stranger, [offerOfB], [commandTask("steal")]);
    const u = stranger.sink.updates().at(-1)!;
    assert.equal(u.state, TaskState.DROPPED);
    assert.match(u.message, /was not made to framework/);
    assert.ok(await c.facade.inspect((core) => core.offers.get(offerOfB.id!.value)), "the owner's offer is still outstanding");
  });

  it("malformed accepts are refused with precise statuses", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const base = { frameworkId: { value: s.frameworkId }, streamId: s.streamId };
    const cases: [object, Code, RegExp][] = [
      [{ ...base, offerIds: [] }, Code.INVALID_ARGUMENT, /offer_ids must name/],
      [{ ...base, offerIds: [{ value: "x" }], operations: [{ kind: { case: "reserve", value: {} } }] }, Code.INVALID_ARGUMENT, /RESERVE names no resources/],
      [{ ...base, offerIds: [{ value: "x" }], filters: { refuseSeconds: -1 } }, Code.INVALID_ARGUMENT, /refuse_seconds/],
      [{ ...base, frameworkId: { value: "nope" }, offerIds: [{ value: "x" }] }, Code.NOT_FOUND, /not known/],
      [{ ...base, streamId: "other", offerIds: [{ value: "x" }] }, Code.FAILED_PRECONDITION, /current stream/],
      [{ ...base, frameworkId: undefined, offerIds: [{ value: "x" }] }, Code.INVALID_ARGUMENT, /framework_id is required/],
    ];
    for (const [req, code, message] of cases) {
      await assert.rejects(c.facade.accept(create(AcceptRequestSchema, req)), (e: unknown) => {
        assert.ok(DcosError.is(e, code), `expected ${Code[code]} for ${JSON.stringify(req)}, got ${String(e)}`);
        assert.match((e as Error).message, message);
        return true;
      });
    }
    assert.equal(c.metric("master/outstanding_offers"), 1, "nothing happened to the offer");
  });

  it("task group runs together", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    await c.launchGroup(
      s,
      s.sink.offers(),
      { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "group-exec" }, resources: commandTask("x", "cpus:0.1;mem:32").resources },
      [commandTask("g1", "cpus:1;mem:64"), commandTask("g2", "cpus:1;mem:64")],
    );
    const [group] = c.agents[0]!.messages(RunTaskGroupSchema);
    assert.ok(group);
    assert.deepEqual(
      group.taskGroup?.tasks.map((t) => t.taskId?.value),
      ["g1", "g2"],
    );
    assert.equal(group.executorInfo?.frameworkId?.value, s.frameworkId);
    assert.equal(c.metric("master/tasks_staging"), 2);
    // The rest of the agent (4 − 2.1 cpus) comes back after the default 5 s filter.
    s.sink.clear();
    await c.clock.advance(6000);
    assert.equal(cpus(s.sink.offers()[0]!), 1.9);
  });

  it("an offer is written out whole: the message create() gives, field for field and byte for byte", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    await c.launchGroup(s, s.sink.offers(), { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "group-exec" }, resources: commandTask("x", "cpus:0.1;mem:32").resources }, [
      commandTask("g1", "cpus:1;mem:64"),
    ]);
    s.sink.clear();
    await c.clock.advance(6000);
    const [offer] = s.sink.offers();
    assert.ok(offer);
    assert.deepEqual(
      offer.executorIds.map((e) => e.value),
      ["group-exec"],
      "the executors of the framework on the agent",
    );
    const { $typeName: _, ...fields } = offer;
    const created: Offer = create(OfferSchema, fields);
    assert.deepStrictEqual(offer, created);
    assert.deepEqual(toBinary(OfferSchema, offer), toBinary(OfferSchema, created));
  });

  it("an invalid task group fails as a whole with TASK_ERROR", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    await c.launchGroup(s, s.sink.offers(), { type: ExecutorInfo_Type.DEFAULT, executorId: { value: "e" } }, [commandTask("g1"), commandTask("g1")]);
    const u = s.sink.updates();
    assert.equal(u.length, 2);
    for (const x of u) {
      assert.equal(x.state, TaskState.ERROR);
      assert.equal(x.reason, TaskStatus_Reason.TASK_GROUP_INVALID);
    }
    assert.equal(c.agents[0]!.messages(RunTaskGroupSchema).length, 0);
  });

  it("two frameworks get fair shares", async () => {
    const c = (cluster = await Cluster.start({ agents: 4, agentResources: "cpus:2;mem:2048" }));
    const a = await c.subscribe("a");
    const b = await c.subscribe("b");
    // Each framework uses what it is offered with long-running tasks, round after round.
    let n = 0;
    for (let round = 0; round < 4; round++) {
      for (const s of [a, b]) {
        const offers = s.sink.offers();
        s.sink.clear();
        for (const o of offers) await c.launch(s, [o], [commandTask(`t${n++}`, "cpus:1;mem:512")]);
      }
      await c.allocate();
    }
    const held = await c.facade.inspect((core) =>
      [a, b].map((s) => [...core.frameworks.get(s.frameworkId)!.tasks.values()].length),
    );
    assert.equal(held[0]! + held[1]!, 8, "the cluster's 8 cpus are all used");
    assert.deepEqual(held, [4, 4], "DRF splits them evenly");
  });

  it("a framework holding max_offers_per_framework offers gets no more until it has answered half; the others get the agents meanwhile", async () => {
    // Rounds in parts of 2 agents: the master pauses a's offers between parts.
    const c = (cluster = await Cluster.start({ agents: 10, maxOffersPerFramework: 4, roundSlicing: { agents: 2, budgetMs: 0 } }));
    const a = await c.subscribe("a");
    await c.clock.settle();
    // Alone, a would be offered every agent; its offers pause once it holds 4.
    assert.equal(a.sink.offers().length, 4, "a holds 4 offers of the 10 agents");
    const first = 4;
    assert.equal(c.metric("master/framework_offers_paused"), 1);
    const b = await c.subscribe("b");
    await c.clock.advance(1000);
    assert.equal(a.sink.offers().length, first, "no more offers to a while it answers none");
    assert.ok(b.sink.offers().length > 0, "b is offered the agents a was not");
    // a declines all it holds (no filter): it is offered again from the next round on.
    const ids = { frameworkId: { value: a.frameworkId }, streamId: a.streamId };
    await c.facade.decline(create(DeclineRequestSchema, { ...ids, offerIds: a.sink.offers().map((o) => o.id!), filters: { refuseSeconds: 0 } }));
    a.sink.clear();
    await c.clock.advance(1000);
    assert.ok(a.sink.offers().length > 0, "offers to a resume once it holds fewer than half");
  });

  it("suppress stops offers and revive brings them back", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const ids = { frameworkId: { value: s.frameworkId }, streamId: s.streamId };
    await c.facade.suppress(create(SuppressRequestSchema, ids));
    await c.facade.decline(create(DeclineRequestSchema, { ...ids, offerIds: s.sink.offers().map((o) => o.id!), filters: { refuseSeconds: 0 } }));
    s.sink.clear();
    await c.clock.advance(5000);
    assert.equal(s.sink.offers().length, 0);
    await assert.rejects(c.facade.revive(create(ReviveRequestSchema, { ...ids, roles: ["other"] })), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    await c.facade.revive(create(ReviveRequestSchema, ids));
    await c.clock.advance(1000);
    assert.equal(s.sink.offers().length, 1);
  });
});

describe("master: a framework's offers when its stream closes", () => {
  it("rescinds every offer it held at once and gives the agents to the next framework", async () => {
    const c = (cluster = await Cluster.start({ agents: 20 }));
    const a = await c.subscribe("fw-a", { failoverTimeout: 60 });
    await c.clock.settle();
    const held = a.sink.offers().length;
    assert.equal(held, 20, "fw-a holds an offer of every agent");
    const b = await c.subscribe("fw-b");
    await c.clock.settle();
    assert.equal(b.sink.offers().length, 0, "nothing left for fw-b");
    await c.facade.streamClosed(a.frameworkId, a.streamId);
    await c.clock.settle();
    assert.equal(c.metric("master/offers_rescinded"), held);
    assert.equal(
      new Set(b.sink.offers().map((o) => o.agentId?.value)).size,
      20,
      "every agent fw-a held is offered to fw-b",
    );
  });
});
