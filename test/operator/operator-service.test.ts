import assert from "node:assert/strict";
import { create, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, it } from "node:test";
import { QuotaInfoSchema, WeightInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import {
  OperatorService,
  type ClusterEvent,
  type GetMetricsResponse,
  type GetQuotaResponse,
  type GetStateResponse,
  type GetTasksResponse,
  type GetWeightsResponse,
  type OperatorServiceSubscribeResponse,
  UpdateQuotaRequestSchema,
  UpdateWeightsRequestSchema,
} from "../../src/gen/dcos/v1/operator_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { addOperatorService } from "../../src/operator/operator-service.js";
import { parseResources } from "../../src/resources/index.js";
import { serveOnLoopback, serverStream, unary, type Loopback } from "../support/grpc-loopback.js";
import { Cluster, commandTask } from "../master/harness.js";
import { waitFor } from "../support/wait.js";

interface Served extends Loopback {
  cluster: Cluster;
}

let served: Served | undefined;
afterEach(async () => {
  if (!served) return;
  served.close();
  await served.cluster.stop();
  served = undefined;
});

async function serve(): Promise<Served> {
  const cluster = await Cluster.start({ agents: 2 });
  const loopback = await serveOnLoopback(OperatorService as DescService, (server) =>
    addOperatorService(server, { master: cluster.facade, metrics: cluster.masterSystem.metrics, version: "1.2.3", heartbeatSeconds: 0.2 }),
  );
  return (served = { ...loopback, cluster });
}

function call<T>(s: Served, name: string, request: unknown = {}): Promise<T> {
  return unary<T>(s.client, name, request);
}

function weightsRequest(role: string, weight: number) {
  return create(UpdateWeightsRequestSchema, { weightInfos: [create(WeightInfoSchema, { role, weight })] });
}

async function launch(c: Cluster): Promise<string> {
  const s = await c.subscribe("fw");
  const offer = s.sink.offers()[0]!;
  await c.launch(s, [offer], [commandTask("t1")]);
  c.agents.find((a) => a.agentId === offer.agentId!.value)!.update(s.frameworkId, "t1", TaskState.RUNNING);
  await c.clock.settle();
  return s.frameworkId;
}

describe("Operator gRPC service", () => {
  it("GetHealth, GetVersion, GetState, GetTasks and GetMetrics describe the master", async () => {
    const s = await serve();
    const frameworkId = await launch(s.cluster);
    assert.deepEqual(await call(s, "getHealth"), { $typeName: "dcos.v1.GetHealthResponse", healthy: true });
    assert.equal((await call<{ version: string }>(s, "getVersion")).version, "1.2.3");
    const state = await call<GetStateResponse>(s, "getState");
    assert.equal(state.getAgents!.agents.length, 2);
    assert.equal(state.getFrameworks!.frameworks[0]!.frameworkInfo!.id!.value, frameworkId);
    assert.equal(state.getTasks!.tasks[0]!.state, TaskState.RUNNING);
    assert.ok(state.stateVersion > 0n);
    const tasks = await call<GetTasksResponse>(s, "getTasks");
    assert.deepEqual(
      tasks.tasks.map((t) => t.taskId!.value),
      ["t1"],
    );
    const metrics = await call<GetMetricsResponse>(s, "getMetrics");
    assert.equal(metrics.metrics.find((m) => m.name === "master/tasks_running")?.value, 1);
  });

  it("UpdateWeights and UpdateQuota persist in the registry; bad input is INVALID_ARGUMENT with the reason", async () => {
    const s = await serve();
    await call(s, "updateWeights", weightsRequest("eng", 2.5));
    assert.deepEqual(
      (await call<GetWeightsResponse>(s, "getWeights")).weightInfos.map((w) => [w.role, w.weight]),
      [["eng", 2.5]],
    );
    const q = create(QuotaInfoSchema, { role: "eng", guarantees: parseResources("cpus:2;mem:1024").toProto(), limits: parseResources("cpus:4").toProto() });
    await call(s, "updateQuota", create(UpdateQuotaRequestSchema, { quotaInfos: [q] }));
    const got = await call<GetQuotaResponse>(s, "getQuota");
    assert.equal(got.quotaInfos[0]!.role, "eng");
    assert.ok(s.cluster.registrar.applied.some((op) => op.kind === "updateQuota"), "quota went through the registrar");

    await assert.rejects(call(s, "updateWeights", weightsRequest("eng", -1)), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /weight of 'eng' must be a positive number/);
      return true;
    });
    const tooMuch = create(QuotaInfoSchema, { role: "eng", guarantees: parseResources("cpus:8").toProto(), limits: parseResources("cpus:4").toProto() });
    await assert.rejects(call(s, "updateQuota", create(UpdateQuotaRequestSchema, { quotaInfos: [tooMuch] })), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /guarantee of cpus \(8\) exceeds its limit \(4\)/);
      return true;
    });
    await assert.rejects(call(s, "updateQuota", create(UpdateQuotaRequestSchema, { quotaInfos: [{ role: "a//b" }] })), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
  });

  it("Subscribe sends SUBSCRIBED with the state, then task and framework events, and heartbeats", async () => {
    const s = await serve();
    const events: ClusterEvent[] = [];
    const stream = serverStream<OperatorServiceSubscribeResponse>(s.client, "subscribe");
    stream.on("data", (r: OperatorServiceSubscribeResponse) => events.push(r.event!));
    stream.on("error", () => undefined);
    await waitFor(() => events.length > 0, "SUBSCRIBED");
    assert.equal(events[0]!.kind.case, "subscribed");
    assert.equal(events[0]!.kind.case === "subscribed" && events[0]!.kind.value.getState!.getAgents!.agents.length, 2);
    await launch(s.cluster);
    await waitFor(() => events.some((e) => e.kind.case === "statusUpdate"), "STATUS_UPDATE");
    const kinds = events.map((e) => e.kind.case).filter((k) => k !== "heartbeat");
    assert.deepEqual(kinds, ["subscribed", "frameworkAdded", "offersMade", "taskAdded", "taskUpdated", "statusUpdate"]);
    const seqs = events.filter((e) => e.kind.case !== "heartbeat" && e.kind.case !== "subscribed").map((e) => Number(e.sequence));
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "sequence numbers without gaps");
    await waitFor(() => events.some((e) => e.kind.case === "heartbeat"), "a HEARTBEAT");
    stream.cancel();
  });
});
