/**
 * `dcos-node dns` as a real process on port 53 of a host (network namespaces, cluster 50):
 * a master on host 1 (with DNS beside it), agents on hosts 2 and 3. Tasks of one name on
 * both agents resolve to both hosts' addresses, SRV records give each task's port with its
 * own host's address, and a killed task's host leaves the answer.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { dig } from "../support/dig.js";
import { waitFor } from "../support/wait.js";
import { SystemCluster } from "./system-cluster.js";

describe("DNS on port 53 of a host, for tasks on other hosts (network namespaces)", () => {
  let c: SystemCluster;

  before(async () => {
    c = await SystemCluster.start(50, 3, "dns");
  });

  after(async () => {
    await c?.stop();
  });

  it("names tasks by their agents' addresses and ports, and drops a killed one", async () => {
    const dnsIp = c.net.ip(1);
    const dns = c.net.spawn(1, "dns", ["dns", `--master=${c.masterAddress}`, `--ip=${dnsIp}`, "--dns-port=53"]);
    await dns.waitForLine(/(Following cluster events)/, "DNS to follow the master", 30_000);
    const ask = (name: string, type = "A") => dig(53, name, type, [], dnsIp);
    assert.deepEqual((await ask("leader.dcos")).answers.map((r) => r.data), [c.net.ip(1)]);
    assert.deepEqual((await ask("agent.dcos")).answers.map((r) => r.data).sort(), [c.net.ip(2), c.net.ip(3)].sort());

    await c.framework.launch("web-a", c.hostname(2), c.longTask("web-a"), 30_000, { ports: 1, name: "web" });
    await c.framework.launch("web-b", c.hostname(3), c.longTask("web-b"), 30_000, { ports: 1, name: "web" });
    const both = [c.net.ip(2), c.net.ip(3)].sort();
    await waitFor(async () => JSON.stringify((await ask("web.dns.dcos")).answers.map((r) => r.data).sort()) === JSON.stringify(both), "web.dns.dcos to name both hosts", 10_000);

    const port = (taskId: string): number => c.framework.tasks.get(taskId)!.resources.find((r) => r.name === "ports")!.ranges!.range[0]!.begin;
    const srv = await ask("_web._tcp.dns.dcos", "SRV");
    const byHost = srv.answers.map((r) => {
      const [, , p, target] = r.data.split(" ");
      return [srv.additionals.find((x) => x.name === target)?.data, Number(p)];
    });
    assert.deepEqual(byHost.sort(), [[c.net.ip(2), port("web-a")], [c.net.ip(3), port("web-b")]].sort(), srv.output);

    await c.framework.kill("web-a");
    await c.framework.waitForState("web-a", TaskState.KILLED, 30_000);
    await waitFor(async () => JSON.stringify((await ask("web.dns.dcos")).answers.map((r) => r.data)) === JSON.stringify([c.net.ip(3)]), "only host 3 left", 10_000);
    assert.equal((await ask("_web._tcp.dns.dcos", "SRV")).answers.length, 1);
    assert.equal((await ask("nothing.dns.dcos")).status, "NXDOMAIN");
  });
});
