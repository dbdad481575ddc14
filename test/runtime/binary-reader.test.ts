import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, ScalarType, toBinary, type DescField, type DescFile, type DescMessage, type Message } from "@bufbuild/protobuf";
import { file_dcos_v1_cluster } from "../../src/gen/dcos/v1/cluster_pb.js";
import { file_dcos_v1_common } from "../../src/gen/dcos/v1/common_pb.js";
import { file_dcos_v1_executor } from "../../src/gen/dcos/v1/executor_pb.js";
import { file_dcos_v1_internal, ReregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_offers } from "../../src/gen/dcos/v1/offers_pb.js";
import { file_dcos_v1_operator } from "../../src/gen/dcos/v1/operator_pb.js";
import { file_dcos_v1_raft } from "../../src/gen/dcos/v1/raft_pb.js";
import { file_dcos_v1_registry } from "../../src/gen/dcos/v1/registry_pb.js";
import { AppendResponseSchema, file_dcos_v1_replicated_log } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { file_dcos_v1_resources } from "../../src/gen/dcos/v1/resources_pb.js";
import { file_dcos_v1_runtime } from "../../src/gen/dcos/v1/runtime_pb.js";
import { file_dcos_v1_scheduler } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { file_dcos_v1_tasks, TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema, StructSchema } from "@bufbuild/protobuf/wkt";
import { createFileRegistry } from "@bufbuild/protobuf";
import { EMPTY_BYTES, messageReader } from "../../src/runtime/binary-reader.js";
import { Random } from "../../src/runtime/random.js";
import { HeapGraph } from "../support/heap-graph.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(20261207);
const FILES: DescFile[] = [
  file_dcos_v1_cluster,
  file_dcos_v1_common,
  file_dcos_v1_executor,
  file_dcos_v1_internal,
  file_dcos_v1_offers,
  file_dcos_v1_operator,
  file_dcos_v1_raft,
  file_dcos_v1_registry,
  file_dcos_v1_replicated_log,
  file_dcos_v1_resources,
  file_dcos_v1_runtime,
  file_dcos_v1_scheduler,
  file_dcos_v1_tasks,
];

function allMessages(): DescMessage[] {
  const out: DescMessage[] = [];
  const visit = (m: DescMessage): void => {
    out.push(m);
    m.nestedMessages.forEach(visit);
  };
  for (const f of FILES) f.messages.forEach(visit);
  return out;
}

/** Seeded random messages of any type: zero values often, long and non-ASCII strings, extreme integers. */
class Gen {
  constructor(private readonly random: Random) {}

  private chance(p: number): boolean {
    return this.random.next() < p;
  }

  private text(): string {
    const alphabet = ["a", "Z", "0", "-", "*", "é", "日", "🚀"];
    const n = this.chance(0.2) ? 0 : this.chance(0.8) ? 1 + this.random.int(20) : 30 + this.random.int(300);
    const ascii = this.chance(0.7);
    return Array.from({ length: n }, () => alphabet[this.random.int(ascii ? 5 : alphabet.length)]).join("");
  }

