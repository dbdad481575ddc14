import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FrameworkRunner } from "../../src/frameworks/common/framework-runner.js";
import type { StateMachine } from "../../src/frameworks/common/state-store.js";
import { startMasterRole, type RunningMaster } from "../../src/node/master-role.js";
import { SystemClock } from "../../src/runtime/clock.js";
import { freePort } from "../support/master-processes.js";
import { testMasterRoleOptions } from "../support/master-role-options.js";
import { waitFor } from "../support/wait.js";

type Op = { add: number };
const counter: StateMachine<{ n: number }, Op> = { empty: () => ({ n: 0 }), apply: (s, op) => void (s.n += op.add), snapshot: (s) => [{ add: s.n }] };

describe("framework runner: lease, fenced state and the scheduler driver against a real master", () => {
  let master: RunningMaster;
  let dir: string;
  let address: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "framework-runner-"));
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    master = await startMasterRole(testMasterRoleOptions([address], join(dir, "m"), port));
    await waitFor(() => master.master.leading, "the master leads", 20_000);
  });

  after(async () => {
    await master.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("one instance leads and subscribes; when it stops the other takes over the same framework with the state replayed", async () => {
    const sessions: string[] = [];
    const runner = (id: string) =>
      new FrameworkRunner<{ n: number }, Op>({
        name: "kit-test",
        masters: [address],
        principal: "kit-test",
        framework: { name: "kit-test", roles: ["*"], failoverTimeout: 600 },
        self: { id, address: `${id}.invalid:1` },
        clock: new SystemClock(),
        machine: counter,
        leaseTtlMs: 1_500,
        lead: (ctx) => {
          sessions.push(`${id} term ${ctx.term} n=${ctx.store.state.n}`);
          return { callbacks: {}, ready: () => void ctx.store.write({ add: 5 }), stop: () => sessions.push(`${id} stopped`) };
        },
      });
    const a = runner("a");
    const b = runner("b");
    try {
      a.start();
      await waitFor(() => a.isLeader, "a leads and is subscribed", 20_000);
      b.start();
      const firstId = a.driver!.frameworkId;
      assert.ok(firstId);
      await waitFor(() => a.store!.state.n === 5, "a wrote its first op", 5_000);
      await waitFor(() => b.leader?.id === "a", "b learns that a leads", 10_000);
      assert.ok(!b.isLeader);
      await a.stop();
      await waitFor(() => b.isLeader, "b takes over", 20_000);
      assert.equal(b.driver!.frameworkId, firstId, "the same framework fails over");
      await waitFor(() => b.store!.state.n === 10, "b replayed a's op and wrote its own", 5_000);
      assert.deepEqual(sessions.slice(0, 2), ["a term 1 n=0", "a stopped"]);
      assert.match(sessions[2]!, /^b term \d+ n=5$/);
    } finally {
      await Promise.allSettled([a.stop(), b.stop()]);
    }
  });
});
