/**
 * DNS with real processes: three `dcos-node --role=master` (one Raft group), an agent,
 * a framework on the real scheduler driver, and the DNS service following the leading
 * master's Operator event stream. `dig` resolves the running task's A and SRV records,
 * keeps resolving through kill -9 of the leading master, and gets NXDOMAIN once the task
 * is killed (an event from the new leader).
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startDnsService, type RunningDns } from "../../src/discovery/dns/dns-service.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { testLogger } from "../../src/runtime/log.js";
import { dig } from "../support/dig.js";
import { masterProcessesFixture } from "../support/master-processes.js";
import { waitFor } from "../support/wait.js";
import { TestFramework } from "../system/framework.js";

function taskPorts(framework: TestFramework, taskId: string): number[] {
  const info = framework.tasks.get(taskId)!;
  return info.resources.filter((r) => r.name === "ports").flatMap((r) => (r.ranges?.range ?? []).flatMap((x) => Array.from({ length: x.end - x.begin + 1 }, (_, i) => x.begin + i)));
}

describe("DNS names of a real cluster's tasks", () => {
  const fx = masterProcessesFixture("dcos-dns-");
  let dns: RunningDns | undefined;
  let framework: TestFramework | undefined;

  it("dig resolves a running task's A and SRV records through a leader kill -9, then NXDOMAIN once the task ends", async (t) => {
    t.after(async () => {
      await framework?.stop();
      await dns?.stop();
    });
    const masters = await fx.startMasters(3);
    await waitFor(() => masters.leader() >= 0, "a leading master", 30_000);
    const agent = fx.spawn("agent", [
      "--role=agent",
      "--port=0",
      "--http-port=0",
      `--master=${masters.list}`,
      `--work-dir=${join(fx.dir(), "agent")}`,
      "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
    ]);
    await agent.waitForLine(/(Registered with master)/, "the agent to register", 30_000);
    dns = await startDnsService({ masters: masters.addresses, host: "127.0.0.1", port: 0, logger: testLogger() });
    const d = dns;
    await waitFor(() => d.follower.connectedTo, "DNS to follow the leading master", 20_000);
    assert.deepEqual((await dig(d.port, "leader.dcos")).answers.map((r) => r.data), ["127.0.0.1"]);
    assert.deepEqual((await dig(d.port, "agent.dcos")).answers.map((r) => r.data), ["127.0.0.1"]);

    framework = new TestFramework(masters.list, "Web Shop");
    await framework.start();
    await framework.launch("web-1", hostname(), "sleep 300", 30_000, { ports: 2, name: "web" });
    const ports = taskPorts(framework, "web-1");
    assert.equal(ports.length, 2);
    const a = await waitFor(async () => {
      const r = await dig(d.port, "web.web-shop.dcos");
      return r.status === "NOERROR" && r.answers.length > 0 ? r : undefined;
    }, "web.web-shop.dcos to resolve");
    assert.deepEqual(a.answers.map((r) => r.data), ["127.0.0.1"]);
    const srv = await dig(d.port, "_web._tcp.web-shop.dcos", "SRV");
    assert.deepEqual(srv.answers.map((r) => Number(r.data.split(" ")[2])).sort(), ports);
    assert.ok(srv.additionals.every((r) => r.data === "127.0.0.1") && srv.additionals.length > 0, srv.output);

    const old = masters.leader();
    const followedBefore = d.follower.subscriptions;
    await masters.kill9(old);
    // Through the failover the name keeps resolving (the new leader's snapshot may not have the agent yet).
    await waitFor(() => masters.leader() >= 0 && masters.leader() !== old, "a new leading master", 30_000);
    await waitFor(() => d.follower.subscriptions > followedBefore && d.follower.connectedTo === masters.addresses[masters.leader()], "DNS to follow the new leader", 30_000);
    assert.deepEqual((await dig(d.port, "web.web-shop.dcos")).answers.map((r) => r.data), ["127.0.0.1"]);
    await masters.processes[masters.leader()]!.waitForLine(/(Every agent the registry held when this term began has reregistered)/, "the agent to reregister with the new leader", 30_000);
    assert.deepEqual((await dig(d.port, "web.web-shop.dcos")).answers.map((r) => r.data), ["127.0.0.1"], "still there after the agent is back");
    assert.equal((await dig(d.port, "_web._tcp.web-shop.dcos", "SRV")).answers.length, 2);

    await waitFor(() => framework!.resubscribedAt.length > 0, "the framework to resubscribe", 30_000);
    await framework.kill("web-1");
    await framework.waitForState("web-1", TaskState.KILLED, 30_000);
    await waitFor(async () => (await dig(d.port, "web.web-shop.dcos")).status === "NXDOMAIN", "NXDOMAIN once the task is killed", 10_000);
    assert.equal((await dig(d.port, "_web._tcp.web-shop.dcos", "SRV")).status, "NXDOMAIN");
  });
});
