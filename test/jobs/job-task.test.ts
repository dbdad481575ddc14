/**
 * The TaskInfo of a job's attempt: a command task (shell or argv, Chronos's environment,
 * fetched URIs, Docker) or, with Chronos's `executor`, a custom executor that gets the
 * job's environment and URIs and is told what to run in the task's data.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildJobTask } from "../../src/frameworks/jobs/job-task.js";
import { parseJobSpec } from "../../src/frameworks/jobs/job-spec.js";
import type { Run } from "../../src/frameworks/jobs/ledger.js";
import { taskIdFor } from "../../src/frameworks/jobs/records.js";
import { ContainerInfo_Type } from "../../src/gen/dcos/v1/tasks_pb.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const run = (job: string): Run => ({ job, instant: T0, trigger: "schedule", queuedAt: T0, state: "queued", attempts: [] });
const env = (vars: { name: string; value: string }[] | undefined) => Object.fromEntries((vars ?? []).map((v) => [v.name, v.value]));

describe("a job's TaskInfo", () => {
  it("a command task: argv without shell, Chronos's environment, fetch and uris as CommandInfo URIs, the Docker container", () => {
    const spec = parseJobSpec(
      {
        name: "etl", command: "/opt/etl", arguments: ["--day", "1"], shell: false, schedule: "R/2026-03-01T00:00:00Z/PT1H", owner: "ops@example.com", runAsUser: "etl",
        fetch: [{ uri: "https://example.com/etl.tgz", cache: true, extract: true }], uris: ["https://example.com/conf.json"],
        container: { type: "DOCKER", image: "busybox", network: "BRIDGE" }, environmentVariables: [{ name: "MODE", value: "full" }],
      },
      "any",
      T0,
    );
    const taskId = taskIdFor("etl", T0, 0);
    const t = buildJobTask(spec, run("etl"), taskId, "agent-1", []);
    assert.equal(t.executor, undefined);
    assert.deepEqual([t.command?.shell, t.command?.arguments, t.command?.user], [false, ["/opt/etl", "--day", "1"], "etl"]);
    const e = env(t.command?.environment?.variables);
    assert.deepEqual([e["mesos_task_id"], e["CHRONOS_JOB_NAME"], e["CHRONOS_JOB_OWNER"], e["CHRONOS_JOB_RUN_TIME"], e["MODE"]], [taskId, "etl", "ops@example.com", "2026-03-01T00:00:00.000Z", "full"]);
    assert.deepEqual(t.command?.uris.map((u) => [u.value, u.cache, u.extract]), [["https://example.com/etl.tgz", true, true], ["https://example.com/conf.json", false, true]]);
    assert.equal(t.container?.type, ContainerInfo_Type.DOCKER);
    assert.equal(t.container?.docker?.image, "busybox");
  });

  it("Chronos's executor: a custom executor per task with the job's environment, URIs and user; the task's data says what to run", () => {
    const spec = parseJobSpec(
      { name: "wrapped", command: "do-work", schedule: "R/2026-03-01T00:00:00Z/PT1H", executor: "/opt/chronos/shell-wrapper", executorFlags: "--retry=1", runAsUser: "batch", uris: ["https://example.com/w.tgz"] },
      "any",
      T0,
    );
    const taskId = taskIdFor("wrapped", T0, 1);
    const t = buildJobTask(spec, run("wrapped"), taskId, "agent-1", []);
    assert.equal(t.command, undefined, "exactly one of command and executor");
    assert.equal(t.executor?.executorId?.value, `chronos-executor-${taskId}`);
    assert.deepEqual([t.executor?.command?.value, t.executor?.command?.shell, t.executor?.command?.user], ["/opt/chronos/shell-wrapper", true, "batch"]);
    assert.equal(env(t.executor?.command?.environment?.variables)["mesos_task_id"], taskId);
    assert.deepEqual(t.executor?.command?.uris.map((u) => u.value), ["https://example.com/w.tgz"]);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(t.data)), { command: "do-work", arguments: [], shell: true, executorFlags: "--retry=1" });
    const given = buildJobTask({ ...spec, taskInfoData: "stage=load" }, run("wrapped"), taskId, "agent-1", []);
    assert.equal(new TextDecoder().decode(given.data), "stage=load", "taskInfoData is the data as given");
  });
});
