/**
 * The attacks of issue 11 on the actor transport, against a real master and agent on
 * loopback with mutual TLS: each forged message is refused, counted, and changes nothing.
 * (On a plaintext main, every one of them was accepted.)
 */
import assert from "node:assert/strict";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KillTaskSchema, RegisterAgentSchema, ReregisterAgentSchema, UnregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { RaftMessageSchema } from "../../src/gen/dcos/v1/raft_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/parse.js";
import { commandTask, pickResources } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { startAgentRole, type RunningAgent } from "../../src/node/agent-role.js";
import { startMasterRole, type RunningMaster } from "../../src/node/master-role.js";
import { testMasterRoleOptions } from "../support/master-role-options.js";
import type { Node } from "../../src/node/node.js";
import { testLogger } from "../../src/runtime/log.js";
import { channelCredentials } from "../../src/security/pki/grpc-credentials.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { RawGrpcPeer } from "../support/raw-grpc-peer.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

const counter = (n: Node, name: string) => n.metrics.counter(name, "").value;
const gauge = (n: Node, name: string) => n.metrics.snapshot()[name];

function envelope<S extends DescMessage>(from: string, to: string, schema: S, fields: MessageInitShape<S>) {
  return { from, to, type: schema.typeName, payload: toBinary(schema, create(schema, fields)) };
}

/** A peer that holds `tls` (or nothing), says Hello as `address`, and writes forged envelopes. */
async function attacker(target: string, address: string, tls?: TlsMaterial): Promise<RawGrpcPeer> {
  // The attacker dials masters and agents alike (clients check the server's role: it accepts both).
  const peer = tls ? RawGrpcPeer.open(target, address, channelCredentials(tls, { roles: ["master", "agent"] })) : RawGrpcPeer.open(target, address);
  peers.push(peer);
  return peer;
}
const peers: RawGrpcPeer[] = [];

