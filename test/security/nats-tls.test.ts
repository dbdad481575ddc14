/**
 * TLS and credentials on the NATS connection, against a real nats-server that requires
 * both: the NATS transport and the event tap (with `dcos-node events`' tail) connect with
 * them and are refused without.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EventBus } from "../../src/events/bus.js";
import { NatsEventTap } from "../../src/events/nats-tap.js";
import { tailEvents } from "../../src/events/tail.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { natsConnectOptions, type NatsSecurity } from "../../src/runtime/transports/nats-security.js";
import { probe, Recorder } from "../support/actors.js";
import { NatsServer } from "../support/nats-server.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

describe("NATS with TLS and credentials (real nats-server requiring both)", () => {
  let dir = "";
  let server: NatsServer;
  let security: NatsSecurity;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-nats-tls-"));
    const tls = await testTls("master", "nats", { hosts: ["127.0.0.1", "localhost"] });
    await writeFile(join(dir, "ca.crt"), tls.ca);
    await writeFile(join(dir, "server.crt"), tls.cert);
    await writeFile(join(dir, "server.key"), tls.key, { mode: 0o600 });
    server = await NatsServer.start(["--tls", "--tlscert", join(dir, "server.crt"), "--tlskey", join(dir, "server.key"), "--user", "dcos", "--pass", "s3cret"]);
    security = { tlsCaFile: join(dir, "ca.crt"), user: "dcos", password: "s3cret" };
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the NATS transport carries messages with TLS and a user, and is refused without TLS or with a wrong password", async () => {
    const nodes = await Promise.all(
      ["tls-a", "tls-b"].map(async (address) => {
        const system = new ActorSystem({ transport: await NatsTransport.connect({ servers: server.url, address, security, logger: testLogger() }), logger: testLogger() });
        await system.start();
        cleanups.push(() => system.stop());
        return { system, actor: system.spawn(new Recorder("r")) };
      }),
    );
    nodes[0]!.actor.tell(nodes[1]!.actor.self, probe(7));
    await waitFor(() => nodes[1]!.actor.received.length === 1, "the message over NATS with TLS");
    assert.equal(nodes[1]!.actor.received[0]!.seq, 7);

    await assert.rejects(NatsTransport.connect({ servers: server.url, address: "plain", logger: testLogger() }), /Cannot connect to NATS/);
    await assert.rejects(NatsTransport.connect({ servers: server.url, address: "wrong", security: { ...security, password: "guess" }, logger: testLogger() }), /Cannot connect to NATS.*(Authorization|authorization)/);
  });

  it("the event tap publishes with TLS and credentials, and the tail reads with them", async () => {
    const bus = new EventBus();
    const metrics = new Metrics();
    const tap = new NatsEventTap({ url: server.url, cluster: "test", bus, metrics, logger: testLogger(), security });
    cleanups.push(() => tap.close());
    await tap.ready;
    const lines: string[] = [];
    const controller = new AbortController();
    cleanups.push(async () => controller.abort());
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    void tailEvents({ url: server.url, cluster: "test", security, json: true, write: (l) => lines.push(l), signal: controller.signal, ready }).catch((err: unknown) => lines.push(`ERROR ${(err as Error).message}`));
    await subscribed;
    const task = create(TaskSchema, { taskId: { value: "t1" }, frameworkId: { value: "fw" }, state: TaskState.STAGING });
    bus.publish("master@test", 1, { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } });
    await waitFor(() => lines.length >= 1, "the event through NATS with TLS");
    assert.equal(JSON.parse(lines[0]!).taskAdded.task.taskId.value, "t1");
  });

  it("refuses contradictory or unreadable settings with a precise error", async () => {
    await assert.rejects(natsConnectOptions({ user: "a", password: "b", token: "c" }), /give one of a credentials file, a user and password, or a token/);
    await assert.rejects(natsConnectOptions({ tlsCertFile: "/x" }), /client certificate and its key go together/);
    await assert.rejects(natsConnectOptions({ tlsCaFile: "/nonexistent/ca.crt" }), /Cannot read the NATS CA certificate at \/nonexistent\/ca.crt/);
  });
});
