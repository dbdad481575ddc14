import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DnsRecords, type DnsRecord, type Lookup } from "../../src/discovery/dns/records.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentEntry_Status } from "../../src/gen/dcos/v1/operator_pb.js";
import { agent, agentAdded, agentRemoved, framework, frameworkAdded, leaderChanged, master, subscribed, task, taskAdded, taskUpdated } from "./events.js";

function a(l: Lookup): string[] {
  assert.equal(l.rcode, "NOERROR", JSON.stringify(l));
  return (l.rcode === "NOERROR" ? l.answers : []).filter((r): r is Extract<DnsRecord, { type: "A" }> => r.type === "A").map((r) => r.data).sort();
}

function srv(l: Lookup): string[] {
  assert.equal(l.rcode, "NOERROR");
  return (l.rcode === "NOERROR" ? l.answers : []).flatMap((r) => (r.type === "SRV" ? [`${r.data.target}:${r.data.port}`] : [])).sort();
}

function cluster(): DnsRecords {
  const r = new DnsRecords({ domain: "dcos", masters: ["10.0.0.1", "10.0.0.2", "10.0.0.3"] });
  r.apply(
    subscribed({
      agents: [agent("a1", "10.0.1.1"), agent("a2", "10.0.1.2")],
      frameworks: [framework("f1", "Web Shop"), framework("svc", "services")],
      tasks: [task({ id: "web-1", name: "nginx", framework: "f1", agent: "a1", ports: [31000, 31001] })],
      leader: master("10.0.0.2"),
    }),
  );
  return r;
}

