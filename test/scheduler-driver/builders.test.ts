import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { OfferSchema, type Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { commandTask, offerFits, pickResources, refuseFor } from "../../src/actors/scheduler-driver/builders.js";
import { rangesResource, scalarResource } from "../../src/resources/resource.js";
import { Resources } from "../../src/resources/resources.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

function offer(...resources: Resource[]): Offer {
  return create(OfferSchema, { id: { value: "o-1" }, agentId: { value: "a-1" }, hostname: "h1", resources });
}

const standard = offer(scalarResource("cpus", 2), scalarResource("mem", 1024), rangesResource("ports", [{ begin: 31000, end: 31001 }, { begin: 31005, end: 31010 }]));

describe("pickResources", () => {
  it("takes exactly what is asked from an offer that has it", () => {
    const picked = pickResources(standard, { cpus: 0.1, mem: 32, ports: 3 });
    assert.ok(picked);
    assert.equal(Resources.of(picked).toString(), "cpus:0.1; mem:32; ports:[31000-31001,31005-31005]");
    assert.ok(Resources.of(standard.resources).contains(Resources.of(picked)), "never more than offered");
  });

  it("returns undefined when a scalar or the ports do not fit", () => {
    assert.equal(pickResources(standard, { cpus: 2.001 }), undefined);
    assert.equal(pickResources(standard, { mem: 32, disk: 1 }), undefined);
    assert.equal(pickResources(standard, { ports: 9 }), undefined);
    assert.equal(offerFits(standard, { cpus: 2, mem: 1024, ports: 8 }), true);
  });

  it("uses resources reserved to the role before unreserved ones, and skips other roles' reservations", () => {
    const mixed = offer(scalarResource("cpus", 1), scalarResource("cpus", 0.5, "web"), scalarResource("cpus", 4, "db"));
    const picked = pickResources(mixed, { cpus: 1.2 }, "web");
    assert.ok(picked);
    assert.equal(Resources.of(picked).toString(), "cpus(web):0.5; cpus:0.7");
    assert.equal(pickResources(mixed, { cpus: 2 }, "web"), undefined, "db's reservation is not web's");
  });

  it("refuses negative or non-finite amounts with INVALID_ARGUMENT", () => {
    assert.throws(() => pickResources(standard, { cpus: -1 }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /cpus/.test((e as Error).message));
    assert.throws(() => pickResources(standard, { mem: Number.NaN }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    assert.throws(() => pickResources(standard, { ports: 1.5 }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
  });
});

describe("commandTask", () => {
  const resources = pickResources(standard, { cpus: 0.1, mem: 32 })!;

  it("builds a shell task on the offer's agent with env, labels and a kill grace period", () => {
    const task = commandTask({ command: "echo hi", offer: standard, resources, name: "hello", env: { A: "1" }, labels: { k: "v" }, killGracePeriodSeconds: 2 });
    assert.equal(task.agentId?.value, "a-1");
    assert.match(task.taskId!.value, /^hello\./);
    assert.equal(task.command?.shell, true);
    assert.equal(task.command?.value, "echo hi");
    assert.deepEqual(task.command?.environment?.variables.map((v) => [v.name, v.value]), [["A", "1"]]);
    assert.deepEqual(task.labels?.labels.map((l) => [l.key, l.value]), [["k", "v"]]);
    assert.equal(task.killPolicy?.gracePeriodSeconds, 2);
    assert.equal(task.resources.length, 2);
  });

  it("draws the task id from the framework's seeded source: the same seed gives the same ids, in order", () => {
    const seed = testSeed(5);
    const ids = (random: Random) => [1, 2, 3].map(() => commandTask({ command: "true", offer: standard, resources, name: "t", random }).taskId!.value);
    const first = ids(new Random(seed));
    assert.deepEqual(ids(new Random(seed)), first, `seed ${seed} replays the task ids`);
    assert.equal(new Set(first).size, 3, "each task its own id");
    for (const id of first) assert.match(id, /^t\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notDeepEqual(ids(new Random(seed + 1)), first, "another seed, other ids");
  });

  it("runs argv directly when given a list, and gives each task its own id", () => {
    const a = commandTask({ command: ["sleep", "1"], offer: standard, resources });
    const b = commandTask({ command: ["sleep", "1"], offer: standard, resources });
    assert.equal(a.command?.shell, false);
    assert.equal(a.command?.value, "sleep");
    assert.deepEqual(a.command?.arguments, ["sleep", "1"]);
    assert.notEqual(a.taskId?.value, b.taskId?.value);
    assert.equal(commandTask({ command: "x", offer: standard, resources, taskId: "mine" }).taskId?.value, "mine");
  });

  it("refuses an empty command", () => {
    assert.throws(() => commandTask({ command: "  ", offer: standard, resources }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    assert.throws(() => commandTask({ command: [], offer: standard, resources }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
  });
});

describe("refuseFor", () => {
  it("makes filters, and refuses a negative time", () => {
    assert.equal(refuseFor(30).refuseSeconds, 30);
    assert.throws(() => refuseFor(-1), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
  });
});
