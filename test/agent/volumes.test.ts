import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { CheckpointResourcesSchema, RunTaskSchema, StatusUpdateAcknowledgementSchema, type ReregisterAgent, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { AllocationInfoSchema, ReservationInfo_Type, ResourceSchema, Volume_Mode, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { ContainerInfo_Type, TaskInfoSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { volumeDir } from "../../src/actors/agent/volumes.js";
import { Resources } from "../../src/resources/index.js";
import { dockerContainerizer, requireDocker, TEST_IMAGE } from "../isolation/docker-support.js";
import { tempDir } from "../isolation/support.js";
import { waitFor } from "../support/wait.js";
import { admit, framework, startHarness, type Harness } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const reserved = (name: string, value: number, volume?: string): Resource =>
  create(ResourceSchema, {
    name,
    type: Value_Type.SCALAR,
    scalar: { value },
    reservations: [{ type: ReservationInfo_Type.DYNAMIC, role: "ops" }],
    disk: volume ? { persistence: { id: volume }, volume: { containerPath: "data", mode: Volume_Mode.RW } } : undefined,
  });

async function finished(x: Harness, taskId: string): Promise<void> {
  const done = () => x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.taskId?.value === taskId && u.status.state !== TaskState.RUNNING);
  for (let i = 0; i < 20 && !done(); i++) {
    for (const u of x.master.of<StatusUpdate>("StatusUpdate")) {
      x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: u.agentId, frameworkId: u.frameworkId, taskId: u.status?.taskId, uuid: u.uuid }));
    }
    await x.until(() => done() !== undefined, `${taskId} ended`).catch(() => undefined);
  }
  assert.equal(done()?.status?.state, TaskState.FINISHED, done()?.status?.message);
}

describe("Agent: checkpointed resources and persistent volumes", () => {
  it("checkpoints reservations and volumes, makes the volume directory, keeps them across a restart, removes the directory on DESTROY", async () => {
    h = await startHarness({ resources: "cpus:2;mem:512;disk:1000" });
    await admit(h);
    const volume = reserved("disk", 100, "db-1");
    h.master.tell(h.agent.self, create(CheckpointResourcesSchema, { resources: [reserved("cpus", 1), volume] }));
    const dir = volumeDir(h.workDir, volume);
    await h.until(() => h!.agent.agentInfo().resources.some((r) => r.disk?.persistence?.id === "db-1"), "the volume in the agent's total");
    assert.ok(await waitFor(() => stat(dir).then((st) => st.isDirectory()), `${dir} made`));
    assert.equal(String(Resources.of(h.agent.agentInfo().resources)).split("; ").sort().join("; "), "cpus(ops):1; cpus:1; disk(ops)[db-1]:100; disk:900; mem:512; ports:[31000-32000]");

    await h.restartAgent();
    await admit(h, 60, true);
    const rereg = h.master.of<ReregisterAgent>("ReregisterAgent").at(-1)!;
    assert.ok(rereg.agentInfo?.resources.some((r) => r.disk?.persistence?.id === "db-1"), "the restarted agent still has the volume");

    h.master.tell(h.agent.self, create(CheckpointResourcesSchema, { resources: [reserved("cpus", 1), reserved("disk", 100)] }));
    await h.until(() => !h!.agent.agentInfo().resources.some((r) => r.disk?.persistence), "the volume destroyed");
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 100; i++) {
          await stat(dir);
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      /ENOENT/,
      "the volume directory is removed",
    );
  });

  it("a task writes to its persistent volume, ends, and a second task using the volume reads the data (docker)", async () => {
    await requireDocker();
    const { c } = await dockerContainerizer(await tempDir("docker-owner"));
    h = await startHarness({ containerizer: c, resources: "cpus:2;mem:512;disk:1000" });
    await admit(h);
    const volume = create(ResourceSchema, { ...reserved("disk", 100, "db-1"), allocationInfo: create(AllocationInfoSchema, { role: "ops" }) });
    h.master.tell(h.agent.self, create(CheckpointResourcesSchema, { resources: [reserved("disk", 100, "db-1")] }));
    const task = (id: string, command: string) =>
      create(TaskInfoSchema, {
        name: id,
        taskId: { value: id },
        resources: [volume],
        command: { value: command },
        container: { type: ContainerInfo_Type.DOCKER, docker: { image: TEST_IMAGE } },
      });
    h.master.tell(h.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: task("writer", "echo kept > data/file"), role: "ops" }));
    await finished(h, "writer");
    h.master.tell(h.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: task("reader", "cat data/file > data/read"), role: "ops" }));
    await finished(h, "reader");
    assert.equal(await readFile(`${volumeDir(h.workDir, volume)}/read`, "utf8"), "kept\n", "the second task read what the first wrote");
  });
});
