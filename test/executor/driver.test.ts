/**
 * The executor driver against a real ExecutorService (gRPC on loopback) whose agent side is
 * a recording fake: subscription, events, updates stored or refused, and resubscription
 * after the agent restarts with the unacknowledged updates resent.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  ExecutorEventSchema,
  type ExecutorEvent,
  type ExecutorServiceSubscribeRequest,
  type ExecutorServiceUpdateRequest,
} from "../../src/gen/dcos/v1/executor_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import type { ExecutorApi, ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { ExecutorServer } from "../../src/actors/agent/executor-service.js";
import { ExecutorDriver } from "../../src/actors/executor-driver/driver.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { waitFor } from "../support/wait.js";

class FakeAgent implements ExecutorApi {
  readonly subscriptions: ExecutorServiceSubscribeRequest[] = [];
  readonly updates: ExecutorServiceUpdateRequest[] = [];
  links: ExecutorLink[] = [];

  async subscribe(request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
    if (request.executorId?.value !== "ex-1") throw new DcosError(Code.NOT_FOUND, `executor '${request.executorId?.value}' is not known`);
    this.subscriptions.push(request);
    this.links.push(link);
    link.send(create(ExecutorEventSchema, { kind: { case: "subscribed", value: { containerId: { value: "c-1" } } } }));
  }

  async update(request: ExecutorServiceUpdateRequest): Promise<void> {
    if (request.status?.state === TaskState.STAGING) throw new DcosError(Code.INVALID_ARGUMENT, "an executor cannot report TASK_STAGING");
    this.updates.push(request);
  }

  async message(): Promise<void> {}

  disconnected(link: ExecutorLink): void {
    this.links = this.links.filter((l) => l !== link);
  }

  send(event: ExecutorEvent): void {
    this.links.at(-1)!.send(event);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(agent: FakeAgent, port = 0): Promise<{ server: ExecutorServer; endpoint: string }> {
  const server = new ExecutorServer({ port });
  const endpoint = await server.listen();
  server.attach(agent);
  cleanups.push(() => server.stop());
  return { server, endpoint };
}

describe("ExecutorDriver", () => {
  it("subscribes and hands events to callbacks and to the async iterator, in order", async () => {
    const agent = new FakeAgent();
    const { endpoint } = await serve(agent);
    const launched: string[] = [];
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1" }, { launch: (t) => launched.push(t.taskId!.value) });
    cleanups.push(() => driver.stop());
    const events = driver.events();
    driver.start();
    assert.equal((await events.next()).value?.kind.case, "subscribed");
    agent.send(create(ExecutorEventSchema, { kind: { case: "launch", value: { task: { taskId: { value: "t1" } } } } }));
    agent.send(create(ExecutorEventSchema, { kind: { case: "kill", value: { taskId: { value: "t1" } } } }));
    assert.equal((await events.next()).value?.kind.case, "launch");
    assert.equal((await events.next()).value?.kind.case, "kill");
    assert.deepEqual(launched, ["t1"]);
  });

  it("resolves an update once stored, with a uuid filled in; rejects one the agent refuses with its error", async () => {
    const agent = new FakeAgent();
    const { endpoint } = await serve(agent);
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1" });
    cleanups.push(() => driver.stop());
    driver.start();
    const status = await driver.update({ taskId: { value: "t1" }, state: TaskState.RUNNING });
    assert.equal(status.uuid.length, 16);
    assert.equal(agent.updates.length, 1);
    await assert.rejects(driver.update({ taskId: { value: "t1" }, state: TaskState.STAGING }), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /TASK_STAGING/.test(e.message));
    assert.equal(driver.pendingUpdates(), 1, "the refused update is not kept for resending");
  });

  it("tells the executor when an agent that does not know it still does not within the recovery timeout", async () => {
    const agent = new FakeAgent();
    const { endpoint } = await serve(agent);
    let error = "";
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "stranger", reconnectMs: 20, recoveryTimeoutMs: 300 }, { error: (m) => (error = m) });
    cleanups.push(() => driver.stop());
    driver.start();
    await waitFor(() => error || undefined, "the error callback");
    assert.match(error, /did not recover this executor within 300 ms: .*executor 'stranger' is not known/);
  });

  it("keeps asking an agent that does not know it yet (NOT_FOUND while it recovers), and subscribes once it does (fault-tolerance hole 1)", async () => {
    const agent = new FakeAgent();
    let refusals = 0;
    const known = agent.subscribe.bind(agent);
    agent.subscribe = async (request, link) => {
      if (refusals++ < 3) throw new DcosError(Code.NOT_FOUND, `executor '${request.executorId?.value}' is not known to this agent`);
      return known(request, link);
    };
    const { endpoint } = await serve(agent);
    let error = "";
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1", reconnectMs: 20 }, { error: (m) => (error = m) });
    cleanups.push(() => driver.stop());
    driver.start();
    await waitFor(() => agent.links.length === 1 || error || undefined, "a subscription");
    assert.equal(error, "", "the driver did not give up");
    assert.equal(refusals, 4, "three refusals, then the subscription");
  });

  it("ends at once when the agent refuses a known executor (FAILED_PRECONDITION: it is shutting down)", async () => {
    const agent = new FakeAgent();
    agent.subscribe = async () => {
      throw new DcosError(Code.FAILED_PRECONDITION, "Cannot subscribe executor 'ex-1': it is TERMINATING");
    };
    const { endpoint } = await serve(agent);
    let error = "";
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1", reconnectMs: 20 }, { error: (m) => (error = m) });
    cleanups.push(() => driver.stop());
    driver.start();
    await waitFor(() => error || undefined, "the error callback");
    assert.match(error, /refused this executor: .*TERMINATING/);
  });

  it("subscribes again after the agent restarts and resends the updates not yet acknowledged", async () => {
    const first = new FakeAgent();
    const { server, endpoint } = await serve(first);
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1", reconnectMs: 50 });
    cleanups.push(() => driver.stop());
    driver.start();
    await waitFor(() => first.links.length === 1, "the first subscription");
    first.send(create(ExecutorEventSchema, { kind: { case: "launch", value: { task: { taskId: { value: "t2" } } } } }));
    const acked = await driver.update({ taskId: { value: "t1" }, state: TaskState.RUNNING });
    const unacked = await driver.update({ taskId: { value: "t1" }, state: TaskState.FINISHED });
    first.send(create(ExecutorEventSchema, { kind: { case: "acknowledged", value: { taskId: { value: "t1" }, uuid: acked.uuid } } }));
    await waitFor(() => driver.pendingUpdates() === 1, "the acknowledgement");
    await server.stop();

    const second = new FakeAgent();
    await serve(second, Number(endpoint.split(":")[1]));
    const again = await waitFor(() => second.subscriptions[0], "a new subscription", 10_000);
    assert.deepEqual(again.unacknowledgedUpdates.map((u) => Buffer.from(u.status!.uuid).toString("hex")), [Buffer.from(unacked.uuid).toString("hex")]);
    assert.deepEqual(again.unacknowledgedTasks.map((t) => t.taskId?.value), ["t2"], "t2 was launched and never reported on");
  });
});
