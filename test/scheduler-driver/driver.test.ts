import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { Event } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import type { SchedulerCallbacks, SchedulerDriverOptions } from "../../src/actors/scheduler-driver/options.js";
import { DriverState } from "../../src/actors/scheduler-driver/state.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { FakeSchedulerServer, type EventInit, type FakeStream } from "../support/fake-scheduler-server.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(4242);

/** What the callbacks heard, in order, as short strings. */
class Heard implements SchedulerCallbacks {
  readonly log: string[] = [];
  readonly statuses: TaskStatus[] = [];
  subscribed(e: { frameworkId?: { value: string }; streamId: string }, resubscribed: boolean): void {
    this.log.push(`${resubscribed ? "resubscribed" : "subscribed"} ${e.frameworkId?.value} ${e.streamId}`);
  }
  offers(offers: { id?: { value: string } }[]): void {
    this.log.push(`offers ${offers.map((o) => o.id?.value).join(",")}`);
  }
  rescind(offerId: string): void {
    this.log.push(`rescind ${offerId}`);
  }
  update(status: TaskStatus): void {
    this.statuses.push(status);
    this.log.push(`update ${status.taskId?.value} ${TaskState[status.state]}`);
  }
  heartbeat(): void {
    this.log.push("heartbeat");
  }
  error(message: string): void {
    this.log.push(`error ${message}`);
  }
  disconnected(error: DcosError | undefined): void {
    this.log.push(`disconnected ${error ? Code[error.code] : "ended"}`);
  }
  stopped(error: DcosError | undefined): void {
    this.log.push(`stopped ${error ? Code[error.code] : "cleanly"}`);
  }
  count(prefix: string): number {
    return this.log.filter((l) => l.startsWith(prefix)).length;
  }
}

interface Setup {
  fake: FakeSchedulerServer;
  driver: SchedulerDriver;
  clock: ManualClock;
  heard: Heard;
}

async function setup(t: TestContext, options: Partial<SchedulerDriverOptions> = {}, fake?: FakeSchedulerServer): Promise<Setup> {
  const server = fake ?? (await FakeSchedulerServer.start());
  const clock = new ManualClock();
  const heard = new Heard();
  const driver = new SchedulerDriver({
    masters: server.address,
    framework: { name: "test", roles: ["*"], user: "nobody" },
    callbacks: heard,
    clock,
    random: new Random(SEED),
    logger: testLogger(),
    backoff: { initialMs: 1000, maxMs: 4000 },
    ...options,
  });
  t.after(async () => {
    await driver.stop();
    server.stop();
  });
  return { fake: server, driver, clock, heard };
}

function update(taskId: string, state: TaskState, uuid = new Uint8Array()): EventInit {
  return { kind: { case: "update", value: { status: { taskId: { value: taskId }, agentId: { value: "a-1" }, state, uuid } } } };
}

function offers(...ids: string[]): EventInit {
  return { kind: { case: "offers", value: { offers: ids.map((id) => ({ id: { value: id }, agentId: { value: "a-1" } })) } } };
}

