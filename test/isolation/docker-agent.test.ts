/**
 * Docker tasks through the agent (scripted master, ManualClock) with the real docker
 * containerizer: RUNNING then FINISHED/FAILED with the exit status, KILLED with the grace
 * period, a missing image as TASK_FAILED with the reason, and recovery after an agent restart.
 */
import assert from "node:assert/strict";
import { afterEach, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KillTaskSchema, RunTaskSchema, StatusUpdateAcknowledgementSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { CommandInfoSchema, ContainerInfo_DockerInfo_Network, ContainerInfo_Type, TaskInfoSchema, TaskState, TaskStatus_Reason, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { scalarResource } from "../../src/resources/index.js";
import { Volume_Mode, VolumeSchema } from "../../src/gen/dcos/v1/resources_pb.js";
import { chmod, readFile, symlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { admit, framework, startHarness, type Harness } from "../agent/harness.js";
import type { DockerContainerizer } from "../../src/isolation/docker.js";
import { dockerContainerizer, ENTRYPOINT_IMAGE, requireDocker, TEST_IMAGE } from "./docker-support.js";
import { tempDir } from "./support.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function dockerTask(id: string, command: string, image = TEST_IMAGE, graceSeconds?: number): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: { value: id },
    agentId: { value: "agent-1" },
    resources: [scalarResource("cpus", 0.1), scalarResource("mem", 32)],
    command: { value: command },
    container: { type: ContainerInfo_Type.DOCKER, docker: { image, network: ContainerInfo_DockerInfo_Network.HOST } },
    killPolicy: graceSeconds === undefined ? undefined : { gracePeriodSeconds: graceSeconds },
  });
}

async function agentWithDocker(owner: string): Promise<Harness & { docker: DockerContainerizer }> {
  const { c } = await dockerContainerizer(owner);
  h = await startHarness({ containerizer: c });
  await admit(h);
  return Object.assign(h, { docker: c });
}

/** Waits for the task's next update in `state`, acknowledges it and returns it. */
async function updateIn(x: Harness, taskId: string, state: TaskState): Promise<StatusUpdate> {
  let found: StatusUpdate | undefined;
  await waitUpdate(x, () => (found = x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.taskId?.value === taskId && u.status.state === state)) !== undefined, `${taskId} ${TaskState[state]}`);
  x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: taskId }, uuid: found!.uuid }));
  return found!;
}

async function waitUpdate(x: Harness, pred: () => boolean, what: string): Promise<void> {
  // Docker takes real time; keep settling the actors until the update is there.
  for (let i = 0; i < 20 && !pred(); i++) await x.until(pred, what).catch(() => undefined);
  assert.ok(pred(), `expected ${what}; the master got ${x.master.updates().join(", ")}`);
}

