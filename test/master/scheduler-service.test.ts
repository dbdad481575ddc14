import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterEach, describe, it } from "node:test";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { AcceptRequestSchema, AcknowledgeBatchRequestSchema, DeclineRequestSchema, SubscribeRequestSchema, type AcceptRequest, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { serve as serveCluster, subscribe, unary, until, type Served } from "./grpc-harness.js";
import { commandTask } from "./harness.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

async function serve(): Promise<Served> {
  return (served = await serveCluster());
}

describe("master: gRPC SchedulerService", () => {
  it("subscribes over a server stream, receives offers and launches on them", async () => {
    const s = await serve();
    const sub = subscribe(s, "grpc-fw");
    const subscribed = await until(s, "SUBSCRIBED", () => sub.events.find((e) => e.kind.case === "subscribed"));
    assert.equal(subscribed.kind.case, "subscribed");
    const info = subscribed.kind.value as { frameworkId: { value: string }; streamId: string; heartbeatIntervalSeconds: number };
    assert.equal(info.heartbeatIntervalSeconds, 15);
    const offersEvent = await until(s, "OFFERS", () => sub.events.find((e) => e.kind.case === "offers"));
    const offers = offersEvent.kind.case === "offers" ? offersEvent.kind.value.offers : [];
    const accept: AcceptRequest = create(AcceptRequestSchema, {
      frameworkId: info.frameworkId,
      streamId: info.streamId,
      offerIds: offers.map((o) => o.id!),
      operations: [{ kind: { case: "launch", value: { taskInfos: [commandTask("over-grpc")] } } }],
    });
    await unary(s.client, "accept", accept);
    await until(s, "RunTask at the agent", () => s.cluster.agents[0]!.messages(RunTaskSchema).length === 1);
  });

  it("answers bad calls with precise statuses", async () => {
    const s = await serve();
    const sub = subscribe(s, "fw");
    const subscribed = await until(s, "SUBSCRIBED", () => sub.events.find((e) => e.kind.case === "subscribed"));
    const info = subscribed.kind.value as { frameworkId: { value: string }; streamId: string };
    const cases: [string, unknown, grpc.status, RegExp][] = [
      ["decline", create(DeclineRequestSchema, { streamId: info.streamId }), grpc.status.INVALID_ARGUMENT, /framework_id is required/],
      ["decline", create(DeclineRequestSchema, { frameworkId: { value: "nope" }, streamId: "x" }), grpc.status.NOT_FOUND, /not known/],
      ["decline", create(DeclineRequestSchema, { frameworkId: info.frameworkId, streamId: "stale" }), grpc.status.FAILED_PRECONDITION, /current stream/],
      ["accept", create(AcceptRequestSchema, { frameworkId: info.frameworkId, streamId: info.streamId }), grpc.status.INVALID_ARGUMENT, /offer_ids/],
      [
        "acknowledgeBatch",
        create(AcknowledgeBatchRequestSchema, { frameworkId: info.frameworkId, streamId: info.streamId, acknowledgements: [{ taskId: { value: "t" } }] }),
        grpc.status.INVALID_ARGUMENT,
        /acknowledgements\[0\]\.agent_id is required/,
      ],
    ];
    for (const [method, request, code, message] of cases) {
      await assert.rejects(unary(s.client, method, request), (e: grpc.ServiceError) => {
        assert.equal(e.code, code, `${method}: ${e.details}`);
        assert.match(e.details, message);
        return true;
      });
    }
    // A subscription without roles never opens a stream.
    const bad = (s.client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<SubscribeResponse>>).subscribe!(
      create(SubscribeRequestSchema, { frameworkInfo: { name: "x", roles: [] } }),
    );
    bad.on("data", () => undefined);
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      bad.on("error", () => undefined);
      bad.on("status", resolve);
      void s.cluster.clock.settle();
    });
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /roles must name at least one role/);
  });

  it("a scheduler that hangs up is disconnected and, with failover_timeout 0, removed", async () => {
    const s = await serve();
    const sub = subscribe(s, "leaver");
    await until(s, "SUBSCRIBED", () => sub.events.some((e) => e.kind.case === "subscribed"));
    sub.call.cancel();
    await until(s, "the framework's removal", () => s.cluster.metric("master/frameworks_removed") === 1);
    assert.equal(s.cluster.metric("master/frameworks_connected"), 0);
  });

  it("serves reflection listing the Scheduler service", async () => {
    const s = await serve();
    const require = createRequire(import.meta.url);
    const protoFile = require.resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile)) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(s.target, grpc.credentials.createInsecure());
    const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, { listServicesResponse?: { service: { name: string }[] } }>>).ServerReflectionInfo!();
    const answer = new Promise<string[]>((resolve, reject) => {
      call.on("data", (r: { listServicesResponse?: { service: { name: string }[] } }) => resolve(r.listServicesResponse?.service.map((x: { name: string }) => x.name) ?? []));
      call.on("error", reject);
    });
    call.write({ listServices: "*" });
    const names = await answer;
    call.end();
    client.close();
    assert.ok(names.includes("dcos.v1.SchedulerService"), `reflection lists ${names.join(", ")}`);
  });
});
