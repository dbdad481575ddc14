/**
 * Health checks at the master (ManualClock, scripted agent): a task whose health check is
 * invalid gets TASK_ERROR with a precise reason at accept; health updates from the agent
 * reach the scheduler with `healthy` and the reason, and /state shows the latest health.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { AgentIDSchema, FrameworkIDSchema } from "../../src/gen/dcos/v1/common_pb.js";
import { RunTaskSchema, StatusUpdateSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { HealthCheckSchema, HealthCheck_Type, TaskState, TaskStatusSchema, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { healthCheckProblem } from "../../src/protocol/health-check.js";
import { stateResponse } from "../../src/actors/master/state-response.js";
import { taskJson } from "../../src/operator/master-state-json.js";
import { Cluster, commandTask } from "../master/harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

type Check = MessageInitShape<typeof HealthCheckSchema>;

const INVALID: [string, Check, RegExp][] = [
  ["no type", { command: { value: "true" } }, /health_check\.type must be COMMAND, HTTP or TCP$/],
  ["COMMAND without a command", { type: HealthCheck_Type.COMMAND }, /health_check of type COMMAND needs a command$/],
  ["COMMAND with an empty command", { type: HealthCheck_Type.COMMAND, command: { value: "  " } }, /health_check command is a shell command with an empty value$/],
  ["HTTP without http", { type: HealthCheck_Type.HTTP }, /health_check of type HTTP needs http$/],
  ["HTTP without a port", { type: HealthCheck_Type.HTTP, http: { path: "/health" } }, /health_check\.http needs a port$/],
  ["HTTP port out of range", { type: HealthCheck_Type.HTTP, http: { port: 70000 } }, /health_check\.http port 70000 is not a TCP port \(1-65535\)$/],
  ["HTTP bad scheme", { type: HealthCheck_Type.HTTP, http: { port: 80, scheme: "ftp" } }, /health_check\.http\.scheme 'ftp' must be http or https$/],
  ["HTTP relative path", { type: HealthCheck_Type.HTTP, http: { port: 80, path: "health" } }, /health_check\.http\.path 'health' must start with '\/'$/],
  ["HTTP bad status", { type: HealthCheck_Type.HTTP, http: { port: 80, statuses: [200, 42] } }, /health_check\.http\.statuses has 42, not an HTTP status \(100-599\)$/],
  ["TCP without a port", { type: HealthCheck_Type.TCP, tcp: {} }, /health_check\.tcp needs a port$/],
  ["negative interval", { type: HealthCheck_Type.TCP, tcp: { port: 80 }, intervalSeconds: -1 }, /health_check\.interval_seconds -1 must be a finite number of seconds > 0$/],
  ["zero timeout", { type: HealthCheck_Type.TCP, tcp: { port: 80 }, timeoutSeconds: 0 }, /health_check\.timeout_seconds 0 must be a finite number of seconds > 0$/],
  ["negative delay", { type: HealthCheck_Type.TCP, tcp: { port: 80 }, delaySeconds: -5 }, /health_check\.delay_seconds -5 must be a finite number of seconds ≥ 0$/],
  ["infinite grace", { type: HealthCheck_Type.TCP, tcp: { port: 80 }, gracePeriodSeconds: Infinity }, /health_check\.grace_period_seconds Infinity must be a finite number/],
  ["zero failures", { type: HealthCheck_Type.TCP, tcp: { port: 80 }, consecutiveFailures: 0 }, /health_check\.consecutive_failures must be at least 1$/],
];

describe("health checks at the master", () => {
  it("healthCheckProblem accepts valid checks with defaults and with every field set", () => {
    assert.equal(healthCheckProblem(create(HealthCheckSchema, { type: HealthCheck_Type.TCP, tcp: { port: 8080 } }), "Task 't'"), undefined);
    const full = create(HealthCheckSchema, {
      type: HealthCheck_Type.HTTP,
      http: { scheme: "https", port: 8443, path: "/ready", statuses: [200, 204] },
      delaySeconds: 0,
      intervalSeconds: 1,
      timeoutSeconds: 2,
      consecutiveFailures: 1,
      gracePeriodSeconds: 0,
    });
    assert.equal(healthCheckProblem(full, "Task 't'"), undefined);
  });

  it("an accept with invalid health checks: each task gets TASK_ERROR with the precise reason, the valid one launches", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:32;mem:8192" }));
    const s = await c.subscribe("fw");
    const bad = INVALID.map(([, check], i) => {
      const t = commandTask(`bad-${i}`, "cpus:0.1;mem:16");
      t.healthCheck = create(HealthCheckSchema, check);
      return t;
    });
    const good = commandTask("good", "cpus:0.1;mem:16");
    good.healthCheck = create(HealthCheckSchema, { type: HealthCheck_Type.COMMAND, command: { value: "true" } });
    await c.launch(s, s.sink.offers(), [...bad, good]);
    const byTask = new Map(s.sink.updates().map((u) => [u.taskId!.value, u]));
    INVALID.forEach(([name, , reason], i) => {
      const u = byTask.get(`bad-${i}`);
      assert.equal(u?.state, TaskState.ERROR, name);
      assert.equal(u.reason, TaskStatus_Reason.TASK_INVALID, name);
      assert.match(u.message, new RegExp(`^Task 'bad-${i}' `), name);
      assert.match(u.message, reason, name);
    });
    assert.equal(byTask.has("good"), false, "the valid task is not refused");
    assert.deepEqual(
      c.agents[0]!.messages(RunTaskSchema).map((r) => r.task?.taskId?.value),
      ["good"],
    );
  });

  it("health changes reach the scheduler with healthy and the reason; /state shows the latest health", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw");
    const t = commandTask("web", "cpus:1;mem:64");
    t.healthCheck = create(HealthCheckSchema, { type: HealthCheck_Type.TCP, tcp: { port: 8080 } });
    await c.launch(s, s.sink.offers(), [t]);
    const agent = c.agents[0]!;
    agent.update(s.frameworkId, "web", TaskState.RUNNING);
    await c.clock.settle();
    const health = (healthy: boolean, uuid: number): void => {
      const u = new Uint8Array(16).fill(200 + uuid);
      const status = create(TaskStatusSchema, {
        taskId: { value: "web" },
        state: TaskState.RUNNING,
        healthy,
        reason: TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED,
        message: healthy ? "Health check succeeded" : "Health check failed: TCP connection to 127.0.0.1:8080 failed",
        uuid: u,
        agentId: { value: agent.agentId },
      });
      agent.tell(
        create(StatusUpdateSchema, {
          frameworkId: create(FrameworkIDSchema, { value: s.frameworkId }),
          agentId: create(AgentIDSchema, { value: agent.agentId }),
          status,
          uuid: u,
          latestState: TaskState.RUNNING,
        }),
      );
    };
    health(true, 1);
    await c.clock.settle();
    health(false, 2);
    await c.clock.settle();
    const seen = s.sink.updates().filter((u) => u.taskId?.value === "web").map((u) => [TaskState[u.state], u.healthy, TaskStatus_Reason[u.reason]]);
    assert.deepEqual(seen, [
      ["RUNNING", undefined, "UNSPECIFIED"],
      ["RUNNING", true, "TASK_HEALTH_CHECK_STATUS_UPDATED"],
      ["RUNNING", false, "TASK_HEALTH_CHECK_STATUS_UPDATED"],
    ]);
    const state = await c.facade.inspect((core) => stateResponse(core, 0));
    const web = state.getTasks!.tasks.find((x) => x.taskId?.value === "web");
    assert.ok(web);
    const json = taskJson(web) as { statuses: { state: string; healthy?: boolean }[] };
    assert.deepEqual(json.statuses.at(-1), { state: "TASK_RUNNING", timestamp: web.statuses.at(-1)!.timestamp, message: "Health check failed: TCP connection to 127.0.0.1:8080 failed", healthy: false });
  });
});
