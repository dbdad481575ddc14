/**
 * A request gate (ServiceDefinitionOptions.requestGates: the master's admission control
 * refusing an ACCEPT from its bytes) answers only an authenticated caller: an unknown caller
 * hears UNAUTHENTICATED, never that the server is busy, and its call is not counted as
 * refused; a known one hears the refusal as it was made, and the handler never runs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AcceptRequestSchema, AcceptResponseSchema, SchedulerService } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { clientConstructor, statusError } from "../../src/runtime/grpc/service.js";
import { credentialChannelOptions } from "../../src/security/auth/client-credential.js";
import { addGuardedService } from "../../src/security/auth/grpc-guard.js";
import { serviceSecurity } from "../../src/security/auth/security-config.js";
import { unary } from "../support/grpc-loopback.js";
import { CREDENTIALS } from "./secured-master.js";

describe("a public service's request gate", () => {
  const server = new grpc.Server();
  const metrics = new Metrics();
  const clients: grpc.Client[] = [];
  let target = "";
  let handled = 0;
  /** The gate's refusals answered (what the master counts as master/launches_refused). */
  let refusalsAnswered = 0;

  before(async () => {
    const security = serviceSecurity({ credentials: CREDENTIALS }, metrics);
    addGuardedService(
      server,
      SchedulerService,
      {
        accept: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
          handled++;
          callback(null, create(AcceptResponseSchema));
        },
      },
      { authenticator: security.authenticator, metrics, requestGates: { accept: () => ({ error: new DcosError(Code.RESOURCE_EXHAUSTED, "The master is busy launching"), answered: () => refusalsAnswered++ }) } },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    target = `127.0.0.1:${port}`;
  });

  after(() => {
    for (const c of clients) c.close();
    server.forceShutdown();
  });

  function client(who: string | undefined): grpc.Client {
    const Client = clientConstructor(SchedulerService);
    const c = new Client(target, grpc.credentials.createInsecure(), credentialChannelOptions(CREDENTIALS.find((x) => x.principal === who)));
    clients.push(c);
    return c;
  }

  const accept = (c: grpc.Client) =>
    unary(c, "accept", create(AcceptRequestSchema, { operations: [{ kind: { case: "launch", value: { taskInfos: [{ name: "t" }] } } }] })).then(
      () => assert.fail("the call was not refused"),
      (e: unknown) => statusError(e),
    );

  it("answers an unauthenticated caller UNAUTHENTICATED, not that the server is busy", async () => {
    const err = await accept(client(undefined));
    assert.equal(err.code, Code.UNAUTHENTICATED, err.message);
    assert.doesNotMatch(err.message, /busy/);
    assert.equal(metrics.counter("authentication/failed").value, 1);
    assert.equal(refusalsAnswered, 0, "a refusal never answered is not counted");
  });

  it("answers an authenticated caller with the gate's refusal; the handler never runs and nothing counts as invalid", async () => {
    const err = await accept(client("alice"));
    assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
    assert.match(err.message, /The master is busy launching/);
    assert.equal(handled, 0);
    assert.equal(refusalsAnswered, 1);
    assert.equal(metrics.counter("grpc/invalid_requests").value, 0);
  });
});
