import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { DurationSchema, FileDescriptorProtoSchema, StructSchema, UInt64ValueSchema, FloatValueSchema } from "@bufbuild/protobuf/wkt";
import { ClusterEventSchema, type ClusterEvent } from "../../src/gen/dcos/v1/operator_pb.js";
import { RaftMembershipSchema } from "../../src/gen/dcos/v1/raft_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { TaskSchema, TaskState, TaskStatusSchema, TaskStatus_Source, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { ByteBuffer, writeMessage } from "../../src/runtime/binary-writer.js";
import { Random } from "../../src/runtime/random.js";

/** Writes with the tap's writer, decodes with protobuf-es, and checks it is the message toBinary would give. */
function roundTrip<D extends DescMessage>(desc: D, message: MessageShape<D>, what: string, out = new ByteBuffer(16)): void {
  const before = out.pos;
  writeMessage(desc, message, out);
  const bytes = out.buf.slice(before, out.pos);
  assert.ok(equals(desc, fromBinary(desc, bytes), message), `${what}: decodes to the message written`);
  assert.equal(bytes.length, toBinary(desc, message).length, `${what}: as long as toBinary's bytes`);
}

function status(taskId: string, message: string): TaskStatus {
  return create(TaskStatusSchema, {
    taskId: { value: taskId },
    state: TaskState.RUNNING,
    message,
    source: TaskStatus_Source.EXECUTOR,
    agentId: { value: "m1-S1" },
    timestamp: 1_700_000_000.25,
    uuid: new Uint8Array([1, 2, 3, 4]),
    healthy: false,
    labels: { labels: [{ key: "k", value: "v" }] },
  });
}

