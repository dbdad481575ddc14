import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
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
});
