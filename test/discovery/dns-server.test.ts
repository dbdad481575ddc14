import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import * as dnsPacket from "dns-packet";
import { DnsRecords } from "../../src/discovery/dns/records.js";
import { DnsServer } from "../../src/discovery/dns/server.js";
import { testLogger } from "../../src/runtime/log.js";
import { dig } from "../support/dig.js";
import { agent, framework, master, subscribed, task } from "./events.js";

function records(domain: string): DnsRecords {
  const r = new DnsRecords({ domain, masters: ["127.0.0.1"] });
  r.apply(
    subscribed({
      agents: [agent("a1", "127.0.0.11"), agent("a2", "127.0.0.12")],
      frameworks: [framework("f1", "shop")],
      tasks: [
        task({ id: "web-1", name: "web", framework: "f1", agent: "a1", ports: [31000, 31001] }),
        task({ id: "web-2", name: "web", framework: "f1", agent: "a2", ports: [31002] }),
        ...Array.from({ length: 60 }, (_, i) => task({ id: `big-${i}`, name: "big", framework: "f1", agent: i % 2 ? "a1" : "a2", ports: [32000 + i] })),
      ],
      leader: master("127.0.0.1"),
    }),
  );
  return r;
}

function sendUdp(port: number, payload: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => (s.close(), resolve(undefined)), 300);
    s.on("message", (m) => (clearTimeout(timer), s.close(), resolve(m)));
    s.send(payload, port, "127.0.0.1");
  });
}

describe("the DNS server, asked by dig", () => {
  let server: DnsServer;
  let upstream: DnsServer;
  let forwarding: DnsServer;

  before(async () => {
    server = new DnsServer({ host: "127.0.0.1", port: 0, records: records("dcos"), logger: testLogger() });
    await server.start();
    // A second server of our own for another domain stands in as the upstream resolver.
    upstream = new DnsServer({ host: "127.0.0.1", port: 0, records: records("example"), logger: testLogger() });
    await upstream.start();
    forwarding = new DnsServer({ host: "127.0.0.1", port: 0, records: records("dcos"), resolvers: [`127.0.0.1:${upstream.port}`], logger: testLogger() });
    await forwarding.start();
  });

  after(async () => {
    await Promise.all([server.close(), upstream.close(), forwarding.close()]);
  });

  it("answers A with every agent running the task, authoritatively", async () => {
    const r = await dig(server.port, "web.shop.dcos", "A");
    assert.equal(r.status, "NOERROR", r.output);
    assert.ok(r.aa, "authoritative answer");
    assert.deepEqual(r.answers.map((x) => x.data).sort(), ["127.0.0.11", "127.0.0.12"]);
    assert.equal(r.answers[0]!.ttl, 5);
  });

  it("answers SRV with a port per task port and the targets' addresses", async () => {
    const r = await dig(server.port, "_web._tcp.shop.dcos", "SRV");
    assert.equal(r.status, "NOERROR", r.output);
    const ports = r.answers.map((x) => Number(x.data.split(" ")[2])).sort();
    assert.deepEqual(ports, [31000, 31001, 31002]);
    for (const answer of r.answers) {
      const target = answer.data.split(" ")[3]!;
      const address = r.additionals.find((x) => x.name === target && x.type === "A")?.data;
      assert.ok(address === "127.0.0.11" || address === "127.0.0.12", `${target} resolves: ${r.output}`);
    }
  });

  it("NXDOMAIN for an unknown name of the domain, REFUSED for another domain without resolvers", async () => {
    assert.equal((await dig(server.port, "nothing.shop.dcos", "A")).status, "NXDOMAIN");
    assert.equal((await dig(server.port, "www.example", "A")).status, "REFUSED");
    assert.deepEqual((await dig(server.port, "leader.dcos", "A")).answers.map((x) => x.data), ["127.0.0.1"]);
  });

  it("forwards names outside the domain to --resolvers and relays their answer", async () => {
    const r = await dig(forwarding.port, "web.shop.example", "A");
    assert.equal(r.status, "NOERROR", r.output);
    assert.deepEqual(r.answers.map((x) => x.data).sort(), ["127.0.0.11", "127.0.0.12"]);
    assert.equal((await dig(forwarding.port, "nothing.example", "A")).status, "NXDOMAIN");
    assert.equal((await dig(forwarding.port, "web.shop.dcos", "A")).answers.length, 2, "its own domain still answered by itself");
  });

  it("an answer too large for UDP is truncated and dig gets it whole over TCP", async () => {
    const udp = await dig(server.port, "_big._tcp.shop.dcos", "SRV", ["+ignore", "+noedns"]);
    assert.match(udp.output, /flags:[^;]*\btc\b/, udp.output);
    const tcp = await dig(server.port, "_big._tcp.shop.dcos", "SRV", ["+tcp"]);
    assert.equal(tcp.answers.length, 60, tcp.output);
  });

  it("the same question gets the kept answer with its own id; a change of the records is answered at once", async () => {
    const r = records("dcos");
    const s = new DnsServer({ host: "127.0.0.1", port: 0, records: r, logger: testLogger() });
    const ask = (id: number, name: string): Buffer => dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name }] });
    const first = dnsPacket.decode((await s.answer(ask(1, "web.shop.dcos"), true))!);
    const again = await s.answer(ask(2, "web.shop.dcos"), true);
    const second = dnsPacket.decode(again!);
    assert.equal(first.id, 1);
    assert.equal(second.id, 2);
    assert.deepEqual(second.answers, first.answers);
    assert.deepEqual((second.answers ?? []).map((a) => (a as { data: string }).data).sort(), ["127.0.0.11", "127.0.0.12"]);
    // The tasks end (a new snapshot without them): the next identical question is NXDOMAIN.
    r.apply(subscribed({ agents: [agent("a1", "127.0.0.11"), agent("a2", "127.0.0.12")], frameworks: [framework("f1", "shop")], tasks: [], leader: master("127.0.0.1") }));
    const after = dnsPacket.decode((await s.answer(ask(3, "web.shop.dcos"), true))!);
    assert.equal(after.id, 3);
    assert.equal((after.flags ?? 0) & 0xf, 3, "NXDOMAIN");
  });

  it("drops malformed packets without harm and keeps answering", async () => {
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([1, 2, 3]),
      Buffer.from("not a dns packet at all, just some text"),
      // A header claiming 5 questions and nothing after it.
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0]),
      // A name whose compression pointer points at itself.
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]),
      // A label longer than the packet.
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x61, 0x62]),
      // A response, not a query.
      dnsPacket.encode({ type: "response", id: 7, questions: [{ type: "A", name: "web.shop.dcos" }] }),
      // A query without questions.
      dnsPacket.encode({ type: "query", id: 8, questions: [] }),
    ];
    const before = server.dropped;
    for (const g of garbage) assert.equal(await sendUdp(server.port, g), undefined, `no answer to ${g.toString("hex")}`);
    assert.equal(server.dropped - before, garbage.length);
    // Over TCP: a length prefix larger than we accept closes the connection; garbage inside is dropped.
    await new Promise<void>((resolve) => {
      const c = connect(server.port, "127.0.0.1", () => c.write(Buffer.from([0xff, 0xff, 1, 2, 3])));
      c.on("close", () => resolve());
      c.on("error", () => undefined);
    });
    const r = await dig(server.port, "web.shop.dcos", "A");
    assert.equal(r.status, "NOERROR");
    assert.equal((await dig(server.port, "web.shop.dcos", "A", ["+tcp"])).answers.length, 2);
  });
});
