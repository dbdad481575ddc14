import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FrameworkInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ExecutorInfo_Type, ExecutorInfoSchema, TaskInfoSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import {
  COMMAND_EXECUTOR_PATH,
  commandExecutorInfo,
  DEFAULT_EXECUTOR_PATH,
  executorContainerConfig,
  executorKind,
  type ExecutorContainerInput,
} from "../../src/actors/agent/executor-config.js";
import { readExecutorEnvironment } from "../../src/protocol/executor-environment.js";
import { rangesResource, scalarResource } from "../../src/resources/index.js";
import { Code, DcosError } from "../../src/runtime/error.js";

const framework = create(FrameworkInfoSchema, { id: { value: "fw-1" }, user: "alice" });

function input(over: Partial<ExecutorContainerInput>): ExecutorContainerInput {
  return {
    kind: "command",
    info: create(ExecutorInfoSchema, { executorId: { value: "ex-1" } }),
    framework,
    agentId: "agent-1",
    agentEndpoint: "127.0.0.1:40000",
    containerId: "c-1",
    sandbox: "/work/sandbox",
    resources: [scalarResource("cpus", 1.5), scalarResource("mem", 128), rangesResource("ports", [{ begin: 31000, end: 31002 }, { begin: 31010, end: 31010 }])],
    switchUser: false,
    ...over,
  };
}

describe("Executor container config", () => {
  it("gives a command task the command executor, named after the task", () => {
    const info = commandExecutorInfo(create(TaskInfoSchema, { taskId: { value: "t-7" } }), "fw-1");
    assert.equal(info.executorId?.value, "t-7");
    assert.equal(executorKind(info, true), "command");
    assert.equal(executorKind(create(ExecutorInfoSchema, { type: ExecutorInfo_Type.DEFAULT }), false), "default");
    assert.equal(executorKind(create(ExecutorInfoSchema, { type: ExecutorInfo_Type.CUSTOM }), false), "custom");
  });

  it("runs the built-in executors with this node, and tells them where the agent is and who they are", () => {
    const c = executorContainerConfig(input({}));
    assert.deepEqual(c.command, [process.execPath, COMMAND_EXECUTOR_PATH]);
    assert.deepEqual(executorContainerConfig(input({ kind: "default" })).command, [process.execPath, DEFAULT_EXECUTOR_PATH]);
    assert.deepEqual(c.env, {
      DCOS_AGENT_ENDPOINT: "127.0.0.1:40000",
      DCOS_AGENT_ID: "agent-1",
      DCOS_FRAMEWORK_ID: "fw-1",
      DCOS_EXECUTOR_ID: "ex-1",
      DCOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: "5",
    });
    assert.deepEqual(c.resources, { cpus: 1.5, memMb: 128, diskMb: 0, ports: [31000, 31001, 31002, 31010] });
    assert.equal(c.user, undefined, "no user switch unless the agent may");
    assert.equal(executorContainerConfig(input({ switchUser: true })).user, "alice");
  });

  it("tells executors the recovery timeout in seconds, and the executor environment reads it back", () => {
    const env = executorContainerConfig(input({ recoveryTimeoutMs: 15 * 60_000 })).env!;
    assert.equal(env.DCOS_RECOVERY_TIMEOUT, "900");
    assert.equal(readExecutorEnvironment(env).recoveryTimeoutMs, 900_000);
    assert.equal(readExecutorEnvironment({ ...env, DCOS_RECOVERY_TIMEOUT: "soon" }).recoveryTimeoutMs, undefined, "unreadable: the driver's default applies");
    assert.equal(readExecutorEnvironment({ ...env, DCOS_RECOVERY_TIMEOUT: undefined }).recoveryTimeoutMs, undefined);
  });

  it("runs a custom executor's command, shell or argv, with its environment (ours wins)", () => {
    const shell = create(ExecutorInfoSchema, {
      type: ExecutorInfo_Type.CUSTOM,
      executorId: { value: "ex-1" },
      command: { value: "./my-executor --flag", environment: { variables: [{ name: "MODE", value: "fast" }, { name: "DCOS_EXECUTOR_ID", value: "spoofed" }] } },
      shutdownGracePeriodSeconds: 9,
    });
    const c = executorContainerConfig(input({ kind: "custom", info: shell }));
    assert.equal(c.command, "./my-executor --flag");
    assert.equal(c.env?.MODE, "fast");
    assert.equal(c.env?.DCOS_EXECUTOR_ID, "ex-1");
    assert.equal(c.env?.DCOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, "9");
    const argv = create(ExecutorInfoSchema, { type: ExecutorInfo_Type.CUSTOM, executorId: { value: "ex-1" }, command: { shell: false, arguments: ["/bin/exec", "-v"] } });
    assert.deepEqual(executorContainerConfig(input({ kind: "custom", info: argv })).command, ["/bin/exec", "-v"]);
    const none = create(ExecutorInfoSchema, { type: ExecutorInfo_Type.CUSTOM, executorId: { value: "ex-1" } });
    assert.throws(() => executorContainerConfig(input({ kind: "custom", info: none })), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /no command/.test(e.message));
  });
});
