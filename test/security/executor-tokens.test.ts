/**
 * Executor tokens: the agent's ExecutorService takes calls only with the token of the
 * executor they name, so no local process or other executor can forge status updates.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ExecutorService, ExecutorServiceMessageRequestSchema, ExecutorServiceUpdateRequestSchema, type ExecutorServiceUpdateRequest } from "../../src/gen/dcos/v1/executor_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import type { ExecutorApi, ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { ExecutorServer } from "../../src/actors/agent/executor-service.js";
import { ExecutorTokens } from "../../src/actors/agent/executor-tokens.js";
import { ExecutorDriver } from "../../src/actors/executor-driver/driver.js";
import { EXECUTOR_ENV, readExecutorEnvironment } from "../../src/protocol/executor-environment.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { bearerChannelOptions } from "../../src/security/auth/client-credential.js";
import { unary } from "../support/grpc-loopback.js";

/** The agent side, recording what it is given (the service's token check is under test). */
class RecordingAgent implements ExecutorApi {
  readonly updates: ExecutorServiceUpdateRequest[] = [];
  async subscribe(_r: unknown, _link: ExecutorLink): Promise<void> {}
  async update(request: ExecutorServiceUpdateRequest): Promise<void> {
    this.updates.push(request);
  }
  async message(): Promise<void> {}
  disconnected(): void {}
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function update(frameworkId: string, executorId: string, taskId: string) {
  return create(ExecutorServiceUpdateRequestSchema, {
    frameworkId: { value: frameworkId },
    executorId: { value: executorId },
    status: { taskId: { value: taskId }, state: TaskState.FAILED, uuid: new Uint8Array(16).fill(7), message: "forged" },
  });
}

describe("Executor tokens", () => {
  it("forged executor update for someone else's task: refused without a token and with another executor's token", async () => {
    const tokens = ExecutorTokens.generate();
    const metrics = new Metrics();
    const agent = new RecordingAgent();
    const server = new ExecutorServer({ tokens, metrics });
    const endpoint = await server.listen();
    server.attach(agent);
    cleanups.push(() => server.stop());
    const Client = clientConstructor(ExecutorService);

    // Any local process: no token.
    const anyone = new Client(endpoint, grpc.credentials.createInsecure());
    cleanups.push(() => anyone.close());
    await assert.rejects(unary(anyone, "update", update("victim-fw", "victim-ex", "victim-task")), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAUTHENTICATED);
      assert.match(e.details, /must carry its token/);
      return true;
    });
    // Another executor of the same agent, with its own (valid) token, naming the victim.
    const other = new Client(endpoint, grpc.credentials.createInsecure(), bearerChannelOptions(tokens.token("attacker-fw", "attacker-ex")));
    cleanups.push(() => other.close());
    await assert.rejects(unary(other, "update", update("victim-fw", "victim-ex", "victim-task")), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.PERMISSION_DENIED);
      assert.match(e.details, /not the one of executor 'victim-ex' of framework 'victim-fw'/);
      return true;
    });
    await assert.rejects(unary(other, "message", create(ExecutorServiceMessageRequestSchema, { frameworkId: { value: "victim-fw" }, executorId: { value: "victim-ex" }, data: new Uint8Array(1) })), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
    assert.equal(agent.updates.length, 0, "no forged update reached the agent");
    assert.equal(metrics.snapshot()["slave/executor_calls_unauthenticated"], 3);

    // The victim's own executor, through the driver with the token from its environment.
    const env = readExecutorEnvironment({
      [EXECUTOR_ENV.agentEndpoint]: endpoint,
      [EXECUTOR_ENV.frameworkId]: "victim-fw",
      [EXECUTOR_ENV.executorId]: "victim-ex",
      [EXECUTOR_ENV.token]: tokens.token("victim-fw", "victim-ex"),
    });
    const driver = new ExecutorDriver({ agentEndpoint: env.agentEndpoint, frameworkId: env.frameworkId, executorId: env.executorId, token: env.token });
    cleanups.push(() => driver.stop());
    await driver.update({ taskId: { value: "victim-task" }, state: TaskState.RUNNING });
    assert.equal(agent.updates.length, 1);
  });

  it("the token key is kept owner-only and the same after a restart, so executors reconnect", async () => {
    const dir = await mkdtemp(join(tmpdir(), "executor-tokens-"));
    try {
      const a = await ExecutorTokens.load(dir);
      const b = await ExecutorTokens.load(dir);
      assert.equal(a.token("f", "e"), b.token("f", "e"));
      assert.ok(b.verify("f", "e", a.token("f", "e")));
      assert.ok(!b.verify("f", "e2", a.token("f", "e")));
      assert.equal((await stat(join(dir, "executor-token.key"))).mode & 0o777, 0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
