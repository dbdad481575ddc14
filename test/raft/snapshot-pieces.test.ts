import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AgentInfoSchema, FrameworkInfoSchema, MachineIDSchema, MaintenanceScheduleSchema, MasterInfoSchema, QuotaInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { RaftClientSessionSchema, RaftSnapshotMetadataSchema, RaftSnapshotSchema, RaftStateMachineSnapshotSchema } from "../../src/gen/dcos/v1/raft_pb.js";
import { RegistrySnapshotSchema } from "../../src/gen/dcos/v1/registry_pb.js";
import { FrameworkLogCommandSchema } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { TaskSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { RegistryMachine } from "../../src/actors/master/raft-registrar.js";
import { encodeElected, encodeFrameworkLogCommand, encodeOperation } from "../../src/actors/master/registry-codec.js";
import type { RegistryOperation } from "../../src/actors/master/registry.js";
import { ClientSessions, SESSION_WINDOW, encodeProposal } from "../../src/raft/client-sessions.js";
import { RECORDS_PER_PIECE } from "../../src/raft/framework-logs.js";
import { joinPieces } from "../../src/raft/snapshot-pieces.js";
import { decodeInSteps, runSteps } from "../../src/raft/decode-steps.js";
import { FRAME_SLICE_BYTES, frameSnapshot } from "../../src/raft/storage/snapshotter.js";
import { encodeFrame, readFrame } from "../../src/raft/storage/wal-frame.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(18);
const text = (s: string) => new TextEncoder().encode(s);

/** The registry machine behind client sessions, fed through proposals as a member applies them. */
class Replica {
  readonly machine = new RegistryMachine();
  readonly sessions = new ClientSessions(this.machine);
  /** The session table as it should be: each client's last SESSION_WINDOW results, in order. */
  readonly results = new Map<string, Map<number, Uint8Array>>();
  private index = 0;
  private sequence = 0;

  propose(command: Uint8Array, client = "c1"): void {
    const sequence = ++this.sequence;
    const r = this.sessions.apply(encodeProposal(client, sequence, command), ++this.index);
    if (!r.ok) throw r.error;
    let results = this.results.get(client);
    if (!results) this.results.set(client, (results = new Map()));
    results.set(sequence, r.value);
    if (results.size > SESSION_WINDOW) results.delete(results.keys().next().value!);
  }

  op(op: RegistryOperation): void {
    this.propose(encodeOperation(op, this.machine.leaderTerm));
  }

  log(principal: string, name: string, command: MessageInitShape<typeof FrameworkLogCommandSchema>["command"], client?: string): void {
    this.propose(encodeFrameworkLogCommand(create(FrameworkLogCommandSchema, { log: { principal, name }, command })), client);
  }
}

const agent = (i: number) => create(AgentInfoSchema, { hostname: `host-${i}`, port: 5051, id: { value: `a${i}` } });

/** A replica with every part of the registry, several pieces of each large part, and framework logs. */
function filled(random: Random): Replica {
  const r = new Replica();
  r.propose(encodeElected(create(MasterInfoSchema, { id: "m1", hostname: "master-1" }), 3));
  r.op({ kind: "admitAgents", agents: Array.from({ length: 700 }, (_, i) => ({ agentId: `a${i}`, info: agent(i) })) });
  for (let i = 0; i < 30; i++) r.op({ kind: "markAgentUnreachable", agentId: `a${i}`, unreachableAtMs: 1_000 + i });
  r.op({ kind: "markAgentGone", agentId: "a40" });
  for (let i = 0; i < 300; i++) r.op({ kind: "addFramework", info: create(FrameworkInfoSchema, { id: { value: `f${i}` }, name: `fw ${i}`, user: "u" }) });
  r.op({ kind: "removeFramework", frameworkId: "f7" });
  r.op({ kind: "updateWeights", weights: new Map([["a", 2], ["b", 0.5]]) });
  r.op({ kind: "updateQuota", quotas: [create(QuotaInfoSchema, { role: "a", guarantees: [{ name: "cpus", type: 0, scalar: { value: 4 } }] })] });
  for (let i = 0; i < 300; i++) r.op({ kind: "completeTask", task: create(TaskSchema, { name: `t${i}`, taskId: { value: `t${i}` } }) });
  r.op({ kind: "updateAgentDrain", drain: { agentId: "a50", deactivated: true, drainInfo: undefined } });
  r.op({ kind: "updateMaintenanceSchedule", schedule: create(MaintenanceScheduleSchema, { windows: [{ machineIds: [{ hostname: "h1", ip: "10.0.0.1" }] }] }) });
  r.op({ kind: "startMaintenance", machines: [create(MachineIDSchema, { hostname: "h1", ip: "10.0.0.1" })] });
  for (let i = 0; i < 2 * RECORDS_PER_PIECE + 100; i++) {
    r.log(`p${i % 3}`, `log-${i % 2}`, { case: "append", value: { entries: [new Uint8Array(random.int(300)).fill(i & 255)] } }, `client-${i % 7}`);
  }
  r.log("p1", "log-1", { case: "truncate", value: { before: 50n } });
  r.log("p2", "log-0", { case: "compareAndSet", value: { value: text("owner"), expectedVersion: 0n } });
  return r;
}

/** What the snapshot is by definition: the session table and the registry written by the reflective encoder. */
function reflective(r: Replica): Uint8Array {
  const s = r.machine.registry;
  const registry = toBinary(
    RegistrySnapshotSchema,
    create(RegistrySnapshotSchema, {
      leaderTerm: BigInt(r.machine.leaderTerm),
      leader: r.machine.leader,
      agents: [...s.agents].map(([agentId, info]) => ({ agentId, info })),
      unreachable: [...s.unreachable].map(([agentId, u]) => ({ agentId, info: u.info, unreachableAtMs: BigInt(u.unreachableAtMs) })),
      goneAgents: [...s.gone],
      frameworks: [...s.frameworks.values()],
      removedFrameworks: [...s.removedFrameworks],
      weights: [...s.weights].map(([role, weight]) => ({ role, weight })),
      quotas: [...s.quotas.values()],
      completedTasks: s.completedTasks,
      agentDrains: [...s.drains.values()].map((d) => ({ agentId: d.agentId, deactivated: d.deactivated, drainInfo: d.drainInfo })),
      maintenanceSchedule: s.maintenance,
      downMachines: s.downMachines,
    }),
  );
  const logs = toBinary(RegistrySnapshotSchema, create(RegistrySnapshotSchema, { frameworkLogs: r.machine.logs.toProto() }));
  const state = new Uint8Array(registry.length + logs.length);
  state.set(registry);
  state.set(logs, registry.length);
  const list = [...r.results].flatMap(([client, results]) =>
    [...results].map(([sequence, result]) => create(RaftClientSessionSchema, { client, sequence: BigInt(sequence), result })),
  );
  return toBinary(RaftStateMachineSnapshotSchema, create(RaftStateMachineSnapshotSchema, { sessions: list, state }));
}

describe(`Snapshots in pieces (seed ${SEED})`, () => {
  it("the registry machine's pieces are the reflective encoder's bytes, in many pieces, none large", () => {
    const r = filled(new Random(SEED));
    const pieces = [...r.sessions.snapshotPieces()];
    assert.ok(pieces.length > 10, `${pieces.length} pieces`);
    const largest = Math.max(...pieces.map((p) => p.length));
    const total = pieces.reduce((n, p) => n + p.length, 0);
    assert.ok(largest < total / 4, `the largest piece (${largest} bytes) is a small part of the ${total}`);
    assert.deepEqual(joinPieces(pieces), reflective(r));
    const back = new Replica();
    back.sessions.restore(joinPieces(pieces));
    assert.deepEqual(back.sessions.snapshot(), r.sessions.snapshot(), "restores to the same state");
    assert.deepEqual(new Replica().sessions.snapshot(), reflective(new Replica()), "an empty machine");
  });

  it("writes every field of RegistrySnapshot (a field added to the proto must be added to registryPieces and this test)", () => {
    assert.deepEqual(
      RegistrySnapshotSchema.fields.map((f) => f.localName).sort(),
      [
        "agentDrains",
        "agents",
        "completedTasks",
        "downMachines",
        "frameworkLogs",
        "frameworks",
        "goneAgents",
        "leader",
        "leaderTerm",
        "maintenanceSchedule",
        "quotas",
        "removedFrameworks",
        "unreachable",
        "weights",
      ],
    );
  });

  it("draws the state as of the call while entries keep being applied (copy on write)", () => {
    const random = new Random(SEED + 1);
    const r = filled(random);
    const before = r.sessions.snapshot();
    const pieces = r.sessions.snapshotPieces();
    const drawn: Uint8Array[] = [];
    for (let step = 0; ; step++) {
      const next = pieces.next();
      if (next.done) break;
      drawn.push(next.value);
      // Between pieces: every kind of change to what the view captured.
      switch (step % 8) {
        case 0:
          r.log(`p${step % 3}`, `log-${step % 2}`, { case: "append", value: { entries: [text(`late ${step}`)] } }, `client-${step % 9}`);
          break;
        case 1:
          r.log(`p${step % 3}`, `log-${step % 2}`, { case: "truncate", value: { before: BigInt(100 + step) } });
          break;
        case 2:
          r.op({ kind: "removeAgent", agentId: `a${100 + step}` });
          break;
        case 3:
          r.op({ kind: "admitAgent", agentId: `late-${step}`, info: agent(10_000 + step) });
          break;
        case 4:
          r.op({ kind: "updateFramework", info: create(FrameworkInfoSchema, { id: { value: `f${step}` }, name: "renamed", user: "u" }) });
          break;
        case 5:
          r.op({ kind: "completeTask", task: create(TaskSchema, { name: `late ${step}`, taskId: { value: `late${step}` } }) });
          break;
        case 6:
          r.log("p9", `new-${step}`, { case: "compareAndSet", value: { value: text("v"), expectedVersion: 0n } });
          break;
        case 7:
          r.op({ kind: "stopMaintenance", machines: [create(MachineIDSchema, { hostname: "h1", ip: "10.0.0.1" })] });
          break;
      }
    }
    assert.deepEqual(joinPieces(drawn), before);
    assert.notDeepEqual(r.sessions.snapshot(), before, "the machine did change meanwhile");
  });

  it("frames a snapshot file from pieces, a slice per turn, to the bytes of encodeFrame(toBinary(snapshot))", async () => {
    const random = new Random(SEED + 2);
    const metadata = create(RaftSnapshotMetadataSchema, { index: 12_345n, term: 7n, membership: { voters: ["raft@a:1", "raft@b:2"] } });
    for (const sizes of [[], [0], [10], [3, 0, 200_000], [FRAME_SLICE_BYTES - 1, 2, FRAME_SLICE_BYTES * 2 + 17]]) {
      const pieces = sizes.map((n) => {
        const p = new Uint8Array(n);
        for (let i = 0; i < n; i += 997) p[i] = random.int(256);
        return p;
      });
      const data = joinPieces(pieces);
      const { frame, data: view } = await frameSnapshot(metadata, pieces);
      assert.deepEqual(frame, encodeFrame(toBinary(RaftSnapshotSchema, create(RaftSnapshotSchema, { metadata, data }))), `pieces of ${sizes.join(", ")} bytes`);
      assert.deepEqual(view, data);
      assert.equal(view.buffer, frame.buffer, "the data is a view into the frame, not a copy");
      assert.ok(readFrame(frame, 0).ok);
    }
  });

  it("decodes a snapshot in steps to what fromBinary gives, messages longer than a step split across steps", () => {
    const r = filled(new Random(SEED + 3));
    const bytes = r.sessions.snapshot();
    const whole = fromBinary(RaftStateMachineSnapshotSchema, bytes);
    const state = fromBinary(RegistrySnapshotSchema, whole.state);
    for (const chunk of [64, 1024, 64 * 1024]) {
      let steps = 0;
      const outer = decodeInSteps(RaftStateMachineSnapshotSchema, bytes, chunk);
      let next = outer.next();
      for (; !next.done; next = outer.next()) steps++;
      assert.ok(equals(RaftStateMachineSnapshotSchema, next.value, whole), `chunk ${chunk}: the table and state bytes`);
      const inner = runSteps(decodeInSteps(RegistrySnapshotSchema, whole.state, chunk));
      assert.ok(equals(RegistrySnapshotSchema, inner, state), `chunk ${chunk}: every field of the registry and the logs`);
      if (chunk === 64) assert.ok(steps > 100, `${steps} steps of 64 bytes`);
    }
    assert.throws(() => runSteps(decodeInSteps(RegistrySnapshotSchema, whole.state.subarray(0, whole.state.length - 3), 64)), "a truncated snapshot is refused");
  });

  it("restores in steps: the machine keeps its old state until the last step, then holds the snapshot's (as a whole restore)", () => {
    const r = filled(new Random(SEED + 4));
    const bytes = r.sessions.snapshot();
    const back = new Replica();
    back.propose(encodeElected(create(MasterInfoSchema, { id: "m9", hostname: "old" }), 1));
    back.op({ kind: "admitAgents", agents: [{ agentId: "old", info: agent(9999) }] });
    const old = back.sessions.snapshot();
    const steps = back.sessions.restoreSteps(bytes);
    let n = 0;
    while (!steps.next().done) {
      n++;
      if (n % 10 === 0) assert.deepEqual(back.sessions.snapshot(), old, `unchanged after ${n} steps`);
    }
    assert.ok(n > 1, `${n} steps`);
    assert.deepEqual(back.sessions.snapshot(), r.sessions.snapshot());
    assert.equal(back.machine.registry.agents.size, r.machine.registry.agents.size);
    assert.ok(!back.machine.registry.agents.has("old"));
    assert.equal(back.machine.leader?.id, "m1");
  });

  it("restores 200,000 records (21 MB) in steps of about 4 ms (the longest step is reported; a whole restore is one turn)", (t) => {
    const records = Array.from({ length: 200_000 }, (_, i) => new Uint8Array(100).fill(i & 255));
    const state = toBinary(RegistrySnapshotSchema, create(RegistrySnapshotSchema, { frameworkLogs: [{ log: { principal: "bench", name: "latency" }, begin: 1n, records }] }));
    const bytes = toBinary(RaftStateMachineSnapshotSchema, create(RaftStateMachineSnapshotSchema, { state }));
    let started = performance.now();
    const whole = new Replica();
    whole.sessions.restore(bytes);
    const wholeMs = performance.now() - started;
    const sliced = new Replica();
    const steps = sliced.sessions.restoreSteps(bytes);
    let longest = 0;
    let longestStep = 0;
    let slices = 0;
    let n = 0;
    for (let done = false; !done; ) {
      started = performance.now();
      for (;;) {
        const s0 = performance.now();
        done = !!steps.next().done;
        longestStep = Math.max(longestStep, performance.now() - s0);
        n++;
        if (done || performance.now() - started >= 4) break;
      }
      longest = Math.max(longest, performance.now() - started);
      slices++;
    }
    t.diagnostic(
      `200,000 records, ${bytes.length} bytes: a whole restore ${wholeMs.toFixed(1)} ms in one turn; in steps: ${n} steps in ${slices} slices of ~4 ms, the longest slice ${longest.toFixed(1)} ms, the longest step ${longestStep.toFixed(1)} ms`,
    );
    assert.ok(n > 300 && slices > 5, `${n} steps, ${slices} slices`);
    assert.deepEqual(sliced.sessions.snapshot(), whole.sessions.snapshot());
    assert.equal(sliced.machine.logs.toProto()[0]!.records.length, 200_000);
  });
});