describe("Docker tasks through the agent", () => {
  before(requireDocker, { timeout: 120_000 });

  it("runs a docker task: RUNNING, then FINISHED for status 0 and FAILED with the status otherwise", async () => {
    const x = await agentWithDocker(await tempDir("docker-owner"));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: dockerTask("ok", "echo hi"), role: "*" }));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: dockerTask("bad", "exit 7"), role: "*" }));
    await updateIn(x, "ok", TaskState.RUNNING);
    await updateIn(x, "bad", TaskState.RUNNING);
    const finished = await updateIn(x, "ok", TaskState.FINISHED);
    assert.equal(finished.status?.exitCode, 0);
    const failed = await updateIn(x, "bad", TaskState.FAILED);
    assert.equal(failed.status?.reason, TaskStatus_Reason.COMMAND_EXECUTOR_FAILED);
    assert.equal(failed.status?.message, "Command exited with status 7");
    assert.equal(failed.status?.exitCode, 7, "the exit status in TaskStatus.exit_code too");
  });

  it("a task without a command runs the image's entrypoint and default command; arguments are given to the entrypoint", async () => {
    const x = await agentWithDocker(await tempDir("docker-owner"));
    const task = (id: string, args: string[]) => {
      const t = dockerTask(id, "", ENTRYPOINT_IMAGE);
      t.command = create(CommandInfoSchema, { shell: false, arguments: args, environment: { variables: [{ name: "WHO", value: "env" }] } });
      return t;
    };
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: task("image-cmd", []), role: "*" }));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: task("image-args", ["echo from $WHO; exit 4"]), role: "*" }));
    await updateIn(x, "image-cmd", TaskState.RUNNING);
    const own = await updateIn(x, "image-cmd", TaskState.FAILED);
    assert.equal(own.status?.exitCode, 3, "the image's CMD (exit 3) ran");
    await updateIn(x, "image-args", TaskState.RUNNING);
    const args = await updateIn(x, "image-args", TaskState.FAILED);
    assert.equal(args.status?.exitCode, 4, "the arguments replaced the image's CMD under its entrypoint");
  });

  it("a missing image fails the task with the reason, and the agent runs the next one", async () => {
    const x = await agentWithDocker(await tempDir("docker-owner"));
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: dockerTask("missing", "true", "localhost:1/no/such:image"), role: "*" }));
    const u = await updateIn(x, "missing", TaskState.FAILED);
    assert.equal(u.status?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.match(u.status?.message ?? "", /Image 'localhost:1\/no\/such:image' is not present locally and pulling it failed/);
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: dockerTask("next", "true"), role: "*" }));
    await updateIn(x, "next", TaskState.RUNNING);
    await updateIn(x, "next", TaskState.FINISHED);
  });

  it("kills a docker task with its kill policy's grace period (SIGTERM reaches the command)", async () => {
    const x = await agentWithDocker(await tempDir("docker-owner"));
    const task = dockerTask("k", "trap 'exit 0' TERM; while true; do sleep 0.1; done", TEST_IMAGE, 10);
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task, role: "*" }));
    await updateIn(x, "k", TaskState.RUNNING);
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "k" } }));
    const killed = await updateIn(x, "k", TaskState.KILLED);
    assert.match(killed.status?.message ?? "", /Container destroyed: Command exited with status 0/);
  });

  it("host path volumes: the task writes through a RW one into the host dir (also through a symlinked host path), a write through a RO one fails", async () => {
    const x = await agentWithDocker(await tempDir("docker-owner"));
    const rw = await tempDir("docker-host-rw");
    const ro = await tempDir("docker-host-ro");
    await writeFile(join(ro, "config"), "host-config\n");
    await chmod(join(ro, "config"), 0o666); // only the RO bind can refuse the write
    await symlink(rw, join(ro, "..", `${basename(rw)}-link`));
    const t = dockerTask("vols", "cat /etc/app/config > /srv/out/read; if echo x > /etc/app/config; then echo writable; else echo refused; fi > rel/ro");
    t.container!.volumes = [
      create(VolumeSchema, { hostPath: rw, containerPath: "/srv/out", mode: Volume_Mode.RW }),
      create(VolumeSchema, { hostPath: ro, containerPath: "/etc/app", mode: Volume_Mode.RO }),
      create(VolumeSchema, { hostPath: `${rw}-link`, containerPath: "rel", mode: Volume_Mode.RW }),
    ];
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: t, role: "*" }));
    await updateIn(x, "vols", TaskState.RUNNING);
    const done = await updateIn(x, "vols", TaskState.FINISHED);
    assert.equal(done.status?.exitCode, 0, done.status?.message);
    assert.equal(await readFile(join(rw, "read"), "utf8"), "host-config\n", "read through the RO volume, wrote through the RW one");
    assert.equal(await readFile(join(rw, "ro"), "utf8"), "refused\n", "a write through the RO volume failed (a relative container path is in the sandbox)");
    assert.equal(await readFile(join(ro, "config"), "utf8"), "host-config\n");
  });

  it("recovers a running docker task after an agent restart, and can kill it then", async () => {
    const owner = await tempDir("docker-owner");
    const x = await agentWithDocker(owner);
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: dockerTask("r", "while true; do sleep 0.1; done"), role: "*" }));
    await updateIn(x, "r", TaskState.RUNNING);
    x.docker.detach(); // as when the agent process dies: the container keeps running
    const { c } = await dockerContainerizer(owner);
    await x.restartAgent({ containerizer: c });
    await admit(x, 60, true);
    assert.deepEqual(c.containers().length, 1, "the container was found again by its labels");
    await updateIn(x, "r", TaskState.RUNNING); // resent by the recovered stream; acknowledged now
    x.master.tell(x.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: "r" }, killPolicy: { gracePeriodSeconds: 0 } }));
    await updateIn(x, "r", TaskState.KILLED);
  });
});
