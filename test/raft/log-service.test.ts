import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ReadRequestSchema, ReplicatedLogService } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { unary } from "../support/grpc-loopback.js";
import { startMasterRole, type RunningMaster } from "../../src/node/master-role.js";
import { ReplicatedLogClient } from "../../src/raft/log-client.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { freePort } from "../support/master-processes.js";
import { testMasterRoleOptions } from "../support/master-role-options.js";
import { waitFor } from "../support/wait.js";

const RawClient = clientConstructor(ReplicatedLogService);
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

async function rejectsWith(p: Promise<unknown>, code: Code, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(DcosError.is(e, code), `expected ${Code[code]}, got ${String(e)}`);
    assert.match((e as DcosError).message, pattern);
    return true;
  });
}

/** Three masters (a Raft group) in this process on loopback, each with its own work dir. */
class ThreeMasters {
  masters: (RunningMaster | undefined)[] = [];
  addresses: string[] = [];
  private dir = "";

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "replicated-log-service-"));
    const ports = [await freePort(), await freePort(), await freePort()];
    this.addresses = ports.map((p) => `127.0.0.1:${p}`);
    this.masters = await Promise.all(ports.map((port, i) => this.startOne(i, port)));
  }

  private startOne(i: number, port: number): Promise<RunningMaster> {
    return startMasterRole(testMasterRoleOptions(this.addresses, join(this.dir, `m${i}`), port));
  }

  /** The index of the master whose raft member leads, once one does. */
  async leader(except = -1): Promise<number> {
    return waitFor(async () => {
      for (let i = 0; i < this.masters.length; i++) {
        const m = this.masters[i];
        if (!m || i === except) continue;
        if (m.master.leading) return i + 1;
      }
      return undefined;
    }, "a leading master", 30_000).then((i) => i - 1);
  }

  async stop(i: number): Promise<void> {
    const m = this.masters[i];
    this.masters[i] = undefined;
    await m?.stop();
  }

  async stopAll(): Promise<void> {
    for (let i = 0; i < this.masters.length; i++) await this.stop(i);
    await rm(this.dir, { recursive: true, force: true });
  }
}