  scalar(t: ScalarType, longAsString: boolean): unknown {
    const zero = this.chance(0.25);
    const r = this.random;
    const long = (v: bigint): unknown => (longAsString ? String(v) : v);
    switch (t) {
      case ScalarType.STRING:
        return zero ? "" : this.text();
      case ScalarType.BYTES:
        return zero ? new Uint8Array(0) : Uint8Array.from({ length: r.int(this.chance(0.1) ? 200 : 20) }, () => r.int(256));
      case ScalarType.BOOL:
        return !zero && this.chance(0.5);
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return zero ? 0 : this.chance(0.5) ? r.int(300) - 150 : (r.int(2 ** 32) | 0);
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return zero ? 0 : this.chance(0.5) ? r.int(300) : r.int(2 ** 32) >>> 0;
      case ScalarType.INT64:
      case ScalarType.SINT64:
      case ScalarType.SFIXED64:
        return long(zero ? 0n : BigInt.asIntN(64, (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32))) >> BigInt(r.int(64)));
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return long(zero ? 0n : ((BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32))) >> BigInt(r.int(64)));
      case ScalarType.FLOAT:
        return zero ? 0 : Math.fround((r.next() - 0.5) * 10 ** r.int(12));
      case ScalarType.DOUBLE:
        return zero ? 0 : (r.next() - 0.5) * 10 ** r.int(20);
    }
  }

  private enumValue(f: DescField & { enum: { values: readonly { number: number }[] } }): number {
    if (this.chance(0.1)) return 1000 + this.random.int(10); // unknown to this build (open enum)
    const values = f.enum.values;
    return values[this.random.int(values.length)]!.number;
  }

  message(desc: DescMessage, depth: number): Message {
    const m = create(desc) as unknown as Record<string, unknown>;
    if (depth > 4) return m as unknown as Message;
    for (const member of desc.members) {
      if (member.kind === "oneof") {
        if (this.chance(0.3)) continue;
        const f = member.fields[this.random.int(member.fields.length)]!;
        m[member.localName] = { case: f.localName, value: this.single(f, depth) };
        continue;
      }
      const f = member;
      if (f.fieldKind === "list") {
        const n = this.chance(0.4) ? 0 : 1 + this.random.int(3);
        m[f.localName] = Array.from({ length: n }, () =>
          f.listKind === "message" ? this.message(f.message, depth + 1) : f.listKind === "enum" ? this.enumValue(f) : this.scalar(f.scalar, f.longAsString),
        );
      } else if (f.fieldKind === "map") {
        const map: Record<string, unknown> = {};
        for (let i = this.chance(0.4) ? 0 : 1 + this.random.int(3); i > 0; i--) {
          const key = String(this.scalar(f.mapKey, false));
          map[key] = f.mapKind === "message" ? this.message(f.message, depth + 1) : f.mapKind === "enum" ? this.enumValue(f) : this.scalar(f.scalar, false);
        }
        m[f.localName] = map;
      } else if (f.fieldKind === "message") {
        if (this.chance(0.6)) m[f.localName] = this.message(f.message, depth + 1);
      } else if (f.presence === 2 /* IMPLICIT */ || this.chance(0.5)) {
        m[f.localName] = this.single(f, depth);
      }
    }
    return m as unknown as Message;
  }

  private single(f: DescField, depth: number): unknown {
    if (f.fieldKind === "message") return this.message(f.message, depth + 1);
    if (f.fieldKind === "enum") return this.chance(0.25) ? 0 : this.enumValue(f);
    if (f.fieldKind === "scalar") return this.scalar(f.scalar, f.longAsString);
    throw new Error(`not singular: ${f.name}`);
  }
}

/**
 * A proto3 message with a field of every scalar type, singular, repeated and as a map's
 * value: the protocol's own files use no sint32/sint64/sfixed, so their cases would go
 * untested by the messages above.
 */
function everyScalarMessage(): DescMessage {
  const T = FieldDescriptorProto_Type;
  const scalars: [string, FieldDescriptorProto_Type][] = [
    ["d", T.DOUBLE], ["f", T.FLOAT], ["i64", T.INT64], ["u64", T.UINT64], ["i32", T.INT32], ["fx64", T.FIXED64], ["fx32", T.FIXED32],
    ["b", T.BOOL], ["s", T.STRING], ["by", T.BYTES], ["u32", T.UINT32], ["sfx32", T.SFIXED32], ["sfx64", T.SFIXED64], ["si32", T.SINT32], ["si64", T.SINT64],
  ];
  const field = (name: string, number: number, type: FieldDescriptorProto_Type, label = FieldDescriptorProto_Label.OPTIONAL, typeName?: string) =>
    ({ name, number, type, label, jsonName: name, ...(typeName ? { typeName } : {}) });
  const fields = scalars.flatMap(([name, type], i) => [field(name, i + 1, type), field(`r_${name}`, 100 + i, type, FieldDescriptorProto_Label.REPEATED)]);
  const mapEntries = scalars
    .filter(([, type]) => type !== T.BYTES)
    .map(([name, type]) => ({ name: `M${name}Entry`, field: [field("key", 1, T.SINT32), field("value", 2, type)], options: { mapEntry: true } }));
  mapEntries.forEach((e, i) => fields.push(field(`m_${e.name}`, 200 + i, T.MESSAGE, FieldDescriptorProto_Label.REPEATED, `.t.Every.${e.name}`)));
  const file = create(FileDescriptorProtoSchema, { name: "t/every.proto", package: "t", syntax: "proto3", messageType: [{ name: "Every", field: fields, nestedType: mapEntries }] });
  return createFileRegistry(file, () => undefined).getMessage("t.Every")!;
}

