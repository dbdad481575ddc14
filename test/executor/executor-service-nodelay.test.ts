/**
 * Every gRPC server of ours accepts connections with Nagle's algorithm off: the agent's
 * ExecutorService (custom executors connect to it) and the actors' gRPC transport on a
 * TLS port and on a mixed TLS/plaintext port (mixed-port.ts). Node offers no getsockopt,
 * so the test records every `setNoDelay` call on a socket and checks that the server's side
 * of each accepted connection (its local port is the server's) got `setNoDelay(true)`.
 * (Node's http2 server also sets it on a plain TCP socket it is given; not on the stream a
 * mixed port hands over after peeking at the first byte, which is why that port sets it
 * on the socket itself.)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { ExecutorEventSchema, type ExecutorServiceSubscribeRequest } from "../../src/gen/dcos/v1/executor_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import type { ExecutorApi, ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { ExecutorServer } from "../../src/actors/agent/executor-service.js";
import { ExecutorTokens } from "../../src/actors/agent/executor-tokens.js";
import { ExecutorDriver } from "../../src/actors/executor-driver/driver.js";
import { startNode } from "../../src/node/node.js";
import { testLogger } from "../../src/runtime/log.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

/** Sockets that got setNoDelay(true), by local port. */
const noDelayByLocalPort = new Map<number, number>();
const original = Socket.prototype.setNoDelay;
before(() => {
  Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean) {
    const result = original.call(this, noDelay);
    if (noDelay !== false && this.localPort !== undefined) noDelayByLocalPort.set(this.localPort, (noDelayByLocalPort.get(this.localPort) ?? 0) + 1);
    return result;
  };
});
after(() => {
  Socket.prototype.setNoDelay = original;
});

class OneExecutor implements ExecutorApi {
  subscribed = 0;
  async subscribe(_request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void> {
    this.subscribed++;
    link.send(create(ExecutorEventSchema, { kind: { case: "subscribed", value: { containerId: { value: "c-1" } } } }));
  }
  async update(): Promise<void> {}
  async message(): Promise<void> {}
  disconnected(): void {}
}

describe("gRPC servers accept with TCP_NODELAY", () => {
  it("the agent's ExecutorService: the accepted executor connection has Nagle off, and token checks still apply", async () => {
    const tokens = ExecutorTokens.generate();
    const server = new ExecutorServer({ tokens });
    const endpoint = await server.listen();
    const port = Number(endpoint.split(":")[1]);
    const agent = new OneExecutor();
    server.attach(agent);
    const token = tokens.token("fw-1", "ex-1");
    const driver = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1", token }, {});
    try {
      const events = driver.events();
      driver.start();
      assert.equal((await events.next()).value?.kind.case, "subscribed");
      assert.equal(agent.subscribed, 1);
      assert.ok((noDelayByLocalPort.get(port) ?? 0) >= 1, `no accepted socket on port ${port} got setNoDelay(true): ${JSON.stringify([...noDelayByLocalPort])}`);

      // A wrong token is still refused on the new port.
      const intruder = new ExecutorDriver({ agentEndpoint: endpoint, frameworkId: "fw-1", executorId: "ex-1", token: "not-the-token" }, {});
      try {
        await assert.rejects(intruder.update({ taskId: { value: "t-1" }, state: TaskState.RUNNING }), /not the one of executor 'ex-1'/);
      } finally {
        intruder.stop();
      }
      assert.equal(agent.subscribed, 1);
    } finally {
      driver.stop();
      await server.stop();
    }
    // stop() closed the port: a new connection is refused.
    await waitFor(async () => {
      const s = new Socket();
      return await new Promise<boolean>((resolve) => {
        s.once("error", () => resolve(true));
        s.connect(port, "127.0.0.1", () => {
          s.destroy();
          resolve(false);
        });
      });
    }, "the executor port to close");
  });

  for (const mixed of [false, true]) {
    it(`the actors' gRPC transport on a ${mixed ? "mixed TLS/plaintext" : "TLS"} port: an accepted connection has Nagle off at once`, async () => {
      const node = await startNode({ port: 0, logger: testLogger(), tls: await testTls("master", `m-${mixed}`), plaintextClients: mixed });
      try {
        const port = Number(node.address.split(":").pop());
        const socket = new Socket();
        try {
          await new Promise<void>((resolve, reject) => socket.once("error", reject).connect(port, "127.0.0.1", () => resolve()));
          // No byte sent yet: the server's own TCP handler set it on accept.
          await waitFor(() => (noDelayByLocalPort.get(port) ?? 0) >= 1, `setNoDelay(true) on the accepted socket of port ${port}`);
        } finally {
          socket.destroy();
        }
      } finally {
        await node.stop();
      }
    });
  }
});
