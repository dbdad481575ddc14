import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { RaftHardStateSchema, RaftMembershipSchema, RaftSnapshotMetadataSchema, RaftWalRecordSchema } from "../../src/gen/dcos/v1/raft_pb.js";
import { RegistryCommandSchema } from "../../src/gen/dcos/v1/registry_pb.js";
import {
  AppendRequestSchema,
  AppendResponseSchema,
  FrameworkLogCommandSchema,
  FrameworkLogResultSchema,
  ReplicatedLogService,
} from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { protoDecoder, protoEncoder } from "../../src/runtime/proto-codec.js";
import { RequestProblem, serviceDefinition } from "../../src/runtime/grpc/service.js";
import { Code } from "../../src/runtime/error.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(20261207);

/** Seeded commands as the Raft path carries them: appends of 0-5 records of 0-300 bytes, truncations, compare-and-sets. */
function commands(random: Random, n: number): MessageShape<typeof RegistryCommandSchema>[] {
  const out: MessageShape<typeof RegistryCommandSchema>[] = [];
  for (let i = 0; i < n; i++) {
    const log = { principal: `p${random.int(3)}`, name: random.int(2) === 0 ? "" : `log-${random.int(1000)}\u00e9` };
    const records = Array.from({ length: random.int(6) }, () => new Uint8Array(random.int(301)).map(() => random.int(256)));
    const kind = random.int(3);
    const cmd = create(FrameworkLogCommandSchema, {
      log,
      command:
        kind === 0
          ? { case: "append", value: { log, entries: records, ...(random.int(2) === 0 ? { expectedVersion: BigInt(random.int(1 << 30)) } : {}) } }
          : kind === 1
            ? { case: "truncate", value: { log, before: BigInt(random.int(1 << 30)) } }
            : { case: "compareAndSet", value: { log, expectedVersion: 2n ** 53n + BigInt(random.int(100)), value: records[0] ?? new Uint8Array(0) } },
    });
    out.push(create(RegistryCommandSchema, { term: BigInt(random.int(1000)), command: { case: "frameworkLog", value: cmd } }));
  }
  return out;
}

function sameAsProtobufEs<D extends DescMessage>(schema: D, messages: MessageShape<D>[], seed: number): void {
  const encode = protoEncoder(schema);
  const decode = protoDecoder(schema);
  for (const [i, m] of messages.entries()) {
    const bytes = toBinary(schema, m);
    assert.deepEqual(Buffer.from(encode(m)), Buffer.from(bytes), `${schema.typeName} #${i} encodes as toBinary does (seed ${seed})`);
    assert.deepEqual(decode(bytes), fromBinary(schema, bytes), `${schema.typeName} #${i} decodes as fromBinary does (seed ${seed})`);
  }
}

describe("proto-codec: the generated codecs on the Raft path", () => {
  it("registry commands, log commands and their results: the bytes of toBinary, the messages of fromBinary", () => {
    const random = new Random(SEED);
    const cmds = commands(random, 200);
    sameAsProtobufEs(RegistryCommandSchema, cmds, SEED);
    sameAsProtobufEs(
      FrameworkLogCommandSchema,
      cmds.map((c) => c.command.value as MessageShape<typeof FrameworkLogCommandSchema>),
      SEED,
    );
    const results = Array.from({ length: 100 }, () =>
      create(FrameworkLogResultSchema, {
        positions: Array.from({ length: random.int(4) }, () => BigInt(random.int(1 << 30)) * 4096n),
        begin: BigInt(random.int(1000)),
        version: random.int(2) === 0 ? 0n : 2n ** 63n + 1n,
      }),
    );
    sameAsProtobufEs(FrameworkLogResultSchema, results, SEED);
  });

  it("the WAL's hard-state and snapshot records", () => {
    const records = [
      create(RaftWalRecordSchema, { record: { case: "hardState", value: create(RaftHardStateSchema, { term: 7n, vote: "raft@127.0.0.1:4051", commit: 2n ** 40n, generation: "g-1" }) } }),
      create(RaftWalRecordSchema, { record: { case: "hardState", value: create(RaftHardStateSchema, {}) } }),
      create(RaftWalRecordSchema, {
        record: {
          case: "snapshot",
          value: create(RaftSnapshotMetadataSchema, { index: 10_000n, term: 3n, membership: create(RaftMembershipSchema, { voters: ["a", "b", "c"] }) }),
        },
      }),
    ];
    sameAsProtobufEs(RaftWalRecordSchema, records, SEED);
  });

  it("each encoding is a copy of its own: the next one does not overwrite it", () => {
    const encode = protoEncoder(FrameworkLogResultSchema);
    const first = encode(create(FrameworkLogResultSchema, { positions: [1n, 2n, 3n] }));
    const copy = Uint8Array.from(first);
    encode(create(FrameworkLogResultSchema, { positions: [900n, 901n, 902n, 903n], begin: 5n }));
    assert.deepEqual(first, copy);
  });

  it("a message that does not fit its schema is refused with protobuf-es's error", () => {
    const encode = protoEncoder(FrameworkLogResultSchema);
    const bad = { ...create(FrameworkLogResultSchema), positions: ["not a number"] } as unknown as MessageShape<typeof FrameworkLogResultSchema>;
    assert.throws(() => toBinary(FrameworkLogResultSchema, bad));
    assert.throws(() => encode(bad));
  });

  it("a gRPC service's (de)serializers: the same bytes and messages, bad requests a precise status", () => {
    const def = serviceDefinition(ReplicatedLogService, { maxRequestBytes: 1024 });
    const append = def["append"]!;
    const req = create(AppendRequestSchema, { log: { principal: "p", name: "l" }, entries: [new Uint8Array(100).fill(7)] });
    const bytes = append.requestSerialize(req);
    assert.ok(Buffer.isBuffer(bytes));
    assert.deepEqual(bytes, Buffer.from(toBinary(AppendRequestSchema, req)));
    assert.deepEqual(append.requestDeserialize(bytes), fromBinary(AppendRequestSchema, bytes));
    const res = create(AppendResponseSchema, { positions: [41n, 42n] });
    const resBytes = append.responseSerialize(res);
    assert.deepEqual(resBytes, Buffer.from(toBinary(AppendResponseSchema, res)));
    assert.deepEqual(append.responseDeserialize(resBytes), res);
    const garbage = append.requestDeserialize(Buffer.from([0x0a, 0x7f, 0x01]));
    assert.ok(garbage instanceof RequestProblem);
    assert.equal(garbage.code, Code.INVALID_ARGUMENT);
    const big = append.requestDeserialize(Buffer.alloc(2048));
    assert.ok(big instanceof RequestProblem);
    assert.equal(big.code, Code.RESOURCE_EXHAUSTED);
    // Without a request limit (a client's side), an undecodable message throws INVALID_ARGUMENT.
    const client = serviceDefinition(ReplicatedLogService)["append"]!;
    assert.throws(() => client.responseDeserialize(Buffer.from([0x0a, 0x7f])), (e: Error & { code?: number }) => e.code === Code.INVALID_ARGUMENT);
  });
});
