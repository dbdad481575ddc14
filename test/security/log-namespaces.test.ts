/**
 * Replicated-log namespaces: a principal reaches only its own logs (another principal's
 * only through the ACL access_replicated_logs), and its logs together have a size limit.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { FrameworkLogs } from "../../src/raft/framework-logs.js";
import { call, services, startSecuredMaster, type SecuredMaster } from "./secured-master.js";

let m: SecuredMaster | undefined;
afterEach(async () => {
  await m?.stop();
  m = undefined;
});

async function refused(p: Promise<unknown>, code: grpc.status, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `expected ${grpc.status[code]}, got ${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, pattern);
    return true;
  });
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe("Replicated-log namespaces", () => {
  it("another principal's log: bob cannot read, append to, truncate or overwrite alice's logs", async () => {
    m = await startSecuredMaster();
    const alice = m.client(services.log, "alice");
    // An empty principal is filled with the authenticated one.
    await call(alice, services.log, "append", { log: { name: "state" }, entries: [bytes("a1"), bytes("a2")] });
    await call(alice, services.log, "compareAndSet", { log: { principal: "alice", name: "state" }, value: bytes("v"), expectedVersion: 0n });
    assert.equal(m.logs.read({ principal: "alice", name: "state" } as never, 0, 0).records.length, 2);

    const bob = m.client(services.log, "bob");
    const theirs = { principal: "alice", name: "state" };
    const denied = /principal 'bob' may not use log alice\/state in the namespace of principal 'alice' \(ACL access_replicated_logs\)/;
    await refused(call(bob, services.log, "read", { log: theirs, from: 0n }), grpc.status.PERMISSION_DENIED, denied);
    await refused(call(bob, services.log, "append", { log: theirs, entries: [bytes("x")] }), grpc.status.PERMISSION_DENIED, denied);
    await refused(call(bob, services.log, "truncate", { log: theirs, before: 2n }), grpc.status.PERMISSION_DENIED, denied);
    await refused(call(bob, services.log, "compareAndSet", { log: theirs, value: bytes("x"), expectedVersion: 1n }), grpc.status.PERMISSION_DENIED, denied);
    await refused(call(bob, services.log, "getValue", { log: theirs }), grpc.status.PERMISSION_DENIED, denied);
    await refused(call(m.client(services.log, "anonymous"), services.log, "read", { log: theirs, from: 0n }), grpc.status.UNAUTHENTICATED, /Authentication required/);
    // bob's own "state" is a different log.
    await refused(call(bob, services.log, "read", { log: { name: "state" }, from: 0n }), grpc.status.NOT_FOUND, /No replicated log bob\/state/);
    assert.equal(m.logs.read({ principal: "alice", name: "state" } as never, 0, 0).records.length, 2, "alice's log is untouched");
    assert.equal(m.cluster.masterSystem.metrics.snapshot()["authorization/denied/access_replicated_logs"], 5);
  });

  it("the ACL access_replicated_logs lets one principal read another's logs", async () => {
    m = await startSecuredMaster({ acls: { access_replicated_logs: [{ principals: { values: ["ops"] }, log_principals: { values: ["alice"] } }] } });
    await call(m.client(services.log, "alice"), services.log, "append", { log: { name: "l" }, entries: [bytes("x")] });
    const r = await call<{ records: unknown[] }>(m.client(services.log, "ops"), services.log, "read", { log: { principal: "alice", name: "l" }, from: 0n });
    assert.equal(r.records.length, 1);
    await refused(call(m.client(services.log, "ops"), services.log, "read", { log: { principal: "bob", name: "l" }, from: 0n }), grpc.status.PERMISSION_DENIED, /ACL access_replicated_logs/);
  });

  it("a principal's logs together hold at most the limit; truncating makes room again", async () => {
    m = await startSecuredMaster({ maxLogBytes: 1000 });
    const alice = m.client(services.log, "alice");
    await call(alice, services.log, "append", { log: { name: "a" }, entries: [new Uint8Array(600)] });
    await refused(call(alice, services.log, "append", { log: { name: "b" }, entries: [new Uint8Array(500)] }), grpc.status.RESOURCE_EXHAUSTED, /principal 'alice' holds 600 bytes .* limit of 1000/);
    await refused(call(alice, services.log, "compareAndSet", { log: { name: "b" }, value: new Uint8Array(500), expectedVersion: 0n }), grpc.status.RESOURCE_EXHAUSTED, /limit of 1000/);
    // bob has his own allowance.
    await call(m.client(services.log, "bob"), services.log, "append", { log: { name: "b" }, entries: [new Uint8Array(900)] });
    await call(alice, services.log, "truncate", { log: { name: "a" }, before: 1n });
    assert.equal(m.logs.bytesOf("alice"), 0);
    await call(alice, services.log, "append", { log: { name: "b" }, entries: [new Uint8Array(500)] });
    // The accounting survives a snapshot restore.
    const restored = new FrameworkLogs(1000);
    restored.restore(m.logs.toProto());
    assert.equal(restored.bytesOf("alice"), 500);
    assert.equal(restored.bytesOf("bob"), 900);
  });
});
