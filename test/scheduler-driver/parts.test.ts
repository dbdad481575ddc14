import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventQueue } from "../../src/actors/scheduler-driver/event-queue.js";
import { MasterList, parseMasterAddress } from "../../src/actors/scheduler-driver/masters.js";
import { checkTransition, DriverState, isFatalSubscribeError } from "../../src/actors/scheduler-driver/state.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(7);

describe("MasterList", () => {
  it("parses host:port and name@host:port, refusing anything else with INVALID_ARGUMENT", () => {
    assert.equal(parseMasterAddress("10.0.0.1:5050"), "10.0.0.1:5050");
    assert.equal(parseMasterAddress("master@m2.example:5050"), "m2.example:5050");
    assert.equal(parseMasterAddress("[::1]:5050"), "[::1]:5050");
    for (const bad of ["m1", "m1:", "m1:0", "m1:70000", ":5050", "a b:1"]) {
      assert.throws(() => parseMasterAddress(bad), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT), bad);
    }
  });

  it("goes round the list on failures and follows a leader hint when there is one", () => {
    const list = new MasterList(["m1:1", "m2:2", "m3:3"]);
    assert.equal(list.current(), "m1:1");
    assert.equal(list.failed(), false);
    assert.equal(list.current(), "m2:2");
    assert.equal(list.failed("master@m9:9"), true, "a hint outside the list is followed too");
    assert.equal(list.current(), "m9:9");
    assert.equal(list.redirects, 1);
    assert.equal(list.failed("m9:9"), false, "a hint naming the master that failed is not followed");
    assert.equal(list.current(), "m3:3");
    assert.equal(list.failed("garbage"), false);
    assert.equal(list.current(), "m1:1");
    list.failed("m2:2");
    list.succeeded();
    assert.equal(list.redirects, 0);
    assert.equal(list.current(), "m2:2");
  });
});

describe("driver states", () => {
  it("allows the life cycle and throws on an illegal transition", () => {
    checkTransition(DriverState.IDLE, DriverState.CONNECTING);
    checkTransition(DriverState.SUBSCRIBED, DriverState.WAITING);
    checkTransition(DriverState.WAITING, DriverState.CONNECTING);
    assert.throws(() => checkTransition(DriverState.IDLE, DriverState.SUBSCRIBED), (e: unknown) => DcosError.is(e, Code.INTERNAL));
    assert.throws(() => checkTransition(DriverState.STOPPED, DriverState.CONNECTING), (e: unknown) => DcosError.is(e, Code.INTERNAL));
  });

  it("treats a refusal as fatal only without a leader hint", () => {
    assert.equal(isFatalSubscribeError(new DcosError(Code.INVALID_ARGUMENT, "bad")), true);
    assert.equal(isFatalSubscribeError(new DcosError(Code.FAILED_PRECONDITION, "Framework fw-1 was removed")), true);
    assert.equal(isFatalSubscribeError(new DcosError(Code.UNAVAILABLE, "down")), false);
    assert.equal(isFatalSubscribeError(new DcosError(Code.PERMISSION_DENIED, "no", { details: { leader: "m:1" } })), false);
  });
});

describe("EventQueue", () => {
  it("hands out buffered and later values in order, then ends", async () => {
    const q = new EventQueue<number>();
    q.push(1);
    const later = q.next();
    const got: number[] = [];
    got.push((await later).value as number);
    q.push(2);
    q.push(3);
    q.close();
    for await (const v of q) got.push(v);
    assert.deepEqual(got, [1, 2, 3]);
  });

  it("throws the close error once the buffer is drained, and unregisters on break", async () => {
    let returned = 0;
    const q = new EventQueue<string>(() => returned++);
    q.push("a");
    q.close(new Error("master refused"));
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const v of q) got.push(v);
      })(),
      /master refused/,
    );
    assert.deepEqual(got, ["a"]);
    const r = new EventQueue<string>(() => returned++);
    r.push("x");
    for await (const _ of r) break;
    assert.equal(returned, 1);
  });
});