describe("ReplicatedLogService on three masters, through a real gRPC client", () => {
  const cluster = new ThreeMasters();
  let client: ReplicatedLogClient;

  before(async () => {
    await cluster.start();
    // Start at a standby on purpose (if there is one): the client must follow dcos-leader.
    client = new ReplicatedLogClient({ masters: cluster.addresses, principal: "marathon", timeoutMs: 20_000 });
  });

  after(async () => {
    client.close();
    await cluster.stopAll();
  });

  it("appends, reads, truncates, and compare-and-sets a framework's state; errors are precise", async () => {
    assert.deepEqual(await client.append("tasks", [text("a"), text("b"), text("c")]), [0, 1, 2]);
    assert.deepEqual(await client.append("tasks", [text("d")]), [3]);
    const all = await client.read("tasks", 0);
    assert.deepEqual(all.records.map((r) => str(r.data)), ["a", "b", "c", "d"]);
    assert.deepEqual([all.begin, all.end], [0, 4]);
    assert.deepEqual((await client.read("tasks", 1, 3)).records.map((r) => [Number(r.position), str(r.data)]), [[1, "b"], [2, "c"]]);
    assert.equal(await client.truncate("tasks", 2), 2);
    await rejectsWith(client.read("tasks", 1), Code.OUT_OF_RANGE, /Position 1 of log marathon\/tasks was truncated: the log begins at 2/);
    await rejectsWith(client.read("tasks", 9), Code.OUT_OF_RANGE, /past its end 4/);
    await rejectsWith(client.truncate("tasks", 10), Code.OUT_OF_RANGE, /it ends at 4/);
    await rejectsWith(client.read("nope", 0), Code.NOT_FOUND, /No replicated log marathon\/nope/);
    await rejectsWith(client.append("", [text("x")]), Code.INVALID_ARGUMENT, /names no log/);

    assert.equal(await client.compareAndSet("state", text("v1"), 0), 1);
    assert.equal(await client.compareAndSet("state", text("v2"), 1), 2);
    await rejectsWith(client.compareAndSet("state", text("stale"), 1), Code.FAILED_PRECONDITION, /expected version 1, the value is at version 2/);
    const v = await client.getValue("state");
    assert.deepEqual([str(v.value), v.version], ["v2", 2]);

    // Namespaced per principal: another framework's "tasks" is another log.
    const other = new ReplicatedLogClient({ masters: cluster.addresses, principal: "chronos" });
    try {
      await rejectsWith(other.read("tasks", 0), Code.NOT_FOUND, /chronos\/tasks/);
    } finally {
      other.close();
    }
  });

  it("a standby answers UNAVAILABLE naming the leader in dcos-leader; the client follows it", async () => {
    const leader = await cluster.leader();
    const standby = cluster.addresses[(leader + 1) % 3]!;
    const raw = new RawClient(standby, grpc.credentials.createInsecure());
    try {
      const request = create(ReadRequestSchema, { log: { principal: "marathon", name: "tasks" }, from: 2n });
      await assert.rejects(unary(raw, "Read", request), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNAVAILABLE, e.message);
        assert.match(e.details, /Not the leader/);
        assert.equal(e.metadata.get("dcos-leader")[0], cluster.addresses[leader]);
        return true;
      });
    } finally {
      raw.close();
    }
    const follower = new ReplicatedLogClient({ masters: [standby], principal: "marathon" });
    try {
      assert.deepEqual((await follower.read("tasks", 2)).records.map((r) => str(r.data)), ["c", "d"]);
      assert.equal(follower.master, cluster.addresses[leader]);
    } finally {
      follower.close();
    }
  });

  it("a master that never answers (cut off by a partition) is left after the attempt timeout: the call reaches the others", async () => {
    // A black hole: it accepts TCP connections and never says a word, as a host whose packets a partition drops.
    const sockets = new Set<Socket>();
    const hole = createServer((sock) => sockets.add(sock));
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(hole.address() as AddressInfo).port}`;
    const stuck = new ReplicatedLogClient({ masters: [address, ...cluster.addresses], principal: "marathon", timeoutMs: 20_000, attemptTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      assert.deepEqual((await stuck.read("tasks", 2)).records.map((r) => str(r.data)), ["c", "d"]);
      assert.notEqual(stuck.master, address, "it moved on from the silent master");
      assert.ok(Date.now() - started < 15_000, `answered within the call's timeout (${Date.now() - started} ms)`);
    } finally {
      stuck.close();
      for (const sock of sockets) sock.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  it("appends made while a call runs go out together in one call; each caller gets its own positions, in call order", async () => {
    const leader = await cluster.leader();
    const metrics = cluster.masters[leader]!.node.metrics;
    const calls = () => metrics.snapshot()["replicated_log/calls"] ?? 0;
    const batched = new ReplicatedLogClient({ masters: [cluster.addresses[leader]!], principal: "marathon", timeoutMs: 20_000, appendsInFlight: 1 });
    try {
      assert.deepEqual(await batched.append("batched", [text("first")]), [0]); // connected
      const before = calls();
      // Every fifth append carries two records. The first goes out at once; the 49 made while it runs wait and go out in one call.
      const records = (i: number) => (i % 5 === 0 ? [text(`${i}a`), text(`${i}b`)] : [text(String(i))]);
      const positions = await Promise.all(Array.from({ length: 50 }, (_, i) => batched.append("batched", records(i))));
      assert.equal(calls() - before, 2, "two Append calls for 50 appends");
      let next = 1;
      positions.forEach((p, i) => {
        const n = records(i).length;
        assert.deepEqual(p, Array.from({ length: n }, (_, k) => next + k), `append ${i}`);
        next += n;
      });
      const read = await batched.read("batched", 1);
      assert.deepEqual(read.records.map((r) => str(r.data)), Array.from({ length: 50 }, (_, i) => records(i).map(str)).flat());
      // A conditional append goes alone (its version check is its own); appends that went out together fail together, each with the error.
      const beforeAlone = calls();
      const [conditional, plain] = await Promise.all([batched.append("batched", [text("if v0")], 0), batched.append("batched", [text("plain")])]);
      assert.deepEqual([...conditional!, ...plain!].sort((a, b) => a - b), [next, next + 1]);
      assert.equal(calls() - beforeAlone, 2);
      const unnamed = await Promise.allSettled([batched.append("", [text("x")]), batched.append("", [text("y")]), batched.append("", [text("z")])]);
      for (const r of unnamed) {
        assert.equal(r.status, "rejected");
        assert.ok(DcosError.is(r.reason, Code.INVALID_ARGUMENT) && /names no log/.test(r.reason.message), String(r.reason));
      }
    } finally {
      batched.close();
    }
  });

  it("keeps every acknowledged record and the value across a leader change", async () => {
    const leader = await cluster.leader();
    const before = await client.read("tasks", 2);
    await cluster.stop(leader);
    const next = await cluster.leader(leader);
    assert.notEqual(next, leader);
    assert.deepEqual(await client.append("tasks", [text("e")]), [before.end]);
    const after = await client.read("tasks", 2);
    assert.deepEqual(after.records.map((r) => str(r.data)), ["c", "d", "e"]);
    assert.equal(client.master, cluster.addresses[next]);
    const v = await client.getValue("state");
    assert.deepEqual([str(v.value), v.version], ["v2", 2]);
    assert.equal(await client.compareAndSet("state", text("v3"), 2), 3);
  });
});
