/**
 * The tasks of an encoded ACCEPT counted from its bytes (src/actors/master/accept-wire.ts),
 * which admission control weighs before decoding: equal to the decoded request's count for
 * seeded random requests of every operation kind, never below it, and undefined for bytes
 * that are not a message.
 */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, it } from "node:test";
import { launchedTasksInWire } from "../../src/actors/master/accept-wire.js";
import { LabelsSchema } from "../../src/gen/dcos/v1/common_pb.js";
import { Offer_OperationSchema, type Offer_Operation } from "../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema, type AcceptRequest } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { parseResources } from "../../src/resources/index.js";
import { Random } from "../../src/runtime/random.js";
import { commandTask } from "./harness.js";

function decodedCount(request: AcceptRequest): number {
  let n = 0;
  for (const op of request.operations) {
    if (op.kind.case === "launch") n += op.kind.value.taskInfos.length;
    else if (op.kind.case === "launchGroup") n += op.kind.value.taskGroup?.tasks.length ?? 0;
  }
  return n;
}

/** A random ACCEPT: launches, launch groups (with and without a task group) and resource operations, in random order. */
function randomAccept(random: Random, seed: number): AcceptRequest {
  let id = 0;
  const task = () => {
    const t = commandTask(`s${seed}-t${id++}`, "cpus:0.1;mem:32");
    if (random.chance(0.5)) t.labels = create(LabelsSchema, { labels: [{ key: "k", value: "v".repeat(random.int(300)) }] });
    return t;
  };
  const operations: Offer_Operation[] = [];
  for (let i = random.int(5); i > 0; i--) {
    const kind = random.int(4);
    if (kind === 0) {
      operations.push(create(Offer_OperationSchema, { kind: { case: "launch", value: { taskInfos: Array.from({ length: random.int(12) }, task) } } }));
    } else if (kind === 1) {
      const withGroup = random.chance(0.8);
      operations.push(
        create(Offer_OperationSchema, {
          kind: {
            case: "launchGroup",
            value: { executor: { executorId: { value: `e${seed}-${i}` } }, ...(withGroup ? { taskGroup: { tasks: Array.from({ length: random.int(6) }, task) } } : {}) },
          },
        }),
      );
    } else if (kind === 2) {
      operations.push(create(Offer_OperationSchema, { kind: { case: "reserve", value: { resources: parseResources("cpus:1;mem:64").toProto() } } }));
    } else {
      operations.push(create(Offer_OperationSchema, { kind: { case: "create", value: { volumes: parseResources("disk:10").toProto() } } }));
    }
  }
  return create(AcceptRequestSchema, {
    frameworkId: { value: `fw-${seed}` },
    streamId: "stream",
    offerIds: Array.from({ length: 1 + random.int(3) }, (_, i) => ({ value: `offer-${seed}-${i}` })),
    operations,
    filters: { refuseSeconds: random.int(10) },
  });
}

describe("accept-wire: the tasks of an encoded ACCEPT", () => {
  it("equals the decoded request's count, for 300 seeded random requests", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const request = randomAccept(new Random(seed), seed);
      assert.equal(launchedTasksInWire(toBinary(AcceptRequestSchema, request)), decodedCount(request), `seed ${seed}`);
    }
  });

  it("counts an operation whose oneof is set twice on the wire at least as the decoder does", () => {
    const launch = create(Offer_OperationSchema, { kind: { case: "launch", value: { taskInfos: [commandTask("a0"), commandTask("a1"), commandTask("a2")] } } });
    const group = create(Offer_OperationSchema, { kind: { case: "launchGroup", value: { executor: { executorId: { value: "e" } }, taskGroup: { tasks: [commandTask("g0"), commandTask("g1")] } } } });
    // One operation whose bytes hold both cases: decoded, the last one wins (the group's 2 tasks).
    const operation = new Uint8Array([...toBinary(Offer_OperationSchema, launch), ...toBinary(Offer_OperationSchema, group)]);
    const bytes = new BinaryWriter().tag(4, WireType.LengthDelimited).bytes(operation).finish();
    const decoded = decodedCount(fromBinary(AcceptRequestSchema, bytes));
    assert.equal(decoded, 2);
    assert.equal(launchedTasksInWire(bytes), 5);
    // Requests concatenated on the wire: their operations add up, as decoded.
    const two = new Uint8Array([...bytes, ...bytes]);
    assert.equal(decodedCount(fromBinary(AcceptRequestSchema, two)), 4);
    assert.equal(launchedTasksInWire(two), 10);
  });

  it("gives undefined for bytes that are not a message, and 0 for an ACCEPT without tasks", () => {
    assert.equal(launchedTasksInWire(new Uint8Array([0x22, 0x40, 1, 2])), undefined, "a length past the end");
    assert.equal(launchedTasksInWire(new Uint8Array([0x27])), undefined, "a wire type that does not exist");
    assert.equal(launchedTasksInWire(new Uint8Array()), 0);
    assert.equal(launchedTasksInWire(toBinary(AcceptRequestSchema, create(AcceptRequestSchema, { offerIds: [{ value: "o" }] }))), 0);
  });
});
