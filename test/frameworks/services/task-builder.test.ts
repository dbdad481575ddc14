/**
 * The TaskInfo of a services instance: a Docker app without cmd or args runs the image's
 * own entrypoint and default command (Mesos: CommandInfo shell=false with no value and no
 * arguments), which the master accepts only for a DOCKER container.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandProblem } from "../../../src/actors/master/validation.js";
import { appSpec, InvalidApp, normalizeApp } from "../../../src/frameworks/services/app-definition.js";
import { buildTask } from "../../../src/frameworks/services/task-builder.js";
import { ContainerInfo_Type } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { Volume_Mode } from "../../../src/gen/dcos/v1/resources_pb.js";

const launch = { taskId: "t1", agentId: "a1", host: "h1", version: "v1", resources: [], ports: [31000] };

describe("task builder: commands", () => {
  it("a Docker app without cmd or args: shell=false, no value, no arguments; the master accepts it for DOCKER only", () => {
    const spec = appSpec(normalizeApp({ id: "/img", container: { type: "DOCKER", docker: { image: "nginx:1.25-alpine" } } }));
    const task = buildTask(spec, launch, {});
    assert.equal(task.container?.type, ContainerInfo_Type.DOCKER);
    assert.equal(task.command?.shell, false);
    assert.equal(task.command?.value, "");
    assert.deepEqual(task.command?.arguments, []);
    assert.ok(task.command?.environment?.variables.some((v) => v.name === "PORT0" && v.value === "31000"), "the environment is still given");
    assert.equal(commandProblem(task.command!, "Task 't1' command", true), undefined);
    assert.equal(commandProblem(task.command!, "Task 't1' command", false), "Task 't1' command has shell=false but no arguments (argv[0] is the program)");
  });

  it("cmd goes through the shell; Docker args are the image's CMD (no value), command args keep argv[0] as value", () => {
    const cmd = buildTask(appSpec(normalizeApp({ id: "/c", cmd: "serve $PORT0" })), launch, {});
    assert.deepEqual([cmd.command?.shell, cmd.command?.value, cmd.command?.arguments], [true, "serve $PORT0", []]);
    const dockerArgs = buildTask(appSpec(normalizeApp({ id: "/d", args: ["--port", "80"], container: { type: "DOCKER", docker: { image: "nginx" } } })), launch, {});
    assert.deepEqual([dockerArgs.command?.shell, dockerArgs.command?.value, dockerArgs.command?.arguments], [false, "", ["--port", "80"]]);
    const args = buildTask(appSpec(normalizeApp({ id: "/a", args: ["/bin/serve", "80"] })), launch, {});
    assert.deepEqual([args.command?.shell, args.command?.value, args.command?.arguments], [false, "/bin/serve", ["/bin/serve", "80"]]);
  });
});

describe("task builder: host path volumes", () => {
  const refusedAt = (raw: unknown, path: string, message: RegExp) =>
    assert.throws(
      () => normalizeApp(raw),
      (e: unknown) => {
        assert.ok(e instanceof InvalidApp, String(e));
        const d = e.details.find((x) => x.path === path);
        assert.ok(d, `no violation at ${path}: ${JSON.stringify(e.details)}`);
        assert.ok(d.errors.some((m) => message.test(m)), JSON.stringify(d.errors));
        return true;
      },
    );

  it("DOCKER and MESOS apps: each hostPath volume becomes a ContainerInfo volume with host_path, container_path and mode, in order", () => {
    const volumes = [
      { containerPath: "/var/log/app", hostPath: "/srv/logs", mode: "RW" },
      { containerPath: "conf", hostPath: "/etc/app/conf.d/", mode: "RO" },
    ];
    const expected = [
      { hostPath: "/srv/logs", containerPath: "/var/log/app", mode: Volume_Mode.RW },
      { hostPath: "/etc/app/conf.d/", containerPath: "conf", mode: Volume_Mode.RO },
    ];
    const shape = (t: ReturnType<typeof buildTask>) => t.container!.volumes.map((v) => ({ hostPath: v.hostPath, containerPath: v.containerPath, mode: v.mode }));
    const docker = buildTask(appSpec(normalizeApp({ id: "/d", cmd: "run", container: { type: "DOCKER", docker: { image: "nginx" }, volumes } })), launch, {});
    assert.equal(docker.container?.type, ContainerInfo_Type.DOCKER);
    assert.equal(docker.container?.docker?.image, "nginx");
    assert.deepEqual(shape(docker), expected);
    const mesos = buildTask(appSpec(normalizeApp({ id: "/m", cmd: "run", container: { type: "MESOS", volumes } })), launch, {});
    assert.equal(mesos.container?.type, ContainerInfo_Type.MESOS);
    assert.deepEqual(shape(mesos), expected);
    assert.equal(mesos.container?.docker, undefined);
    const none = buildTask(appSpec(normalizeApp({ id: "/n", cmd: "run" })), launch, {});
    assert.equal(none.container, undefined, "an app without volumes or docker has no ContainerInfo");
  });

  it("a persistent volume beside a host path: only the host path goes into the ContainerInfo (the persistent one comes with the disk resources)", () => {
    const app = normalizeApp({
      id: "/db",
      cmd: "run",
      container: { type: "MESOS", volumes: [{ containerPath: "data", mode: "RW", persistent: { size: 10 } }, { containerPath: "backup", hostPath: "/srv/backup", mode: "RW" }] },
    });
    const spec = appSpec(app);
    assert.deepEqual(spec.persistentVolumes, [{ containerPath: "data", size: 10 }]);
    assert.deepEqual(spec.hostVolumes, [{ hostPath: "/srv/backup", containerPath: "backup", readOnly: false }]);
    assert.deepEqual(buildTask(spec, launch, {}).container!.volumes.map((v) => v.hostPath), ["/srv/backup"]);
  });

  it("refuses (422) what no agent mounts, with the volume's path: /, /proc, /sys, /dev, relative or '..' host paths, bad container paths and modes, other volume kinds", () => {
    const app = (volume: object) => ({ id: "/v", cmd: "run", container: { type: "MESOS", volumes: [volume] } });
    refusedAt(app({ containerPath: "host", hostPath: "/", mode: "RO" }), "/container/volumes(0)/hostPath", /host path '\/' \(the agent's whole filesystem\) cannot be mounted/);
    refusedAt(app({ containerPath: "p", hostPath: "/proc/self", mode: "RO" }), "/container/volumes(0)/hostPath", /under \/proc, which is never mounted/);
    refusedAt(app({ containerPath: "s", hostPath: "/sys/fs/cgroup", mode: "RO" }), "/container/volumes(0)/hostPath", /under \/sys/);
    refusedAt(app({ containerPath: "d", hostPath: "/dev/sda", mode: "RW" }), "/container/volumes(0)/hostPath", /under \/dev/);
    refusedAt(app({ containerPath: "d", hostPath: "data", mode: "RW" }), "/container/volumes(0)/hostPath", /hostPath 'data' is relative: host paths relative to the sandbox .* are not supported/);
    refusedAt(app({ containerPath: "d", hostPath: 7, mode: "RW" }), "/container/volumes(0)/hostPath", /must be an absolute path/);
    refusedAt(app({ containerPath: "d", hostPath: "/srv/../proc", mode: "RW" }), "/container/volumes(0)/hostPath", /must not contain '\.\.'/);
    refusedAt(app({ containerPath: "../x", hostPath: "/srv", mode: "RW" }), "/container/volumes(0)/containerPath", /must not contain '\.\.'/);
    refusedAt(app({ containerPath: "/", hostPath: "/srv", mode: "RW" }), "/container/volumes(0)/containerPath", /cannot be mounted at \//);
    refusedAt(app({ hostPath: "/srv", mode: "RW" }), "/container/volumes(0)/containerPath", /containerPath is required/);
    refusedAt(app({ containerPath: "x", hostPath: "/srv" }), "/container/volumes(0)/mode", /mode must be RO or RW/);
    refusedAt(app({ containerPath: "x", mode: "RW" }), "/container/volumes(0)/hostPath", /needs hostPath .* or persistent/);
    refusedAt(app({ containerPath: "x", mode: "RW", external: { name: "v", provider: "dvdi" } }), "/container/volumes(0)/external", /external volumes .* are not supported/);
    refusedAt(
      { id: "/v", cmd: "run", container: { type: "MESOS", volumes: [{ containerPath: "x", hostPath: "/a", mode: "RW" }, { containerPath: "x", hostPath: "/b", mode: "RO" }] } },
      "/container/volumes(1)/containerPath",
      /two volumes have containerPath 'x'/,
    );
  });
});
