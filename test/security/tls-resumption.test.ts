/**
 * TLS session resumption on the node's gRPC port: a client reconnecting to a server it
 * reached before resumes its session (no full handshake), the server still sees the
 * client's verified certificate on the resumed session, and a restarted server resumes
 * its clients' sessions only when it holds the same ticket keys.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { GetHealthRequestSchema, GetHealthResponseSchema, OperatorService } from "../../src/gen/dcos/v1/operator_pb.js";
import { clientConstructor, serviceDefinition } from "../../src/runtime/grpc/service.js";
import { channelCredentials, serverCredentials, verifiedPeer, type CallWithAuthContext } from "../../src/security/pki/grpc-credentials.js";
import type { ResumingChannelCredentials } from "../../src/security/pki/tls-resumption.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { testTls } from "../support/test-pki.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A master's OperatorService whose GetHealth records the verified client identity of each call. */
async function server(tls: TlsMaterial, ticketKeys: Buffer, port = 0): Promise<{ port: number; callers: string[]; stop: () => void }> {
  const s = new grpc.Server();
  const callers: string[] = [];
  s.addService(serviceDefinition(OperatorService), {
    getHealth: (call: CallWithAuthContext, cb: grpc.sendUnaryData<unknown>) => {
      const peer = verifiedPeer(call);
      callers.push(peer ? `${peer.role}/${peer.name}` : "none");
      cb(null, create(GetHealthResponseSchema, { healthy: true }));
    },
  });
  const bound = await new Promise<number>((resolve, reject) => s.bindAsync(`127.0.0.1:${port}`, serverCredentials(tls, false, ticketKeys), (err, p) => (err ? reject(err) : resolve(p))));
  const stop = () => s.forceShutdown();
  closers.push(stop);
  return { port: bound, callers, stop };
}

/** One call on a fresh channel (a new TCP and TLS connection), closed after. */
async function callOnce(port: number, credentials: grpc.ChannelCredentials): Promise<void> {
  const Client = clientConstructor(OperatorService);
  const client = new Client(`127.0.0.1:${port}`, credentials, { "grpc.use_local_subchannel_pool": 1 });
  try {
    await new Promise((resolve, reject) =>
      (client as unknown as Record<string, Function>)["getHealth"]!(create(GetHealthRequestSchema), { deadline: Date.now() + 5000 }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
    );
  } finally {
    client.close();
  }
}

describe("TLS session resumption", () => {
  it("a reconnecting client resumes its session and the server still sees its verified certificate", async () => {
    const keys = randomBytes(48);
    const master = await server(await testTls("master", "m1"), keys);
    const creds = channelCredentials(await testTls("principal", "marathon")) as ResumingChannelCredentials;
    for (let i = 0; i < 4; i++) await callOnce(master.port, creds);
    assert.equal(creds.stats.handshakes, 4);
    assert.equal(creds.stats.resumed, 3, "every reconnection after the first resumed");
    assert.deepEqual(master.callers, ["principal/marathon", "principal/marathon", "principal/marathon", "principal/marathon"], "the identity on resumed sessions is the certificate's");
  });

  it("a restarted server resumes sessions with the same ticket keys, not with new ones", async () => {
    const keys = randomBytes(48);
    const tls = await testTls("master", "m2");
    const first = await server(tls, keys);
    const creds = channelCredentials(await testTls("agent", "a1")) as ResumingChannelCredentials;
    await callOnce(first.port, creds);
    first.stop();
    const restarted = await server(tls, keys, first.port);
    await callOnce(restarted.port, creds);
    assert.equal(creds.stats.resumed, 1, "resumed across the restart (same ticket keys)");
    restarted.stop();
    const rekeyed = await server(tls, randomBytes(48), first.port);
    await callOnce(rekeyed.port, creds);
    assert.equal(creds.stats.resumed, 1, "other keys: a full handshake");
    assert.equal(creds.stats.handshakes, 3);
    assert.deepEqual(rekeyed.callers, ["agent/a1"]);
  });
});
