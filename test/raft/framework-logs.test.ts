import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { RegistrySnapshotSchema } from "../../src/gen/dcos/v1/registry_pb.js";
import { FrameworkLogs } from "../../src/raft/framework-logs.js";
import { FrameworkLogCommandSchema, LogNameSchema } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { RegistryMachine } from "../../src/actors/master/raft-registrar.js";
import { encodeFrameworkLogCommand } from "../../src/actors/master/registry-codec.js";

const log = create(LogNameSchema, { principal: "p", name: "l" });
const cmd = (command: MessageInitShape<typeof FrameworkLogCommandSchema>["command"]) => encodeFrameworkLogCommand(create(FrameworkLogCommandSchema, { log, command }));
const text = (s: string) => new TextEncoder().encode(s);

describe("Framework logs in the registry state machine", () => {
  it("are applied from registry commands, without term fencing, and survive the registry snapshot", () => {
    const m = new RegistryMachine();
    m.apply(cmd({ case: "append", value: { entries: [text("a"), text("b"), text("c")] } }));
    m.apply(cmd({ case: "truncate", value: { before: 1n } }));
    m.apply(cmd({ case: "compareAndSet", value: { value: text("v"), expectedVersion: 0n } }));
    const restored = new RegistryMachine();
    restored.restore(m.snapshot());
    const r = restored.logs.read(log, 1, 0);
    assert.deepEqual(r.records.map((x) => new TextDecoder().decode(x.data)), ["b", "c"]);
    assert.deepEqual([r.begin, r.end], [1, 3]);
    assert.equal(restored.logs.value(log).version, 1);
    assert.equal(restored.leaderTerm, m.leaderTerm);
  });

  it("encode their snapshot by hand to the same bytes as the reflective encoder", () => {
    const logs = new FrameworkLogs();
    const expected = () => toBinary(RegistrySnapshotSchema, create(RegistrySnapshotSchema, { frameworkLogs: logs.toProto() }));
    assert.deepEqual(logs.encodeSnapshot(), expected(), "no logs");
    const apply = (principal: string, name: string, command: MessageInitShape<typeof FrameworkLogCommandSchema>["command"]) =>
      logs.apply(create(FrameworkLogCommandSchema, { log: { principal, name }, command }));
    // Empty records (a repeated element is written even when empty), records of 1, 200 and 20,000 bytes (1-, 2- and 3-byte lengths).
    apply("", "no-principal", { case: "append", value: { entries: [new Uint8Array(0), text("x"), new Uint8Array(200).fill(1), new Uint8Array(20_000).fill(2)] } });
    assert.deepEqual(logs.encodeSnapshot(), expected(), "one log, no value");
    apply("prïncipal-ünicode", "l", { case: "compareAndSet", value: { value: text("v"), expectedVersion: 0n } });
    apply("prïncipal-ünicode", "l", { case: "append", value: { entries: Array.from({ length: 300 }, (_, i) => text(`record ${i}`)) } });
    apply("prïncipal-ünicode", "l", { case: "truncate", value: { before: 170n } });
    apply("q", "value-only", { case: "compareAndSet", value: { value: new Uint8Array(0), expectedVersion: 0n } });
    apply("q", "value-only", { case: "compareAndSet", value: { value: text("w".repeat(130)), expectedVersion: 1n } });
    assert.deepEqual(logs.encodeSnapshot(), expected(), "several logs: begin, versions, values, truncated");
    const restored = new FrameworkLogs();
    restored.restore(toProtoOf(logs.encodeSnapshot()));
    assert.deepEqual(restored.encodeSnapshot(), logs.encodeSnapshot(), "restores to the same logs");
  });
});

function toProtoOf(bytes: Uint8Array) {
  return fromBinary(RegistrySnapshotSchema, bytes).frameworkLogs;
}
