/**
 * The scheduler service's reader of ReconcileRequest (reconcile-request-reader.ts): the
 * message fromBinary gives, with a task's AgentID shared with the task before it when their
 * bytes are the same; any other bytes go to the schema's reader.
 */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, it } from "node:test";
import { ReconcileRequestSchema, SchedulerService, type ReconcileRequest } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { reconcileRequestReader } from "../../src/actors/master/reconcile-request-reader.js";
import { serviceDefinition } from "../../src/runtime/grpc/service.js";
import { Random } from "../../src/runtime/random.js";

const read = reconcileRequestReader();

function randomRequest(r: Random): ReconcileRequest {
  const id = (prefix: string): string => (r.chance(0.05) ? "" : r.chance(0.05) ? `${prefix}-é-${r.int(100)}` : `${prefix}-${r.int(r.chance(0.5) ? 4 : 1000)}`);
  const tasks = Array.from({ length: r.int(40) }, () => ({
    taskId: r.chance(0.9) ? { value: id("task") } : undefined,
    agentId: r.chance(0.85) ? { value: id("agent") } : undefined,
  }));
  return create(ReconcileRequestSchema, {
    frameworkId: r.chance(0.9) ? { value: id("fw") } : undefined,
    streamId: r.chance(0.9) ? id("stream") : "",
    tasks,
  });
}

describe("master: the ReconcileRequest reader", () => {
  it("gives the message fromBinary gives (random requests, seeded)", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const bytes = toBinary(ReconcileRequestSchema, randomRequest(new Random(seed)));
      assert.deepStrictEqual(read(bytes), fromBinary(ReconcileRequestSchema, bytes), `seed ${seed}`);
    }
  });

  it("shares an AgentID between tasks named one after the other with the same agent", () => {
    const bytes = toBinary(
      ReconcileRequestSchema,
      create(ReconcileRequestSchema, {
        frameworkId: { value: "fw" },
        streamId: "s",
        tasks: [
          { taskId: { value: "t1" }, agentId: { value: "a1" } },
          { taskId: { value: "t2" }, agentId: { value: "a1" } },
          { taskId: { value: "t3" }, agentId: { value: "a2" } },
          { taskId: { value: "t4" }, agentId: { value: "a1" } },
        ],
      }),
    );
    const m = read(bytes);
    assert.deepStrictEqual(m, fromBinary(ReconcileRequestSchema, bytes));
    const [t1, t2, t3, t4] = m.tasks;
    assert.equal(t1!.agentId, t2!.agentId, "the same agent's tasks in a row share its id");
    assert.notEqual(t2!.agentId, t3!.agentId);
    assert.notEqual(t1!.agentId, t4!.agentId, "only the task before is compared");
    assert.equal(t4!.agentId?.value, "a1");
  });

  it("leaves what it does not read as protobuf wrote it to the schema's reader: unknown fields, repeated singular fields, fields out of order", () => {
    const cases: Array<[string, (w: BinaryWriter) => void]> = [
      ["an unknown top-level field", (w) => w.tag(2, WireType.LengthDelimited).string("s").tag(9, WireType.Varint).int32(7)],
      ["the stream id twice (the last counts)", (w) => w.tag(2, WireType.LengthDelimited).string("s1").tag(2, WireType.LengthDelimited).string("s2")],
      ["the framework id twice (merged)", (w) => w.tag(1, WireType.LengthDelimited).bytes(new Uint8Array([0x0a, 1, 0x61])).tag(1, WireType.LengthDelimited).bytes(new Uint8Array([0x0a, 1, 0x62]))],
      ["a task's agent before its task id", (w) => w.tag(3, WireType.LengthDelimited).bytes(new Uint8Array([0x12, 3, 0x0a, 1, 0x61, 0x0a, 3, 0x0a, 1, 0x74]))],
      ["an unknown field in a task", (w) => w.tag(3, WireType.LengthDelimited).bytes(new Uint8Array([0x0a, 3, 0x0a, 1, 0x74, 0x18, 5]))],
      ["an unknown field in an AgentID", (w) => w.tag(3, WireType.LengthDelimited).bytes(new Uint8Array([0x12, 5, 0x0a, 1, 0x61, 0x10, 1]))],
      ["a stream id tag as a two-byte varint", (w) => w.raw(new Uint8Array([0x92, 0x00, 1, 0x73]))],
    ];
    for (const [what, write] of cases) {
      const w = new BinaryWriter();
      write(w);
      const bytes = w.finish();
      assert.deepStrictEqual(read(bytes), fromBinary(ReconcileRequestSchema, bytes), what);
    }
  });

  it("refuses every truncation of a request as the schema's reader does", () => {
    const bytes = toBinary(ReconcileRequestSchema, randomRequest(new Random(7)));
    for (let n = 1; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      let expected: unknown;
      try {
        expected = fromBinary(ReconcileRequestSchema, cut);
      } catch {
        expected = "refused";
      }
      let got: unknown;
      try {
        got = read(cut);
      } catch {
        got = "refused";
      }
      assert.deepStrictEqual(got, expected, `cut at ${n} of ${bytes.length}`);
    }
  });

  it("is what the scheduler service's definition decodes RECONCILE with when given (ServiceDefinitionOptions.requestDecoders)", () => {
    const bytes = toBinary(ReconcileRequestSchema, create(ReconcileRequestSchema, { tasks: [{ agentId: { value: "a" } }, { agentId: { value: "a" } }] }));
    const plain = serviceDefinition(SchedulerService).reconcile!.requestDeserialize(Buffer.from(bytes)) as ReconcileRequest;
    assert.notEqual(plain.tasks[0]!.agentId, plain.tasks[1]!.agentId);
    const lean = serviceDefinition(SchedulerService, { requestDecoders: { reconcile: read } }).reconcile!.requestDeserialize(Buffer.from(bytes)) as ReconcileRequest;
    assert.equal(lean.tasks[0]!.agentId, lean.tasks[1]!.agentId);
    assert.deepStrictEqual(lean, plain);
  });
});
