/**
 * Clients check the server's role: a scheduler, an operator tool or an agent dialing a
 * "master" refuses a server whose certificate (from the same CA) is an agent's or a
 * principal's, or a master of another cluster; a master's node transport dials masters and
 * agents but never a principal. Nothing is sent to such a server.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { GetHealthRequestSchema, GetHealthResponseSchema, OperatorService } from "../../src/gen/dcos/v1/operator_pb.js";
import { clientConstructor, serviceDefinition } from "../../src/runtime/grpc/service.js";
import { channelCredentials, nodeTransportSecurity, serverCredentials } from "../../src/security/pki/grpc-credentials.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { testTls } from "../support/test-pki.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** An OperatorService answering GetHealth over TLS with `tls`; counts the calls it served. */
async function server(tls: TlsMaterial): Promise<{ target: string; served: () => number }> {
  const s = new grpc.Server();
  let served = 0;
  s.addService(serviceDefinition(OperatorService), {
    getHealth: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      served++;
      cb(null, create(GetHealthResponseSchema, { healthy: true }));
    },
  });
  const port = await new Promise<number>((resolve, reject) => s.bindAsync("127.0.0.1:0", serverCredentials(tls), (err, p) => (err ? reject(err) : resolve(p))));
  closers.push(() => s.forceShutdown());
  return { target: `127.0.0.1:${port}`, served: () => served };
}

function health(target: string, credentials: grpc.ChannelCredentials): Promise<unknown> {
  const Client = clientConstructor(OperatorService);
  const client = new Client(target, credentials);
  closers.push(() => client.close());
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, Function>)["getHealth"]!(create(GetHealthRequestSchema), { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res: unknown) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function refusedWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.UNAVAILABLE, `${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, pattern);
    return true;
  });
}

describe("Clients check the server's certificate role", () => {
  it("a scheduler's or operator's channel (principal certificate, or only the CA) accepts a master, not an agent or principal posing as one", async () => {
    const master = await server(await testTls("master", "m1"));
    const fakeByAgent = await server(await testTls("agent", "a1"));
    const fakeByPrincipal = await server(await testTls("principal", "mallory"));
    const scheduler = await testTls("principal", "marathon");
    assert.equal(((await health(master.target, channelCredentials(scheduler))) as { healthy: boolean }).healthy, true);
    await refusedWith(health(fakeByAgent.target, channelCredentials(scheduler)), /presented a agent certificate \('a1'\); expected a master certificate/);
    await refusedWith(health(fakeByPrincipal.target, channelCredentials(scheduler)), /presented a principal certificate \('mallory'\); expected a master certificate/);
    // A client with only the CA (no certificate of its own, e.g. `dcos-node run --tls-ca`) checks the role too.
    await refusedWith(health(fakeByAgent.target, channelCredentials({ ca: scheduler.ca })), /expected a master certificate/);
    assert.equal(fakeByAgent.served() + fakeByPrincipal.served(), 0, "no call reached a server of the wrong role");
    assert.equal(master.served(), 1);
  });

  it("an agent's node transport dials only masters; a master's dials masters and agents, never a principal; other clusters are refused", async () => {
    const agentTls = await testTls("agent", "a2");
    const masterTls = await testTls("master", "m2");
    const otherAgent = await server(await testTls("agent", "a3"));
    const master = await server(masterTls);
    const principal = await server(await testTls("principal", "p"));
    const agentClient = nodeTransportSecurity(agentTls).client;
    const masterClient = nodeTransportSecurity(masterTls).client;
    await health(master.target, agentClient);
    await refusedWith(health(otherAgent.target, agentClient), /presented a agent certificate \('a3'\); expected a master certificate/);
    await health(otherAgent.target, masterClient);
    await refusedWith(health(principal.target, masterClient), /presented a principal certificate \('p'\); expected a master or agent certificate/);
    // The same CA name but another cluster's CA: TLS itself refuses it. A certificate of the
    // cluster's own CA naming another cluster is refused by the identity check.
    const foreign = await server(await testTls("master", "m-evil", { cluster: "evil" }));
    await assert.rejects(health(foreign.target, agentClient), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    assert.equal(otherAgent.served(), 1, "only the master's transport reached the agent");
    assert.equal(principal.served() + foreign.served(), 0);
  });
});
