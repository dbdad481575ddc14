/**
 * Host path volumes at the agent: the policy (what is never mounted, the agent's own
 * files, --allowed-host-paths, symlinks resolved), refusals as TASK_ERROR with the reason
 * before anything runs, and real command tasks under the cgroups,namespaces isolation that
 * write through a RW host path into a host directory and cannot write through a RO one;
 * plain posix tasks see a RW host path as a symlink in their sandbox.
 */
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RunTaskSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { Volume_Mode } from "../../src/gen/dcos/v1/resources_pb.js";
import { ContainerInfo_Type, TaskState, TaskStatus_Reason, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { hostPathPolicy, hostPathProblem, HostPathRefused, parseAllowedHostPaths, realHostPath } from "../../src/isolation/host-paths.js";
import { isolatorsFor } from "../../src/isolation/isolation-flag.js";
import { PosixContainerizer } from "../../src/isolation/posix.js";
import { Code } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { startCluster, statusOf, task, type Cluster } from "../executor/cluster.js";
import { rejectsWith, requireRoot, tempDir } from "../isolation/support.js";
import { waitFor } from "../support/wait.js";
import { admit, commandTask, framework, startHarness, type Harness } from "./harness.js";

const policy = (allowed?: string[]) => hostPathPolicy(allowed, [{ path: "/var/lib/agent", what: "the agent's work directory" }, { path: "/etc/dcos/node.key", what: "the agent's TLS key" }]);

const withVolumes = (t: TaskInfo, volumes: { hostPath: string; containerPath: string; ro?: boolean }[], type = ContainerInfo_Type.MESOS): TaskInfo => {
  t.container = {
    $typeName: "dcos.v1.ContainerInfo",
    type,
    hostname: "",
    volumes: volumes.map((v) => ({ $typeName: "dcos.v1.Volume", hostPath: v.hostPath, containerPath: v.containerPath, mode: v.ro ? Volume_Mode.RO : Volume_Mode.RW })),
    ...(type === ContainerInfo_Type.DOCKER ? { docker: { $typeName: "dcos.v1.ContainerInfo.DockerInfo", image: "busybox", network: 1, portMappings: [], privileged: false, parameters: [], forcePullImage: false } } : {}),
  };
  return t;
};

describe("host path policy", () => {
  it("never /, /proc, /sys, /dev; not the agent's files nor a directory above them; only under --allowed-host-paths", () => {
    const p = policy();
    assert.match(hostPathProblem("/", p)!, /host path '\/' \(the agent's whole filesystem\) cannot be mounted/);
    assert.match(hostPathProblem("/proc/1", p)!, /is under \/proc, which is never mounted/);
    assert.match(hostPathProblem("/sys", p)!, /under \/sys/);
    assert.match(hostPathProblem("/dev/sda", p)!, /under \/dev/);
    assert.match(hostPathProblem("data", p)!, /must be an absolute path/);
    assert.match(hostPathProblem("/srv/../proc", p)!, /must not contain '\.\.'/);
    assert.match(hostPathProblem("/var/lib/agent/slaves", p)!, /is inside the agent's work directory \(\/var\/lib\/agent\), which no task may mount/);
    assert.match(hostPathProblem("/var/lib/agent", p)!, /is the agent's work directory/);
    assert.match(hostPathProblem("/var/lib", p)!, /contains the agent's work directory \(\/var\/lib\/agent\), which no task may see/);
    assert.match(hostPathProblem("/etc", p)!, /contains the agent's TLS key/);
    assert.equal(hostPathProblem("/var/lib/agent-other", p), undefined, "a sibling whose name starts alike is not inside");
    assert.equal(hostPathProblem("/srv/data/", p), undefined);
    assert.equal(hostPathProblem("/devices", p), undefined, "/devices is not under /dev");

    const only = policy(parseAllowedHostPaths("/srv/data, /mnt/shared/"));
    assert.equal(hostPathProblem("/srv/data/web", only), undefined);
    assert.equal(hostPathProblem("/mnt/shared", only), undefined);
    assert.match(hostPathProblem("/srv/database", only)!, /not under a path this agent allows \(--allowed-host-paths=\/srv\/data,\/mnt\/shared\)/);
    assert.match(hostPathProblem("/proc", policy(["/"]))!, /never mounted/, "allowing / does not open /proc");
    assert.throws(() => parseAllowedHostPaths("data"), /--allowed-host-paths entry 'data' is not an absolute path/);
    assert.throws(() => parseAllowedHostPaths(" , "), /names no path/);
  });

  it("resolves symlinks and checks the real path again; a missing host path is FAILED_PRECONDITION", async () => {
    const dir = await tempDir("host-path");
    const work = await tempDir("work");
    const p = hostPathPolicy(undefined, [{ path: work, what: "the agent's work directory" }]);
    await mkdir(join(dir, "real"));
    await symlink(join(dir, "real"), join(dir, "link"));
    await symlink("/proc/self", join(dir, "to-proc"));
    await symlink(work, join(dir, "to-work"));
    assert.equal(await realHostPath(join(dir, "link"), p), join(dir, "real"), "the real path is what gets mounted");
    await assert.rejects(realHostPath(join(dir, "to-proc"), p), (e: unknown) => e instanceof HostPathRefused && /resolves to '\/proc\/\d+': host path '\/proc\/\d+' is under \/proc/.test((e as Error).message));
    await assert.rejects(realHostPath(join(dir, "to-work"), p), (e: unknown) => e instanceof HostPathRefused && /is the agent's work directory/.test((e as Error).message));
    await rejectsWith(realHostPath(join(dir, "missing"), p), Code.FAILED_PRECONDITION, /does not exist on this agent/);
  });
});

let h: Harness | undefined;
let cluster: Cluster | undefined;
afterEach(async () => {
  await h?.stop();
  await cluster?.stop();
  h = undefined;
  cluster = undefined;
});

/** The agent's update for the task once it has one that is not STAGING. */
async function firstUpdate(x: Harness, taskId: string): Promise<StatusUpdate> {
  const find = () => x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.taskId?.value === taskId);
  await x.until(() => find() !== undefined, `an update for ${taskId}`);
  return find()!;
}

describe("agent: host path volumes refused with TASK_ERROR and the reason", () => {
  it("refused paths, the agent's work dir, --allowed-host-paths, and what a posix container without a mount namespace cannot do; nothing is launched", async () => {
    const allowed = await tempDir("allowed");
    h = await startHarness({ allowedHostPaths: [allowed] });
    await admit(h);
    const cases: [string, TaskInfo, TaskStatus_Reason, RegExp][] = [
      ["root", withVolumes(commandTask("root"), [{ hostPath: "/", containerPath: "host" }]), TaskStatus_Reason.TASK_UNAUTHORIZED, /host path '\/' \(the agent's whole filesystem\) cannot be mounted/],
      ["proc", withVolumes(commandTask("proc"), [{ hostPath: "/proc/sys", containerPath: "p" }]), TaskStatus_Reason.TASK_UNAUTHORIZED, /under \/proc, which is never mounted/],
      ["work", withVolumes(commandTask("work"), [{ hostPath: join(h.workDir, "meta"), containerPath: "m" }]), TaskStatus_Reason.TASK_UNAUTHORIZED, /inside the agent's work directory/],
      ["outside", withVolumes(commandTask("outside"), [{ hostPath: "/srv", containerPath: "s" }]), TaskStatus_Reason.TASK_UNAUTHORIZED, /not under a path this agent allows \(--allowed-host-paths=/],
      ["docker-etc", withVolumes(commandTask("docker-etc"), [{ hostPath: "/etc", containerPath: "/etc/host" }], ContainerInfo_Type.DOCKER), TaskStatus_Reason.TASK_UNAUTHORIZED, /not under a path this agent allows/],
      ["absolute", withVolumes(commandTask("absolute"), [{ hostPath: allowed, containerPath: "/data" }]), TaskStatus_Reason.TASK_INVALID, /absolute container path '\/data': this agent's posix containers have no mount namespace/],
      ["read-only", withVolumes(commandTask("read-only"), [{ hostPath: allowed, containerPath: "data", ro: true }]), TaskStatus_Reason.TASK_INVALID, /is read-only: .* cannot be read-only; use RW, or a DOCKER container/],
      ["escape", withVolumes(commandTask("escape"), [{ hostPath: allowed, containerPath: "../../x" }]), TaskStatus_Reason.TASK_INVALID, /escapes the sandbox/],
      ["no-host", withVolumes(commandTask("no-host"), [{ hostPath: "", containerPath: "data" }]), TaskStatus_Reason.TASK_INVALID, /has no host_path/],
    ];
    for (const [id, t] of cases) h.master.tell(h.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: t, role: "*" }));
    for (const [id, , reason, message] of cases) {
      const u = await firstUpdate(h, id);
      assert.equal(u.status?.state, TaskState.ERROR, `${id}: ${u.status?.message}`);
      assert.equal(u.status?.reason, reason, `${id}: ${u.status?.message}`);
      assert.match(u.status!.message, message, id);
    }
    assert.deepEqual(h.containerizer.containers(), [], "no container was launched");
  });

  it("a host path that resolves (through a symlink) into the agent's work dir is refused at launch with TASK_ERROR", async () => {
    const dir = await tempDir("links");
    h = await startHarness();
    await admit(h);
    await symlink(h.workDir, join(dir, "innocent"));
    h.master.tell(h.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: withVolumes(commandTask("sneaky"), [{ hostPath: join(dir, "innocent"), containerPath: "w" }]), role: "*" }));
    const u = await firstUpdate(h, "sneaky");
    assert.equal(u.status?.state, TaskState.ERROR, u.status?.message);
    assert.equal(u.status?.reason, TaskStatus_Reason.TASK_UNAUTHORIZED);
    assert.match(u.status!.message, /resolves to '.*': .*is the agent's work directory/);
    assert.deepEqual(h.containerizer.containers(), []);
  });
});

describe("agent: host path volumes with real tasks", () => {
  /** Waits for the task to end; returns its terminal update. */
  const ended = (c: Cluster, id: string) =>
    waitFor(() => statusOf(c, id, TaskState.FINISHED) ?? statusOf(c, id, TaskState.FAILED) ?? statusOf(c, id, TaskState.ERROR), `${id} to end`, 60_000);

  it("cgroups,namespaces: writes through a RW host path into the host dir; a write through a RO one fails; absolute container paths are mounts only the task sees", async () => {
    requireRoot("Host path volumes in a mount namespace");
    const isolators = await isolatorsFor("cgroups,namespaces", { logger: testLogger() });
    const c = (cluster = await startCluster((workDir) => new PosixContainerizer({ runtimeRoot: join(workDir, "containers"), isolators, logger: testLogger() })));
    const rw = await tempDir("host-rw");
    const ro = await tempDir("host-ro");
    const mountPoint = await tempDir("mount-point");
    await writeFile(join(ro, "config"), "from the host\n");
    await chmod(join(ro, "config"), 0o666); // only the RO mount can refuse the write
    const t = withVolumes(
      task(
        "vols",
        `echo written > shared/out && cat conf/config > shared/read && ` +
          `if echo x > conf/config 2>/dev/null; then echo ro-writable > shared/ro; else echo ro-refused > shared/ro; fi && ` +
          `ls ${mountPoint} > shared/abs && echo inside > ${mountPoint}/by-task`,
      ),
      [
        { hostPath: rw, containerPath: "shared" },
        { hostPath: ro, containerPath: "conf", ro: true },
        { hostPath: rw, containerPath: mountPoint },
      ],
    );
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: t, role: "*" }));
    const end = await ended(c, "vols");
    assert.equal(end.status?.state, TaskState.FINISHED, end.status?.message);
    assert.equal(await readFile(join(rw, "out"), "utf8"), "written\n", "the task wrote into the host directory");
    assert.equal(await readFile(join(rw, "read"), "utf8"), "from the host\n", "and read the RO host path");
    assert.equal(await readFile(join(rw, "ro"), "utf8"), "ro-refused\n", "a write through the RO volume failed");
    assert.equal(await readFile(join(ro, "config"), "utf8"), "from the host\n", "the RO host file is unchanged");
    assert.match(await readFile(join(rw, "abs"), "utf8"), /out/, "at the absolute container path the task saw the host path's files");
    assert.equal(await readFile(join(rw, "by-task"), "utf8"), "inside\n");
    await assert.rejects(readFile(join(mountPoint, "by-task")), /ENOENT/, "on the host the absolute mount point is untouched");
  });

  it("plain posix: a RW host path is a symlink in the sandbox the task writes through", async () => {
    const c = (cluster = await startCluster());
    const rw = await tempDir("host-posix");
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: withVolumes(task("linked", "echo via-link > data/out"), [{ hostPath: rw, containerPath: "data" }]), role: "*" }));
    const end = await ended(c, "linked");
    assert.equal(end.status?.state, TaskState.FINISHED, end.status?.message);
    assert.equal(await readFile(join(rw, "out"), "utf8"), "via-link\n");
  });

  it("a host path missing on the agent fails the launch, saying so", async () => {
    const c = (cluster = await startCluster());
    const missing = join(await tempDir("gone"), "nothing-here");
    c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: withVolumes(task("missing", "true"), [{ hostPath: missing, containerPath: "data" }]), role: "*" }));
    const end = await ended(c, "missing");
    assert.equal(end.status?.state, TaskState.FAILED);
    assert.equal(end.status?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.match(end.status!.message, new RegExp(`host path '${missing}' does not exist on this agent`));
  });
});
