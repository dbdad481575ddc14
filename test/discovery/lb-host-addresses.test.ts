import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostAddresses } from "../../src/discovery/lb/host-addresses.js";
import type { MarathonApp } from "../../src/discovery/lb/marathon-apps.js";

const app = (hosts: string[]): MarathonApp => ({ id: "/web", tasks: hosts.map((host, i) => ({ id: `t${i}`, host, ports: [31000 + i], state: "TASK_RUNNING" })) });

describe("task hosts resolved to addresses for haproxy", () => {
  it("names become IPv4 addresses, addresses stay, an unresolvable host's task is left out and reported", async () => {
    const asked: string[] = [];
    const table: Record<string, string> = { "agent-1": "10.0.0.1", "agent-2": "10.0.0.2" };
    let now = 0;
    const h = new HostAddresses(
      async (name) => {
        asked.push(name);
        const a = table[name];
        if (!a) throw new Error("ENOTFOUND");
        return a;
      },
      1000,
      () => now,
    );
    const r = await h.apply([app(["agent-1", "10.0.0.9", "agent-2", "gone", "agent-1"])]);
    assert.deepEqual(r.apps[0]!.tasks!.map((t) => t.host), ["10.0.0.1", "10.0.0.9", "10.0.0.2", "10.0.0.1"]);
    assert.deepEqual(r.problems.map((p) => [p.appId, p.label]), [["/web", "task t3"]]);
    assert.match(r.problems[0]!.message, /host 'gone' does not resolve/);
    assert.deepEqual(asked.sort(), ["agent-1", "agent-2", "gone"]);
    await h.apply([app(["agent-1"])]);
    assert.equal(asked.length, 3, "cached");
    now = 1000;
    table["agent-1"] = "10.0.0.11";
    assert.equal((await h.apply([app(["agent-1"])])).apps[0]!.tasks![0]!.host, "10.0.0.11", "asked again after the TTL");
  });

  it("a failed lookup is kept only for the negative TTL: the host is asked again soon, a good answer stays cached", async () => {
    let now = 0;
    let fail = true;
    const asked: string[] = [];
    const h = new HostAddresses(
      async (name) => {
        asked.push(name);
        if (name === "flaky" && fail) throw new Error("EAI_AGAIN");
        return "10.0.0.5";
      },
      30_000,
      () => now,
      500,
    );
    assert.equal((await h.apply([app(["flaky", "steady"])])).problems.length, 1);
    now = 499;
    await h.apply([app(["flaky", "steady"])]);
    assert.deepEqual(asked.sort(), ["flaky", "steady"], "nothing asked again within the negative TTL");
    now = 500;
    fail = false;
    const r = await h.apply([app(["flaky", "steady"])]);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.apps[0]!.tasks!.map((t) => t.host), ["10.0.0.5", "10.0.0.5"]);
    assert.deepEqual(asked.sort(), ["flaky", "flaky", "steady"], "the good answer stayed cached");
  });
});