describe("SchedulerDriver against a scripted master", () => {
  it("subscribes and delivers events to callbacks and to an async iterator, in stream order", async (t) => {
    const { fake, driver, heard } = await setup(t);
    const seen: string[] = [];
    const consumed = (async () => {
      for await (const event of driver.events()) {
        seen.push(event.kind.case ?? "none");
        if (seen.length === 5) break;
      }
    })();
    const subscribed = await driver.start();
    assert.equal(subscribed.frameworkId?.value, "fw-1");
    assert.equal(driver.state, DriverState.SUBSCRIBED);
    assert.equal(driver.frameworkId, "fw-1");
    assert.equal((await driver.start()).streamId, "s-1", "start() once subscribed resolves at once");
    const stream = await fake.stream(1);
    assert.equal(stream.request.frameworkInfo?.name, "test");
    assert.equal(stream.request.frameworkInfo?.id, undefined, "a first subscription carries no framework id");
    stream.send(offers("o-1", "o-2"));
    stream.send({ kind: { case: "rescind", value: { offerId: { value: "o-1" } } } });
    stream.send(update("t-1", TaskState.RUNNING));
    stream.heartbeat();
    await consumed;
    assert.deepEqual(seen, ["subscribed", "offers", "rescind", "update", "heartbeat"]);
    assert.deepEqual(heard.log, ["subscribed fw-1 s-1", "offers o-1,o-2", "rescind o-1", "update t-1 RUNNING", "heartbeat"]);
  });

  it("makes every call with the framework id and stream id, and resolves when the master answers OK", async (t) => {
    const { fake, driver } = await setup(t, { reconcileOnSubscribe: false });
    await driver.start();
    await driver.decline(["o-1"], { refuseSeconds: 30 });
    await driver.revive(["web"]);
    await driver.suppress();
    await driver.kill("t-1", "a-1", { gracePeriodSeconds: 2 });
    await driver.shutdown("e-1", "a-1");
    await driver.reconcile([{ taskId: "t-1", agentId: "a-1" }]);
    await driver.message("a-1", "e-1", new TextEncoder().encode("hi"));
    await driver.launch(["o-2"], []);
    await driver.updateFramework({ name: "renamed", roles: ["*"] });
    assert.deepEqual(
      fake.calls.map((c) => c.method),
      ["decline", "revive", "suppress", "kill", "shutdown", "reconcile", "message", "accept", "updateFramework"],
    );
    for (const call of fake.calls) {
      assert.equal(call.request.frameworkId?.value, "fw-1", `${call.method} carries the framework id`);
      assert.equal(call.request.streamId, "s-1", `${call.method} carries the stream id`);
    }
    const decline = fake.callsOf("decline")[0]!.request as { offerIds: { value: string }[]; filters?: { refuseSeconds?: number } };
    assert.deepEqual(decline.offerIds.map((o) => o.value), ["o-1"]);
    assert.equal(decline.filters?.refuseSeconds, 30);
  });

  it("rejects a call with the master's status and message when the master refuses it", async (t) => {
    const { fake, driver } = await setup(t, { reconcileOnSubscribe: false });
    await driver.start();
    fake.failNext("decline", new DcosError(Code.NOT_FOUND, "Offer o-9 is not outstanding"));
    await assert.rejects(driver.decline(["o-9"]), (e: unknown) => {
      assert.ok(DcosError.is(e, Code.NOT_FOUND), `expected NOT_FOUND, got ${String(e)}`);
      assert.equal((e as DcosError).message, "Offer o-9 is not outstanding");
      return true;
    });
    fake.failNext("kill", new DcosError(Code.INVALID_ARGUMENT, "Kill needs a task id"));
    await assert.rejects(driver.kill(""), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    await driver.revive();
  });

  it("rejects calls with UNAVAILABLE before SUBSCRIBED and FAILED_PRECONDITION once stopped", async (t) => {
    const { fake, driver } = await setup(t);
    fake.onSubscribe = () => {}; // the master stays silent
    void driver.start().catch(() => undefined);
    await fake.stream(1);
    await assert.rejects(driver.revive(), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE) && /CONNECTING/.test((e as Error).message));
    await driver.stop();
    assert.equal(driver.state, DriverState.STOPPED);
    assert.equal(fake.calls.length, 0);
  });

  it("reconnects after the master ends the stream and resubscribes with the framework id it was given", async (t) => {
    const { fake, driver, clock, heard } = await setup(t);
    await driver.start();
    (await fake.stream(1)).end();
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
    assert.ok(heard.log.includes("disconnected UNAVAILABLE"));
    await clock.advance(1000); // backoff: at most the initial 1 s
    const second = await fake.stream(2);
    assert.equal(second.request.frameworkInfo?.id?.value, "fw-1", "resubscription keeps the framework id");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription");
    assert.ok(heard.log.includes("resubscribed fw-1 s-2"), heard.log.join("; "));
    await driver.revive();
    assert.equal(fake.callsOf("revive")[0]!.request.streamId, "s-2", "calls use the new stream id");
  });

  it("resubscribes with the roles it suppressed (a new master knows no suppression), and without those it revived", async (t) => {
    const { fake, driver, clock } = await setup(t, { framework: { name: "test", roles: ["a", "b"], user: "nobody" } });
    await driver.start();
    assert.deepEqual((await fake.stream(1)).request.suppressedRoles, []);
    await driver.suppress();
    (await fake.stream(1)).end();
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
    await clock.advance(1000);
    assert.deepEqual([...(await fake.stream(2)).request.suppressedRoles].sort(), ["a", "b"], "SUPPRESS of all roles is carried");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription");
    await driver.revive(["a"]);
    (await fake.stream(2)).end();
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
    await clock.advance(1000);
    assert.deepEqual((await fake.stream(3)).request.suppressedRoles, ["b"], "the revived role is not");
    // Asked while no master is subscribed (the call fails): the next subscription still carries it.
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription");
    (await fake.stream(3)).end();
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
    await assert.rejects(driver.revive());
    await clock.advance(1000);
    assert.deepEqual((await fake.stream(4)).request.suppressedRoles, [], "a revive that could not be sent still counts");
  });

  it("sends the master a REVIVE or SUPPRESS asked while its Subscribe was on its way (refused then) once SUBSCRIBED", async (t) => {
    const { fake, driver, clock } = await setup(t, { framework: { name: "test", roles: ["a", "b"], user: "nobody" }, reconcileOnSubscribe: false });
    await driver.start();
    await driver.suppress();
    assert.equal(fake.callsOf("suppress").length, 1);
    // The master goes; the next one takes its time to answer the Subscribe (a new leader writes the framework first).
    const held: FakeStream[] = [];
    fake.onSubscribe = (stream) => held.push(stream);
    const reconnect = async (n: number): Promise<FakeStream> => {
      (await fake.stream(n - 1)).end();
      await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
      await clock.advance(1000);
      await waitFor(() => held.length >= 1 && driver.state === DriverState.CONNECTING, "the Subscribe on its way");
      return held.shift()!;
    };
    const second = await reconnect(2);
    assert.deepEqual([...second.request.suppressedRoles].sort(), ["a", "b"], "the Subscribe left with both roles suppressed");
    await assert.rejects(driver.revive(["a"]), (err: unknown) => DcosError.is(err, Code.UNAVAILABLE), "refused: not subscribed yet");
    assert.equal(fake.callsOf("revive").length, 0);
    second.subscribed("fw-1", "s-2");
    const [revive] = await fake.waitForCalls("revive", 1);
    assert.deepEqual(revive!.request["roles"], ["a"], "the role revived meanwhile, and only it");
    assert.equal(revive!.request.streamId, "s-2", "on the new stream");
    assert.equal(fake.callsOf("suppress").length, 1, "no SUPPRESS for the role still suppressed");
    // The other way round: a SUPPRESS asked while the next Subscribe is on its way.
    const third = await reconnect(3);
    assert.deepEqual(third.request.suppressedRoles, ["b"]);
    await assert.rejects(driver.suppress(["a"]));
    third.subscribed("fw-1", "s-3");
    const suppresses = await fake.waitForCalls("suppress", 2);
    assert.deepEqual(suppresses[1]!.request["roles"], ["a"]);
    assert.equal(suppresses[1]!.request.streamId, "s-3");
    // Nothing asked meanwhile: nothing sent after SUBSCRIBED.
    const fourth = await reconnect(4);
    assert.deepEqual([...fourth.request.suppressedRoles].sort(), ["a", "b"]);
    fourth.subscribed("fw-1", "s-4");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "the fourth subscription");
    await driver.reconcile([]); // a call after SUBSCRIBED: anything the driver sent at SUBSCRIBED went before it
    await fake.waitForCalls("reconcile", 1);
    assert.equal(fake.callsOf("revive").length, 1);
    assert.equal(fake.callsOf("suppress").length, 2);
  });

  it("reconnects after the master breaks the stream with an error, and after the master restarts", async (t) => {
    const { fake, driver, clock } = await setup(t);
    await driver.start();
    (await fake.stream(1)).fail(new DcosError(Code.INTERNAL, "master crashed"));
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the failed stream");
    fake.stop();
    await clock.advance(1000);
    await waitFor(() => driver.state === DriverState.WAITING && fake.streams.length === 1, "a failed attempt on the stopped master");
    const restarted = new FakeSchedulerServer();
    await restarted.listen(Number(fake.address.split(":")[1]));
    t.after(() => restarted.stop());
    await waitFor(async () => {
      await clock.advance(1000);
      return restarted.streams.length === 1;
    }, "a subscription to the restarted master");
    assert.equal(restarted.streams[0]!.request.frameworkInfo?.id?.value, "fw-1");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription to the restarted master");
  });

  it("gives the master up after missing heartbeats and reconnects", async (t) => {
    const fake = await FakeSchedulerServer.start();
    fake.heartbeatIntervalSeconds = 1;
    const { driver, clock, heard } = await setup(t, { maxMissedHeartbeats: 3 }, fake);
    await driver.start();
    const first = await fake.stream(1);
    await clock.advance(2000);
    first.heartbeat();
    await waitFor(() => heard.count("heartbeat") === 1, "the heartbeat to arrive");
    await clock.advance(2500); // 2.5 s since the heartbeat: under 3 intervals
    assert.equal(driver.state, DriverState.SUBSCRIBED);
    await clock.advance(600); // 3.1 s of silence
    // The stream was given up; the first retry goes out at once (prompt reconnect).
    assert.ok([DriverState.WAITING, DriverState.CONNECTING].includes(driver.state), driver.state);
    assert.ok(heard.log.includes("disconnected DEADLINE_EXCEEDED"), heard.log.join("; "));
    await waitFor(() => first.cancelled, "the silent stream to be cancelled");
    await clock.advance(1000);
    const second = await fake.stream(2);
    assert.equal(second.request.frameworkInfo?.id?.value, "fw-1");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription");
  });

  it("follows a standby's leader hint at once, without backoff", async (t) => {
    const leader = await FakeSchedulerServer.start();
    t.after(() => leader.stop());
    const standby = await FakeSchedulerServer.start();
    standby.onSubscribe = (s) => s.fail(new DcosError(Code.UNAVAILABLE, "Not the leader", { details: { leader: `master@${leader.address}` } }));
    const { driver, clock } = await setup(t, {}, standby);
    const subscribed = driver.start();
    await standby.stream(1);
    await waitFor(async () => {
      await clock.settle(); // the redirect's zero-delay timer; no time passes
      return leader.streams.length === 1;
    }, "a subscription to the leader");
    assert.equal((await subscribed).frameworkId?.value, "fw-1");
    assert.equal(driver.master, leader.address);
  });

  it("retries promptly again once a standby names a new leader, after falling into its backoff while none was known", async (t) => {
    // Backoff 1-4 s, prompt window 2 s of 50-200 ms delays (setup's seeded Random: print SEED on failure).
    const { fake: standby, driver, clock } = await setup(t, { reconcileOnSubscribe: false, promptRetry: { windowMs: 2000, maxDelayMs: 200 } });
    const leader = await FakeSchedulerServer.start();
    t.after(() => leader.stop());
    await driver.start();
    // The master leads, then loses its term and knows no leader (an election).
    standby.onSubscribe = (s) => s.fail(new DcosError(Code.UNAVAILABLE, "This master is not leading; no leader is known yet; retry"));
    (await standby.stream(1)).end();
    const lostAt = clock.now();
    await waitFor(() => driver.state === DriverState.WAITING, "the driver to notice the stream ended");
    // Past the prompt window (2 s): the driver is in its backoff, its delays 0.5 s and up.
    while (clock.now() - lostAt < 3000) {
      await clock.advance(100);
      // An attempt the step started has failed (the fake answers at once) before the next step.
      await waitFor(() => driver.state === DriverState.WAITING, "the attempt on the standby to fail");
    }
    const beforeElection = standby.streams.length;
    assert.ok(beforeElection >= 8, `${beforeElection} attempts in 3 s: prompt ones first (seed ${SEED})`);
    await clock.advance(400);
    assert.equal(standby.streams.length, beforeElection, `in the backoff: no attempt within 400 ms (seed ${SEED})`);
    // Elected: the standby names the new leader, which is still recovering (its first Subscribe fails, without a hint).
    standby.onSubscribe = (s) => s.fail(new DcosError(Code.UNAVAILABLE, "Not the leader", { details: { leader: `master@${leader.address}` } }));
    leader.onSubscribe = (s) => {
      if (leader.streams.length === 1) return s.fail(new DcosError(Code.UNAVAILABLE, "recovering; retry"));
      s.subscribed(s.request.frameworkInfo?.id?.value || "fw-1", "s-new");
    };
    await waitFor(async () => {
      await clock.advance(100);
      return leader.streams.length === 1 && driver.state === DriverState.WAITING;
    }, "the backoff's attempt, the hint, and the leader's refusal");
    const refusedAt = clock.now();
    // The leader was announced: the next attempt comes after a prompt delay (<= 200 ms), not the backoff (>= 2 s by now).
    await waitFor(async () => {
      if (clock.now() - refusedAt < 200) await clock.advance(50);
      else await clock.settle();
      return leader.streams.length === 2;
    }, `the prompt attempt after the announcement (seed ${SEED})`);
    assert.ok(clock.now() - refusedAt <= 200, `retried ${clock.now() - refusedAt} ms after the leader's refusal (seed ${SEED})`);
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscribed at the new leader");
    assert.equal(driver.master, leader.address);
  });

  it("leaves a master that a call says is no longer the leader, for the leader it names", async (t) => {
    const leader = await FakeSchedulerServer.start();
    t.after(() => leader.stop());
    const { fake, driver, clock } = await setup(t, { reconcileOnSubscribe: false });
    await driver.start();
    fake.failNext("revive", new DcosError(Code.UNAVAILABLE, "Not the leader any more", { details: { leader: leader.address } }));
    await assert.rejects(driver.revive(), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE) && (e as DcosError).details["leader"] === leader.address);
    await waitFor(async () => {
      await clock.settle();
      return leader.streams.length === 1;
    }, "a subscription to the new leader");
    assert.equal(leader.streams[0]!.request.frameworkInfo?.id?.value, "fw-1");
    await waitFor(() => driver.state === DriverState.SUBSCRIBED, "resubscription at the new leader");
    assert.equal(driver.master, leader.address);
  });

  it("moves on to the next master of the list when one is down", async (t) => {
    const down = await FakeSchedulerServer.start();
    const up = await FakeSchedulerServer.start();
    down.stop();
    const { driver, clock } = await setup(t, { masters: [down.address, up.address] }, up);
    const subscribed = driver.start();
    await waitFor(() => driver.state === DriverState.WAITING, "the first master to fail");
    await clock.advance(1000);
    assert.equal((await subscribed).streamId, "s-1");
    assert.equal(driver.master, up.address);
  });

  it("stops on ERROR: the callbacks hear it, the iterator throws it, calls fail", async (t) => {
    const { fake, driver, heard } = await setup(t);
    const iterated = (async () => {
      for await (const _ of driver.events()) void _;
    })();
    await driver.start();
    (await fake.stream(1)).send({ kind: { case: "error", value: { message: "Framework removed" } } });
    await assert.rejects(iterated, (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION) && /Framework removed/.test((e as Error).message));
    assert.equal(driver.state, DriverState.STOPPED);
    assert.deepEqual(heard.log.slice(-2), ["error Framework removed", "stopped FAILED_PRECONDITION"]);
    await assert.rejects(driver.revive(), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION));
  });

  it("stops when the master refuses the subscription itself (INVALID_ARGUMENT): start() rejects with the reason", async (t) => {
    const { fake, driver } = await setup(t);
    fake.onSubscribe = (s) => s.fail(new DcosError(Code.INVALID_ARGUMENT, "FrameworkInfo.roles is empty"));
    await assert.rejects(driver.start(), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /roles is empty/.test((e as Error).message));
    assert.equal(driver.state, DriverState.STOPPED);
    assert.equal(fake.streams.length, 1, "no retry of a refused subscription");
  });

  it("acknowledges updates that carry a uuid implicitly, after the callback ran", async (t) => {
    const { fake, driver, heard } = await setup(t, { reconcileOnSubscribe: false });
    await driver.start();
    const stream = await fake.stream(1);
    stream.send(update("t-1", TaskState.RUNNING, new Uint8Array([1, 2, 3])));
    stream.send(update("t-1", TaskState.RUNNING)); // a reconciliation answer: no uuid, no ack
    const acks = await fake.waitForCalls("acknowledge", 1);
    await waitFor(() => heard.statuses.length === 2, "both updates");
    assert.equal(fake.callsOf("acknowledge").length, 1);
    const ack = acks[0]!.request as { taskId?: { value: string }; agentId?: { value: string }; uuid: Uint8Array };
    assert.equal(ack.taskId?.value, "t-1");
    assert.equal(ack.agentId?.value, "a-1");
    assert.deepEqual([...ack.uuid], [1, 2, 3]);
  });

  it("leaves acknowledgements to the scheduler when they are explicit, and refuses to acknowledge without a uuid", async (t) => {
    const { fake, driver, heard } = await setup(t, { reconcileOnSubscribe: false, implicitAcknowledgements: false });
    await driver.start();
    (await fake.stream(1)).send(update("t-1", TaskState.FINISHED, new Uint8Array([9])));
    await waitFor(() => heard.statuses.length === 1, "the update");
    assert.equal(fake.callsOf("acknowledge").length, 0);
    await driver.acknowledge(heard.statuses[0]!);
    assert.equal(fake.callsOf("acknowledge").length, 1);
    const noUuid = { ...heard.statuses[0]!, uuid: new Uint8Array() };
    await assert.rejects(driver.acknowledge(noUuid), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /no uuid/.test((e as Error).message));
  });

  it("reconciles after every subscription: implicitly, and explicitly for tasks it knows to be alive", async (t) => {
    const { fake, driver, clock, heard } = await setup(t);
    await driver.start();
    await fake.waitForCalls("reconcile", 1);
    const stream = await fake.stream(1);
    stream.send(update("t-1", TaskState.RUNNING));
    stream.send(update("t-2", TaskState.RUNNING));
    stream.send(update("t-2", TaskState.FINISHED));
    await waitFor(() => heard.statuses.length === 3, "the updates");
    stream.end();
    await waitFor(() => driver.state === DriverState.WAITING, "the stream to end");
    await clock.advance(1000);
    const calls = await fake.waitForCalls("reconcile", 3);
    const tasks = calls.map((c) => (c.request.tasks as { taskId?: { value: string } }[]).map((x) => x.taskId?.value));
    assert.deepEqual(tasks, [[], ["t-1"], []], "first implicit; after resubscribing t-1 (alive) explicitly, then implicit");
  });

  it("tears down: TEARDOWN reaches the master, the driver stops, iterators end", async (t) => {
    const { fake, driver, heard } = await setup(t, { reconcileOnSubscribe: false });
    const events: Event[] = [];
    const iterated = (async () => {
      for await (const e of driver) events.push(e);
    })();
    await driver.start();
    await driver.teardown();
    await iterated;
    assert.equal(fake.callsOf("teardown").length, 1);
    assert.equal(driver.state, DriverState.STOPPED);
    assert.equal(events.length, 1);
    assert.equal(heard.log.at(-1), "stopped cleanly");
    await waitFor(() => fake.streams[0]!.cancelled, "the stream to be closed");
  });

  it("keeps going when a callback throws", async (t) => {
    const { fake, driver } = await setup(t, {
      reconcileOnSubscribe: false,
      callbacks: {
        offers: () => {
          throw new Error("scheduler bug");
        },
      },
    });
    await driver.start();
    const stream = await fake.stream(1);
    stream.send(offers("o-1"));
    stream.send(update("t-1", TaskState.RUNNING, new Uint8Array([1])));
    await fake.waitForCalls("acknowledge", 1);
    assert.equal(driver.state, DriverState.SUBSCRIBED);
  });

  it("refuses bad options with INVALID_ARGUMENT", () => {
    assert.throws(
      () => new SchedulerDriver({ masters: "nohost", framework: { name: "x" }, logger: testLogger() }),
      (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /nohost/.test((e as Error).message),
    );
    assert.throws(() => new SchedulerDriver({ masters: [], framework: { name: "x" } }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
  });
});