describe("binary-writer (the event tap's protobuf encoder)", () => {
  it("writes every cluster event kind the master publishes as toBinary does", () => {
    const s = status("t1", "up");
    const task = create(TaskSchema, { taskId: { value: "t1" }, name: "web", frameworkId: { value: "fw" }, state: TaskState.STAGING, statuses: [s] });
    const kinds: ClusterEvent["kind"][] = [
      { case: "statusUpdate", value: create(ClusterEventSchema.field.statusUpdate!.message!, { frameworkId: { value: "fw" }, status: s }) as never },
      { case: "taskUpdated", value: { $typeName: "dcos.v1.ClusterEvent.TaskUpdated", frameworkId: { $typeName: "dcos.v1.FrameworkID", value: "fw" }, status: s, state: TaskState.RUNNING } },
      { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } },
      { case: "agentRemoved", value: { $typeName: "dcos.v1.ClusterEvent.AgentRemoved", agentId: { $typeName: "dcos.v1.AgentID", value: "m1-S1" }, reason: "gone" } },
      { case: "heartbeat", value: { $typeName: "dcos.v1.ClusterEvent.Heartbeat" } },
      { case: "leaderChanged", value: { $typeName: "dcos.v1.ClusterEvent.LeaderChanged", leader: undefined } },
    ];
    const out = new ByteBuffer(16);
    for (const [i, kind] of kinds.entries()) {
      roundTrip(ClusterEventSchema, create(ClusterEventSchema, { sequence: BigInt(i + 1), timestamp: 12.5, source: "master@h:5050", kind }), kind.case!, out);
    }
    roundTrip(ClusterEventSchema, create(ClusterEventSchema, {}), "an empty event");
    const offers = create(ClusterEventSchema, {
      kind: {
        case: "offersMade",
        value: {
          offers: [{ id: { value: "o1" }, resources: [
            { name: "ports", type: Value_Type.RANGES, ranges: { range: [{ begin: 31000, end: 32000 }] } },
            { name: "cpus", type: Value_Type.SCALAR, scalar: { value: 0.5 }, reservations: [{ role: "ops" }] },
            { name: "zones", type: Value_Type.SET, set: { item: ["a", "b"] } },
          ] }],
        },
      },
    });
    roundTrip(ClusterEventSchema, offers, "offersMade with ranges, scalars, sets and reservations");
  });

  it("writes maps, 64-bit and negative integers, floats, explicit presence, recursion and unknown fields", () => {
    roundTrip(RaftMembershipSchema, create(RaftMembershipSchema, { voters: ["a", "b"], learners: [], generations: { a: "1", "b-é": "2" } }), "a string map");
    roundTrip(DurationSchema, create(DurationSchema, { seconds: -5n, nanos: -250 }), "negative int64 and int32");
    roundTrip(UInt64ValueSchema, create(UInt64ValueSchema, { value: 18_446_744_073_709_551_615n }), "the largest uint64");
    roundTrip(FloatValueSchema, create(FloatValueSchema, { value: 1.5 }), "a float");
    const struct = create(StructSchema, {
      fields: {
        n: { kind: { case: "numberValue", value: 0 } },
        b: { kind: { case: "boolValue", value: false } },
        nested: { kind: { case: "structValue", value: { fields: { s: { kind: { case: "stringValue", value: "x".repeat(300) } } } } } },
        list: { kind: { case: "listValue", value: { values: [{ kind: { case: "nullValue", value: 0 } }] } } },
      },
    });
    roundTrip(StructSchema, struct, "a recursive Struct with oneofs holding zero values");
    // proto2 (explicit presence): a field set to its zero value is written, an unset one is not.
    roundTrip(FileDescriptorProtoSchema, create(FileDescriptorProtoSchema, { name: "", package: "p", messageType: [{ name: "M", field: [{ name: "f", number: 0 }] }] }), "proto2 fields set to zero");
    const withUnknown = fromBinary(TaskStatusSchema, new Uint8Array([...toBinary(TaskStatusSchema, status("t", "m")), 0xf8, 0x3e, 0x07, 0xc2, 0x3e, 0x02, 0x68, 0x69]));
    assert.ok(withUnknown.$unknown?.length === 2, "the test message carries two unknown fields");
    roundTrip(TaskStatusSchema, withUnknown, "unknown fields kept");
  });

  it("writes long and non-ASCII strings and lengths over 127 bytes (seeded random runs)", () => {
    const seed = 20261123;
    const random = new Random(seed);
    const alphabet = ["a", "é", "日", "🚀", "-", "0"];
    const text = (n: number): string => Array.from({ length: n }, () => alphabet[random.int(alphabet.length)]).join("");
    const out = new ByteBuffer(16);
    for (let run = 0; run < 200; run++) {
      const s = status(text(1 + random.int(300)), text(random.int(400)));
      const event = create(ClusterEventSchema, {
        sequence: BigInt(random.int(1000)) * 10_000_000_000n + BigInt(run),
        timestamp: random.int(2_000_000_000) / 7,
        source: text(random.int(200)),
        kind: { case: "taskUpdated", value: { frameworkId: { value: text(random.int(200)) }, status: s, state: TaskState.FAILED } },
      });
      roundTrip(ClusterEventSchema, event, `run ${run} (seed ${seed})`, out);
    }
  });

  it("writes nested contents whose length takes 1 to 4 bytes, moved in place, byte for byte as toBinary (buffers growing meanwhile)", () => {
    // A message in a message in a message: each level's length is fixed after its content is written.
    for (const n of [0, 100, 120, 127, 128, 16_370, 16_383, 16_384, 2_097_140, 2_097_151, 2_097_152]) {
      const event = create(ClusterEventSchema, {
        sequence: 7n,
        source: "s",
        kind: { case: "taskAdded", value: { task: create(TaskSchema, { name: "x".repeat(n), taskId: { value: "t" }, state: TaskState.RUNNING }) } },
      });
      for (const initial of [1, 16, 4 * 1024 * 1024]) {
        const out = new ByteBuffer(initial);
        out.pos = 0;
        writeMessage(ClusterEventSchema, event, out);
        assert.deepEqual(out.buf.subarray(0, out.pos), toBinary(ClusterEventSchema, event), `name of ${n} characters, buffer of ${initial} bytes at first`);
      }
    }
  });
});