describe("DNS records from the master's event stream", () => {
  it("a RUNNING task has an A record at its agent and an SRV record per port, with the target's address as an additional", () => {
    const r = cluster();
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos.", "A")), ["10.0.1.1"]);
    const s = r.lookup("_nginx._tcp.web-shop.dcos", "SRV");
    const targets = srv(s);
    assert.equal(targets.length, 2);
    assert.match(targets[0]!, /^nginx-[0-9a-z]{7}\.web-shop\.slave\.dcos:31000$/);
    assert.ok(s.rcode === "NOERROR" && s.additionals.some((x) => x.type === "A" && x.data === "10.0.1.1"));
    const target = targets[0]!.split(":")[0]!;
    assert.deepEqual(a(r.lookup(target, "A")), ["10.0.1.1"]);
  });

  it("names are case-insensitive; unknown names under the domain are NXDOMAIN; other domains are OUTSIDE", () => {
    const r = cluster();
    assert.deepEqual(a(r.lookup("NGINX.Web-Shop.DCOS", "A")), ["10.0.1.1"]);
    assert.equal(r.lookup("nope.web-shop.dcos", "A").rcode, "NXDOMAIN");
    assert.equal(r.lookup("example.com", "A").rcode, "OUTSIDE");
    assert.equal(r.lookup("notdcos", "A").rcode, "OUTSIDE");
  });

  it("a known name asked for another type is NOERROR without answers (NODATA), as are the domain and a framework", () => {
    const r = cluster();
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "AAAA")), []);
    assert.deepEqual(a(r.lookup("dcos", "A")), []);
    assert.deepEqual(a(r.lookup("web-shop.dcos", "A")), []);
  });

  it("leader, master, agent and slave names", () => {
    const r = cluster();
    assert.deepEqual(a(r.lookup("leader.dcos", "A")), ["10.0.0.2"]);
    assert.deepEqual(a(r.lookup("master.dcos", "A")), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual(a(r.lookup("agent.dcos", "A")), ["10.0.1.1", "10.0.1.2"]);
    assert.deepEqual(a(r.lookup("slave.dcos", "A")), ["10.0.1.1", "10.0.1.2"]);
    assert.deepEqual(srv(r.lookup("_leader._tcp.dcos", "SRV")), ["leader.dcos:5050"]);
    r.apply(leaderChanged(master("10.0.0.3", 5055)));
    assert.deepEqual(a(r.lookup("leader.dcos", "A")), ["10.0.0.3"]);
    assert.deepEqual(srv(r.lookup("_leader._tcp.dcos", "SRV")), ["leader.dcos:5055"]);
    r.apply(leaderChanged(undefined));
    assert.deepEqual(a(r.lookup("leader.dcos", "A")), []);
  });

  it("a task gets names when RUNNING and loses them when it ends; several tasks of one name give several addresses", () => {
    const r = cluster();
    r.apply(taskAdded(task({ id: "web-2", name: "nginx", framework: "f1", agent: "a2", state: TaskState.STAGING, ports: [31005] })));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.1"], "STAGING has no record");
    r.apply(taskUpdated("web-2", "f1", TaskState.RUNNING));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.1", "10.0.1.2"]);
    assert.equal(srv(r.lookup("_nginx._tcp.web-shop.dcos", "SRV")).length, 3);
    r.apply(taskUpdated("web-1", "f1", TaskState.KILLED));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.2"]);
    r.apply(taskUpdated("web-2", "f1", TaskState.UNREACHABLE));
    assert.equal(r.lookup("nginx.web-shop.dcos", "A").rcode, "NXDOMAIN");
    assert.equal(r.lookup("_nginx._tcp.web-shop.dcos", "SRV").rcode, "NXDOMAIN");
    r.apply(taskUpdated("web-2", "f1", TaskState.RUNNING));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.2"], "back from UNREACHABLE");
  });

  it("services tasks are also named by their app id reversed under services.<domain>", () => {
    const r = cluster();
    r.apply(taskAdded(task({ id: "shop_web.6f1c2a3b-1234-4abc-9def-0123456789ab", name: "web.shop", framework: "svc", agent: "a2", ports: [31010] })));
    r.apply(taskAdded(task({ id: "other", name: "api", framework: "f1", agent: "a1", labels: { MARATHON_APP_ID: "/shop/api" } })));
    assert.deepEqual(a(r.lookup("web.shop.services.dcos", "A")), ["10.0.1.2"]);
    assert.deepEqual(a(r.lookup("web-shop.services.dcos", "A")), ["10.0.1.2"], "and by its task name, as any framework's");
    assert.deepEqual(a(r.lookup("api.shop.services.dcos", "A")), ["10.0.1.1"]);
    r.apply(taskAdded(task({ id: "x_y.6f1c2a3b-1234-4abc-9def-0123456789ab", name: "y", framework: "f1", agent: "a1" })));
    assert.equal(r.lookup("y.x.services.dcos", "A").rcode, "NXDOMAIN", "Marathon-like ids of other frameworks are not apps");
  });

  it("a task of a framework or agent not known yet is named once they are", () => {
    const r = cluster();
    r.apply(taskAdded(task({ id: "t9", name: "db", framework: "f9", agent: "a9" })));
    assert.equal(r.lookup("db.store.dcos", "A").rcode, "NXDOMAIN");
    r.apply(frameworkAdded(framework("f9", "store")));
    assert.equal(r.lookup("db.store.dcos", "A").rcode, "NXDOMAIN");
    r.apply(agentAdded(agent("a9", "10.0.1.9")));
    assert.deepEqual(a(r.lookup("db.store.dcos", "A")), ["10.0.1.9"]);
  });

  it("a task whose name has nothing usable has no name of its own", () => {
    const r = cluster();
    r.apply(taskAdded(task({ id: "t1", name: "1234", framework: "f1", agent: "a1" })));
    assert.equal(r.lookup("1234.web-shop.dcos", "A").rcode, "NXDOMAIN");
  });

  it("after a master failover, tasks on agents not yet reregistered keep their names until the agent is back", () => {
    const r = cluster();
    // The new leader's snapshot: agent a1 has not reregistered yet.
    r.apply(subscribed({ agents: [agent("a2", "10.0.1.2")], frameworks: [framework("svc", "services")], tasks: [], leader: master("10.0.0.3") }));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.1"], "kept while a1 catches up");
    assert.deepEqual(a(r.lookup("agent.dcos", "A")), ["10.0.1.2"], "but a1 is not listed as an active agent");
    // a1 reregisters: its tasks come back as TASK_ADDED first, then AGENT_ADDED.
    r.apply(taskAdded(task({ id: "web-1", name: "nginx", framework: "f1", agent: "a1", ports: [31000, 31001] })));
    r.apply(agentAdded(agent("a1", "10.0.1.1")));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.1"]);
    assert.equal(srv(r.lookup("_nginx._tcp.web-shop.dcos", "SRV")).length, 2);
  });

  it("after a failover, a kept task its agent does not report again is dropped when the agent reregisters or is removed", () => {
    const r = cluster();
    r.apply(subscribed({ agents: [agent("a2", "10.0.1.2")], frameworks: [], tasks: [], leader: master("10.0.0.3") }));
    assert.deepEqual(a(r.lookup("nginx.web-shop.dcos", "A")), ["10.0.1.1"]);
    r.apply(agentAdded(agent("a1", "10.0.1.1")));
    assert.equal(r.lookup("nginx.web-shop.dcos", "A").rcode, "NXDOMAIN");

    const r2 = cluster();
    r2.apply(subscribed({ agents: [agent("a2", "10.0.1.2")], frameworks: [], tasks: [], leader: master("10.0.0.3") }));
    r2.apply(agentRemoved("a1"));
    assert.equal(r2.lookup("nginx.web-shop.dcos", "A").rcode, "NXDOMAIN");
  });

  it("an agent that becomes unreachable leaves agent.<domain>", () => {
    const r = cluster();
    r.apply(agentAdded(agent("a2", "10.0.1.2", AgentEntry_Status.UNREACHABLE)));
    assert.deepEqual(a(r.lookup("agent.dcos", "A")), ["10.0.1.1"]);
    r.apply(agentRemoved("a1"));
    assert.deepEqual(a(r.lookup("agent.dcos", "A")), []);
  });
});
