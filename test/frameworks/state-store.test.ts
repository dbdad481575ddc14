import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FencedStateStore, type StateMachine } from "../../src/frameworks/common/state-store.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { LocalLogs } from "../support/local-log-store.js";
import { waitFor } from "../support/wait.js";

type Op = { set: string; to: number } | { del: string };
const machine: StateMachine<Map<string, number>, Op> = {
  empty: () => new Map(),
  apply: (s, op) => void ("set" in op ? s.set(op.set, op.to) : s.delete(op.del)),
  snapshot: (s) => [...s].map(([k, v]) => ({ set: k, to: v })),
};
const open = (logs: LocalLogs, writer: string, snapshotEvery = 1_000) =>
  FencedStateStore.open({ store: logs.view(), log: "fw-state", writer, machine, snapshotEvery });

describe("fenced state store over the replicated log", () => {
  it("replays what was written when a new writer takes over", async () => {
    const logs = new LocalLogs();
    const a = await open(logs, "a");
    await a.write({ set: "x", to: 1 });
    await a.write([{ set: "y", to: 2 }, { set: "z", to: 3 }, { del: "x" }]);
    await a.writeMeta({ frameworkId: "fw-1" });
    assert.deepEqual([...a.state], [["y", 2], ["z", 3]]);
    const b = await open(logs, "b");
    assert.deepEqual([...b.state], [["y", 2], ["z", 3]]);
    assert.equal(b.meta("frameworkId"), "fw-1");
    assert.ok(b.epoch > a.epoch);
  });

  it("the log service refuses an append or truncation at a stale value version", async () => {
    const logs = new LocalLogs();
    const v = logs.view();
    const version = await v.compareAndSet("l", new Uint8Array([1]), 0);
    await v.append("l", [new Uint8Array([7])], version);
    await v.compareAndSet("l", new Uint8Array([2]), version);
    await assert.rejects(v.append("l", [new Uint8Array([8])], version), /cannot append to it at expected version 1, the value is at version 2/);
    await assert.rejects(v.truncate("l", 1, version), /cannot truncate it at expected version 1/);
    assert.deepEqual((await v.read("l", 0)).records.map((r) => [...r.data]), [[7]]);
  });

  it("fences the previous writer: its writes fail and it closes, the log keeps only the new writer's", async () => {
    const logs = new LocalLogs();
    let closed: DcosError | undefined;
    const a = await FencedStateStore.open({ store: logs.view(), log: "fw-state", writer: "a", machine, onClosed: (e) => (closed = e) });
    await a.write({ set: "k", to: 1 });
    const b = await open(logs, "b");
    await assert.rejects(a.write({ set: "k", to: 99 }), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION) && /Fenced/.test((e as Error).message));
    assert.ok(closed && closed.code === Code.FAILED_PRECONDITION);
    await assert.rejects(a.write({ set: "k", to: 100 }), /Fenced/);
    await b.write({ set: "k", to: 2 });
    const c = await open(logs, "c");
    assert.deepEqual([...c.state], [["k", 2]]);
  });

  it("a takeover at a lease term below the log's is refused and fences nobody; a higher term takes over", async () => {
    // A holder that lost its lease while its takeover was on the way (a partition healing)
    // must not fence out the leader that replaced it.
    const logs = new LocalLogs();
    const at = (writer: string, term: number) => FencedStateStore.open({ store: logs.view(), log: "fw-state", writer, term, machine });
    const newer = await at("newer", 14);
    await newer.write({ set: "k", to: 1 });
    await assert.rejects(at("stale", 13), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION) && /taken over by newer at lease term 14, after this writer's term 13/.test((e as Error).message));
    await newer.write({ set: "k", to: 2 });
    assert.equal(newer.closed, undefined);
    const next = await at("next", 15);
    assert.deepEqual([...next.state], [["k", 2]]);
    await assert.rejects(newer.write({ set: "k", to: 3 }), /Fenced/);
  });

  it("groups concurrent writes into one append and applies each once committed", async () => {
    const logs = new LocalLogs();
    const a = await open(logs, "a");
    const before = logs.appends;
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.write({ set: `k${i}`, to: i })));
    assert.ok(logs.appends - before <= 2, `${logs.appends - before} appends for 50 concurrent writes`);
    assert.equal(a.state.size, 50);
  });

  it("snapshots and truncates, and a takeover replays snapshot plus later records", async () => {
    const logs = new LocalLogs();
    const a = await open(logs, "a", 20);
    for (let i = 0; i < 95; i++) await a.write({ set: `k${i % 30}`, to: i });
    await a.writeMeta({ frameworkId: "fw-9" });


    await assert.rejects(logs.view().read("fw-state", 0), /was truncated: the log begins at [1-9]/);
    const b = await open(logs, "b", 20);
    assert.deepEqual(new Map([...b.state].sort()), new Map([...a.state].sort()));
    assert.equal(b.state.size, 30);
    assert.equal(b.meta("frameworkId"), "fw-9");
  });

  it("a snapshot appended over several calls lets writes go in between; a takeover replays them after it", async () => {
    const logs = new LocalLogs();
    const opts = { store: logs.view(), log: "fw-state", machine, snapshotEvery: 30, maxRecordBytes: 200, maxAppendBytes: 400 };
    const a = await FencedStateStore.open({ ...opts, writer: "a" });
    await a.writeMeta({ frameworkId: "fw-1" });
    for (let i = 0; i < 40; i++) await a.write({ set: `k${i}`, to: i });
    // The snapshot is under way (many small appends): these writes land between its markers.
    await Promise.all(Array.from({ length: 30 }, (_, i) => a.write(i % 3 === 0 ? { del: `k${i}` } : { set: `k${i}`, to: 1_000 + i })));
    await a.writeMeta({ frameworkId: "fw-2" });
    // Writes resolve while the snapshot is still being appended: wait for the store to be idle.
    await waitFor(() => !(a as unknown as { writing: boolean }).writing, "the snapshot appended", 5_000, 1);
    const first = await logs.view().read("fw-state", 0).then(
      () => 0,
      (e: Error) => Number(/begins at (\d+)/.exec(e.message)![1]),
    );
    const kinds = (await logs.view().read("fw-state", first)).records.map((r) => Object.keys(JSON.parse(new TextDecoder().decode(r.data)) as object).filter((k) => k !== "e" && k !== "s")[0]);
    const begin = kinds.indexOf("snap");
    const end = kinds.lastIndexOf("snap");
    assert.ok(begin >= 0 && end > begin, `a snapshot in the log: ${kinds.join(",")}`);
    assert.ok(kinds.slice(begin + 1, end).includes("ops"), `writes between the snapshot's markers: ${kinds.join(",")}`);
    const b = await FencedStateStore.open({ ...opts, writer: "b" });
    assert.deepEqual(new Map([...b.state].sort()), new Map([...a.state].sort()));
    assert.equal(b.meta("frameworkId"), "fw-2");
  });

  it("a record appended twice (a client retry) is replayed once; a writer that died mid-snapshot leaves the state intact", async () => {
    const logs = new LocalLogs();
    const view = logs.view();
    const a = await FencedStateStore.open({ store: view, log: "fw-state", writer: "a", machine });
    await a.write({ set: "n", to: 1 });
    // Replay the same record bytes again (what a retried Append does).
    const all = await view.read("fw-state", 0);
    const last = all.records[all.records.length - 1]!;
    await view.append("fw-state", [last.data], a.epoch);
    // A torn snapshot: begin marker and a part, then the writer is gone.
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    await view.append("fw-state", [enc({ e: a.epoch, s: 100, snap: "begin" }), enc({ e: a.epoch, s: 101, part: [{ set: "ghost", to: 1 }] })], a.epoch);
    const b = await open(logs, "b");
    await b.write({ set: "m", to: 2 });
    const c = await open(logs, "c");
    assert.deepEqual([...c.state].sort(), [["m", 2], ["n", 1]]);
  });
});