/** The reader's message and fromBinary's, or both errors. */
function sameAsFromBinary(desc: DescMessage, bytes: Uint8Array, what: string): void {
  let expected: unknown;
  let expectedError: unknown;
  try {
    expected = fromBinary(desc, bytes);
  } catch (err) {
    expectedError = err;
  }
  const read = messageReader(desc);
  if (expectedError !== undefined) {
    assert.throws(() => read(bytes), `${what}: fromBinary refuses these bytes (${(expectedError as Error).message}); so must the reader`);
    return;
  }
  assert.deepStrictEqual(read(bytes), expected, what);
}

/**
 * The bytes of the backing store of list `field` of every message of type `typeName` alive
 * whose `name` is `name`, from a heap snapshot (V8 shows no array's capacity otherwise).
 */
async function listStores(typeName: string, name: string, field: string): Promise<number[]> {
  const heap = await HeapGraph.take();
  const out: number[] = [];
  for (const n of heap.nodes()) {
    let isType = false;
    let named = false;
    let list: number | undefined;
    for (const [edge, to] of heap.edges(n, "property")) {
      if (edge === "$typeName" && heap.name(to) === typeName) isType = true;
      if (edge === "name" && heap.name(to) === name) named = true;
      if (edge === field) list = to;
    }
    if (!isType || !named || list === undefined) continue;
    for (const [edge, to] of heap.edges(list, "internal")) if (edge === "elements") out.push(heap.bytes(to));
  }
  return out;
}