describe("forged messages on the actor transport of a mutual-TLS cluster", () => {
  let dir = "";
  let master: RunningMaster;
  let agent: RunningAgent;
  let driver: SchedulerDriver;
  const offers: Offer[] = [];
  const updates: TaskStatus[] = [];
  let rogueAgentTls: TlsMaterial;
  let agentId = "";

  const masterView = () =>
    master.node.system.dispatch(master.master, (m) => [...m.core.agents.values()].map((a) => ({ id: a.id, cpus: a.info.resources.find((r) => r.name === "cpus")?.scalar?.value, state: a.state })));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-forged-"));
    const logger = testLogger();
    master = await startMasterRole({ ...testMasterRoleOptions([], join(dir, "master"), 0), tls: await testTls("master", "m1"), allocationIntervalMs: 100, logger });
    agent = await startAgentRole({
      tls: await testTls("agent", "a1"),
      ip: "127.0.0.1",
      port: 0,
      hostname: "localhost",
      master: master.address,
      workDir: join(dir, "agent"),
      resources: "cpus:2;mem:1024",
      isolation: "posix",
      logger,
      httpPort: 0,
      version: "test",
      flags: {},
    });
    rogueAgentTls = await testTls("agent", "a-rogue");
    await waitFor(async () => (await masterView()).length === 1 && (await masterView())[0]!.state === "ACTIVE", "the agent to register");
    agentId = (await masterView())[0]!.id;
    driver = new SchedulerDriver({
      masters: master.address,
      framework: { name: "victim", roles: ["*"], user: "nobody", principal: "victim" },
      channelCredentials: channelCredentials(await testTls("principal", "victim")),
      logger,
      callbacks: { offers: (o) => offers.push(...o), update: (s) => updates.push(s) },
    });
    await driver.start();
  });

  after(async () => {
    for (const p of peers) await p.close();
    await driver?.stop();
    await agent?.stop();
    await master?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("forged agent registration: a fake agent with 100,000 CPUs and no cluster agent certificate is never admitted", async () => {
    const fake = { agentInfo: { hostname: "evil", resources: parseResources("cpus:100000;mem:1000000").toProto() } } as MessageInitShape<typeof RegisterAgentSchema>;
    const plaintext = await attacker(master.address, "127.0.0.1:1");
    const principal = await attacker(master.address, "127.0.0.1:2", await testTls("principal", "mallory"));
    const otherCa = await attacker(master.address, "127.0.0.1:3", await testTls("agent", "a-evil", { cluster: "evil" }));
    for (const [peer, port] of [[plaintext, 1], [principal, 2], [otherCa, 3]] as const) {
      await peer.envelopes([envelope(`agent@127.0.0.1:${port}`, `master@${master.address}`, RegisterAgentSchema, fake)]).catch(() => undefined);
    }
    const errors = await waitFor(() => plaintext.error && principal.error && otherCa.error && [plaintext.error, principal.error, otherCa.error], "all three streams to fail");
    assert.match(errors[1].message, /UNAUTHENTICATED.*a principal certificate \('mallory'\) may not join the actor transport/);
    assert.deepEqual((await masterView()).map((a) => a.cpus), [2], "only the real agent, with its 2 CPUs");
    assert.ok(master.node.transport.stats.refusedStreams >= 1);
  });

  it("forged agent registration: another agent's certificate cannot take over an agent id by reregistering it", async () => {
    const before = counter(master.node, "master/unauthorized_agent_messages");
    const rogue = await attacker(master.address, "127.0.0.1:4", rogueAgentTls);
    const takeover = { agentInfo: { id: { value: agentId }, hostname: "evil", resources: parseResources("cpus:100000;mem:1000000").toProto() } } as MessageInitShape<typeof ReregisterAgentSchema>;
    await rogue.envelopes([envelope("agent@127.0.0.1:4", `master@${master.address}`, ReregisterAgentSchema, takeover)]);
    await waitFor(() => counter(master.node, "master/unauthorized_agent_messages") === before + 1, "the reregistration refused");
    assert.deepEqual(await masterView(), [{ id: agentId, cpus: 2, state: "ACTIVE" }]);
  });

  it("spoofed agent message: a forged UnregisterAgent on another agent's certificate does not remove the agent", async () => {
    const before = counter(master.node, "master/unauthorized_agent_messages");
    const agentPid = agent.agentNode.agent.self.toString();
    // The rogue claims the victim's own address (same host, so its certificate names it).
    const rogue = await attacker(master.address, agent.address, rogueAgentTls);
    await rogue.envelopes([envelope(agentPid, `master@${master.address}`, UnregisterAgentSchema, { agentId: { value: agentId } })]);
    await waitFor(() => counter(master.node, "master/unauthorized_agent_messages") === before + 1, "the UnregisterAgent refused");
    assert.deepEqual(await masterView(), [{ id: agentId, cpus: 2, state: "ACTIVE" }]);
  });

  it("spoofed master message: a forged KillTask to an agent is refused and the task keeps running until the framework kills it", async () => {
    await waitFor(() => offers.length > 0, "an offer");
    const offer = offers[0]!;
    const task = commandTask({ command: "sleep 60", offer, resources: pickResources(offer, { cpus: 0.5, mem: 32 })!, name: "victim" });
    await driver.launch([offer.id!.value], [task]);
    const taskId = task.taskId!.value;
    await waitFor(() => updates.some((u) => u.taskId?.value === taskId && u.state === TaskState.RUNNING), "the task RUNNING", 30_000);

    const rogue = await attacker(agent.address, master.address, rogueAgentTls);
    await rogue.envelopes([envelope(`master@${master.address}`, agent.agentNode.agent.self.toString(), KillTaskSchema, { frameworkId: { value: driver.frameworkId! }, taskId: { value: taskId } })]);
    await waitFor(() => counter(agent.node, "slave/unauthorized_messages") === 1, "the forged KillTask refused");
    assert.ok(!updates.some((u) => u.taskId?.value === taskId && u.state === TaskState.KILLED), "not killed by the forgery");

    await driver.kill(taskId);
    await waitFor(() => updates.some((u) => u.taskId?.value === taskId && u.state === TaskState.KILLED), "TASK_KILLED after the framework's own kill", 30_000);
  });

  it("Raft messages from a non-member: a forged heartbeat with a higher term and a forged InstallSnapshot change nothing", async () => {
    const raft = `raft@${master.address}`;
    const term = Number(gauge(master.node, "raft/term"));
    const before = counter(master.node, "raft/unauthorized_messages");
    // An agent's certificate, claiming to be a raft member on its own address.
    const fromAgent = await attacker(master.address, "127.0.0.1:5", rogueAgentTls);
    await fromAgent.envelopes([
      envelope("raft@127.0.0.1:5", raft, RaftMessageSchema, { from: "raft@127.0.0.1:5", to: raft, term: BigInt(term + 100), body: { case: "appendEntriesRequest", value: {} } }),
    ]);
    // A master's certificate, but not a member of this group: its snapshot would wipe the registry.
    const outsider = await attacker(master.address, "127.0.0.1:6", await testTls("master", "m-outsider"));
    await outsider.envelopes([
      envelope("raft@127.0.0.1:6", raft, RaftMessageSchema, {
        from: "raft@127.0.0.1:6",
        to: raft,
        term: BigInt(term + 200),
        body: { case: "installSnapshotRequest", value: { snapshot: { metadata: { index: 1_000_000n, term: BigInt(term + 200) }, data: new Uint8Array() } } },
      }),
    ]);
    await waitFor(() => counter(master.node, "raft/unauthorized_messages") === before + 2, "both raft messages refused");
    assert.equal(Number(gauge(master.node, "raft/term")), term, "the term is unchanged");
    assert.equal(Number(gauge(master.node, "raft/is_leader")), 1, "the master still leads");
    assert.deepEqual(await masterView(), [{ id: agentId, cpus: 2, state: "ACTIVE" }], "the registry is intact");
  });
});