describe("binary-reader (the actor systems' protobuf decoder)", () => {
  it("reads every message type of the protocol as fromBinary does (seeded random messages)", () => {
    const random = new Random(SEED);
    const gen = new Gen(random);
    const types = allMessages();
    assert.ok(types.length > 150, `${types.length} message types`);
    for (const desc of types) {
      for (let run = 0; run < 12; run++) {
        const message = gen.message(desc, 0);
        sameAsFromBinary(desc, toBinary(desc, message), `${desc.typeName} run ${run} (seed ${SEED})`);
      }
    }
  });

  it("keeps unknown fields, merges a message field given twice, and reads packed and unpacked lists alike", () => {
    const task = create(TaskSchema, { name: "web", taskId: { value: "t-1" }, state: TaskState.RUNNING, labels: { labels: [{ key: "a", value: "1" }] } });
    const bytes = toBinary(TaskSchema, task);
    // Field 99 (varint), 100 (bytes), 101 (fixed32), 102 (fixed64): unknown to Task.
    const unknown = [0x98, 0x06, 0x2a, 0xa2, 0x06, 0x02, 0x68, 0x69, 0xad, 0x06, 1, 2, 3, 4, 0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8];
    sameAsFromBinary(TaskSchema, Uint8Array.from([...bytes, ...unknown]), "unknown fields");
    assert.equal(messageReader(TaskSchema)(Uint8Array.from([...bytes, ...unknown])).$unknown?.length, 4);
    // labels (11) twice: the second merges into the first (its list appended).
    const again = toBinary(TaskSchema, create(TaskSchema, { labels: { labels: [{ key: "b", value: "2" }] }, taskId: { value: "t-2" } }));
    sameAsFromBinary(TaskSchema, Uint8Array.from([...bytes, ...again]), "a message field given twice");
    assert.equal(messageReader(TaskSchema)(Uint8Array.from([...bytes, ...again])).labels?.labels.length, 2);
    // AppendResponse.positions (repeated uint64): packed (as written) and unpacked.
    sameAsFromBinary(AppendResponseSchema, toBinary(AppendResponseSchema, create(AppendResponseSchema, { positions: [1n, 300n, 2n ** 63n] })), "packed");
    const unpacked = Uint8Array.from([0x08, 0x01, 0x08, 0xac, 0x02]);
    sameAsFromBinary(AppendResponseSchema, unpacked, "unpacked");
    assert.deepEqual(messageReader(AppendResponseSchema)(unpacked).positions, [1n, 300n]);
  });

  it("refuses malformed bytes as fromBinary does, never reading past the end (every truncation, seeded corruptions)", () => {
    const random = new Random(SEED + 1);
    const gen = new Gen(random);
    for (let run = 0; run < 6; run++) {
      const message = gen.message(ReregisterAgentSchema, 0);
      const bytes = toBinary(ReregisterAgentSchema, message as ReturnType<typeof create<typeof ReregisterAgentSchema>>);
      for (let cut = 0; cut < bytes.length; cut++) sameAsFromBinary(ReregisterAgentSchema, bytes.subarray(0, cut), `run ${run} cut at ${cut} of ${bytes.length} (seed ${SEED + 1})`);
      for (let k = 0; k < 20 && bytes.length > 0; k++) {
        const bad = bytes.slice();
        bad[random.int(bad.length)] = random.int(256);
        // Only that it throws or returns a message (no crash, no hang): a corrupted byte may still be valid protobuf.
        try {
          messageReader(ReregisterAgentSchema)(bad);
        } catch (err) {
          assert.ok(err instanceof Error, `run ${run}: a corrupted message throws an Error (seed ${SEED + 1})`);
        }
      }
    }
    assert.throws(() => messageReader(TaskSchema)(Uint8Array.from([0x00, 0x01])), /field number 0/);
    assert.throws(() => messageReader(TaskSchema)(Uint8Array.from([0x0a, 0x05, 0x61])), /past the end/);
    assert.throws(() => messageReader(TaskSchema)(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /longer than 10 bytes/);
  });

  it("reads every scalar type (zigzag sint32/sint64, sfixed, float) singular, repeated and as map keys and values", () => {
    const desc = everyScalarMessage();
    const gen = new Gen(new Random(SEED + 2));
    assert.ok(desc.fields.some((f) => f.fieldKind === "map") && desc.fields.some((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.SINT64));
    for (let run = 0; run < 200; run++) sameAsFromBinary(desc, toBinary(desc, gen.message(desc, 0)), `run ${run} (seed ${SEED + 2})`);
    const zigzag = create(desc, { si32: -2147483648, si64: -9223372036854775808n, rSi32: [-1, 1, 2147483647], rSi64: [-1n, 9223372036854775807n] } as never);
    const read = messageReader(desc)(toBinary(desc, zigzag)) as unknown as Record<string, unknown>;
    assert.deepEqual([read.si32, read.si64, read.rSi32, read.rSi64], [-2147483648, -9223372036854775808n, [-1, 1, 2147483647], [-1n, 9223372036854775807n]]);
  });

  it("gives every empty bytes field, zero-valued or read, the one shared empty array (no ArrayBuffer per decoded message)", () => {
    const read = messageReader(TaskSchema);
    const bytes = toBinary(TaskSchema, create(TaskSchema, { name: "web", taskId: { value: "t-1" }, statuses: [{ taskId: { value: "t-1" }, uuid: new Uint8Array([1, 2]) }] }));
    const one = read(bytes);
    const two = read(bytes);
    assert.equal(one.statusUpdateUuid, EMPTY_BYTES, "a zero-valued bytes field is the shared empty array");
    assert.equal(two.statusUpdateUuid, EMPTY_BYTES, "in every message decoded");
    assert.equal(one.statuses[0]!.data, EMPTY_BYTES, "nested messages' too");
    assert.deepEqual([...one.statuses[0]!.uuid], [1, 2], "non-empty bytes are read as before");
    assert.deepEqual(one, fromBinary(TaskSchema, bytes), "the message fromBinary gives");
    // status_update_uuid (field 10, length-delimited: tag 0x52) written with length 0.
    const withEmpty = new Uint8Array([...bytes, 0x52, 0]);
    assert.equal(read(withEmpty).statusUpdateUuid, EMPTY_BYTES, "an empty bytes field on the wire too");
    assert.deepEqual(read(withEmpty), fromBinary(TaskSchema, withEmpty));
    assert.equal(EMPTY_BYTES.length, 0, "nothing wrote into it");
  });

  it("leaves the fields a receiver never reads at their zero values, their bytes checked and skipped (seeded random messages)", () => {
    const random = new Random(SEED + 2);
    const gen = new Gen(random);
    /** fromBinary's message with the field at the zero value create() gives (absent when create() sets none). */
    const without = (desc: DescMessage, bytes: Uint8Array, name: string): unknown => {
      const expected = fromBinary(desc, bytes) as unknown as Record<string, unknown>;
      const zero = create(desc) as unknown as Record<string, unknown>;
      if (Object.hasOwn(zero, name)) expected[name] = zero[name];
      else delete expected[name];
      return expected;
    };
    let checked = 0;
    for (const desc of allMessages()) {
      const plain = desc.fields.filter((f) => !f.oneof);
      if (plain.length === 0 || desc.typeName.startsWith("google.protobuf.")) continue;
      for (let run = 0; run < 4; run++) {
        const name = plain[random.int(plain.length)]!.localName;
        const bytes = toBinary(desc, gen.message(desc, 0));
        const read = messageReader(desc, { unread: [name] as never[] });
        assert.deepStrictEqual(read(bytes), without(desc, bytes, name), `${desc.typeName}.${name} run ${run} (seed ${SEED + 2})`);
        checked++;
      }
    }
    assert.ok(checked > 400, `${checked} messages`);
    // The master's case: a ReregisterAgent's FrameworkInfos skipped, every other field (unknown ones too) as fromBinary reads them.
    const message = create(ReregisterAgentSchema, { agentInfo: { hostname: "h", id: { value: "S1" } }, tasks: [{ taskId: { value: "t" }, state: TaskState.RUNNING }], frameworks: [{ name: "f", roles: ["*"] }, { name: "g" }] });
    const bytes = Uint8Array.from([...toBinary(ReregisterAgentSchema, message), 0x98, 0x06, 0x2a]);
    const read = messageReader(ReregisterAgentSchema, { unread: ["frameworks"] });
    assert.deepStrictEqual(read(bytes), without(ReregisterAgentSchema, bytes, "frameworks"));
    assert.deepEqual(read(bytes).frameworks, []);
    assert.equal(read(bytes).$unknown?.length, 1, "unknown fields are still kept");
    // Skipped bytes are still checked: every truncation is refused as fromBinary refuses it.
    for (let cut = 0; cut < bytes.length - 3; cut++) {
      let refused = false;
      try {
        fromBinary(ReregisterAgentSchema, bytes.subarray(0, cut));
      } catch {
        refused = true;
      }
      if (refused) assert.throws(() => read(bytes.subarray(0, cut)), `cut at ${cut}`);
    }
    // The shared reader is untouched.
    assert.equal(messageReader(ReregisterAgentSchema)(bytes).frameworks.length, 2);
    assert.throws(() => messageReader(ReregisterAgentSchema, { unread: ["nope" as never] }), /no field 'nope'/);
  });

  it("gives lists no room beyond their elements (a kept message holds no spare slots: the heap snapshot's backing stores)", async () => {
    const read = messageReader(TaskSchema);
    const resources = [1, 2].map((i) => ({ name: `r${i}`, type: 0, scalar: { value: i } }));
    const bytes = toBinary(TaskSchema, create(TaskSchema, { name: "kept-by-the-list-test", taskId: { value: "t-1" }, resources }));
    const kept = Array.from({ length: 100 }, () => read(bytes));
    assert.deepEqual(kept[0], fromBinary(TaskSchema, bytes), "the message fromBinary gives");
    const stores = await listStores("dcos.v1.Task", "kept-by-the-list-test", "resources");
    assert.ok(stores.length >= kept.length, `${stores.length} of the ${kept.length} Task.resources found in the heap`);
    // Two elements: a 16-byte header and two 8-byte slots; an array grown by push has 17 slots (152 bytes).
    assert.ok(Math.max(...stores) <= 32, `backing stores of two-element lists: ${[...new Set(stores)].join(", ")} bytes`);
  });

  it("leaves to fromBinary the types it does not compile (google.protobuf's own)", () => {
    const struct = create(StructSchema, { fields: { a: { kind: { case: "numberValue", value: 1 } } } });
    assert.deepStrictEqual(messageReader(StructSchema)(toBinary(StructSchema, struct)), fromBinary(StructSchema, toBinary(StructSchema, struct)));
  });
});
