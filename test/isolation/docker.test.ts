import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Code } from "../../src/runtime/error.js";
import { dockerName, DockerContainerizer } from "../../src/isolation/docker.js";
import { CompositeContainerizer } from "../../src/isolation/composite-containerizer.js";
import { parseContainerizersFlag } from "../../src/isolation/containerizers-flag.js";
import { testLogger } from "../../src/runtime/log.js";
import { waitFor } from "../support/wait.js";
import { validateConfig } from "../../src/isolation/container-config.js";
import { dockerConfig, dockerContainerizer, ENTRYPOINT_IMAGE, freePort, inspect, requireDocker, TEST_IMAGE } from "./docker-support.js";
import Docker from "dockerode";
import { config, containerizer, rejectsWith, sandboxFile, tempDir, waitForOutput } from "./support.js";

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    }).once("error", reject);
  });
}

describe("DockerContainerizer against the local engine", () => {
  before(requireDocker, { timeout: 120_000 });

  it("runs a command to its end, with its exit code and its output in the sandbox", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, 'echo "out $GREETING $DCOS_SANDBOX"; echo err >&2; pwd; exit 3', {}, { env: { GREETING: "hello" } });
    const state = await c.launch(cfg);
    assert.equal(state.containerizer, "docker");
    const t = await c.wait(cfg.id);
    assert.equal(t.exitCode, 3);
    assert.equal(t.reason, undefined);
    assert.equal(t.message, "Command exited with status 3");
    assert.equal(await sandboxFile(sandbox, "stdout"), "out hello /mnt/dcos/sandbox\n/mnt/dcos/sandbox\n");
    assert.equal(await sandboxFile(sandbox, "stderr"), "err\n");
    await assert.rejects(inspect(dockerName(cfg.id)), /no such container/i, "an ended container is removed");
    assert.deepEqual(c.containers(), []);
  });

  it("an empty argv runs the image's own entrypoint and CMD (a non-Docker container refuses it)", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, [], { image: ENTRYPOINT_IMAGE });
    await c.launch(cfg);
    const t = await c.wait(cfg.id);
    assert.equal(t.exitCode, 3);
    assert.equal(await sandboxFile(sandbox, "stdout"), "image-default\n");
    assert.throws(() => validateConfig({ id: "plain", command: [], sandbox }), /an argv must be a non-empty list of strings .*empty only in a Docker container/);
  });

  it("gives the container its cpus and mem as Docker limits and the agent's labels", async () => {
    const { c, owner } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "sleep 30", { labels: { "dcos.task_id": "t-1" } }, { resources: { cpus: 0.5, memMb: 64 } });
    const state = await c.launch(cfg);
    assert.ok(state.pid > 0, "the running container's init has a host pid");
    const info = await inspect(dockerName(cfg.id));
    assert.equal(info.HostConfig.CpuShares, 512);
    assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(info.Config.Labels["dcos.task_id"], "t-1");
    assert.equal(info.Config.Labels["dcos.container_id"], cfg.id);
    assert.equal(info.Config.Labels["dcos.runtime_root"], owner);
    const usage = await c.usage(cfg.id);
    assert.ok(usage.processes >= 1 && usage.memRssBytes >= 0);
    await c.destroy(cfg.id, 0);
  });

  it("kills with the grace period: SIGTERM first, so the command can clean up", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done");
    await c.launch(cfg);
    await waitForOutput(sandbox, "ready");
    const t = await c.destroy(cfg.id, 10_000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.exitCode, 0, t.message);
    assert.match(await sandboxFile(sandbox, "stdout"), /got TERM/);
    assert.deepEqual(await c.destroy(cfg.id, 0), t, "destroy is idempotent");
  });

  it("kills with SIGKILL after the grace period a command that ignores SIGTERM", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "trap '' TERM; echo ready; while true; do sleep 0.1; done");
    await c.launch(cfg);
    await waitForOutput(sandbox, "ready");
    const t = await c.destroy(cfg.id, 1000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.signal, "SIGKILL", t.message);
  });

  it("publishes a host port from the task's ports on a bridge network, reachable on loopback", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const hostPort = await freePort();
    const cfg = dockerConfig(sandbox, "echo bridged > index.html; echo serving; exec httpd -f -p 8080 -h /mnt/dcos/sandbox", {
      network: "bridge",
      portMappings: [{ hostPort, containerPort: 8080, protocol: "tcp" }],
    }, { resources: { ports: [hostPort] } });
    await c.launch(cfg);
    await waitForOutput(sandbox, "serving");
    const body = await waitFor(() => httpGet(hostPort, "/index.html").catch(() => undefined), `HTTP on 127.0.0.1:${hostPort}`);
    assert.equal(body, "bridged\n");
    await c.destroy(cfg.id, 0);
  });

  it("with host networking the task listens on its PORT0", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const port = await freePort();
    const cfg = dockerConfig(sandbox, 'echo host > index.html; exec httpd -f -p "127.0.0.1:$PORT0" -h /mnt/dcos/sandbox', { network: "host" }, { resources: { ports: [port] } });
    await c.launch(cfg);
    assert.equal(await waitFor(() => httpGet(port, "/index.html").catch(() => undefined), `HTTP on 127.0.0.1:${port}`), "host\n");
    await c.destroy(cfg.id, 0);
  });

  it("binds a host directory as a volume at its container path", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const volume = await tempDir("volume");
    const cfg = dockerConfig(sandbox, "echo kept > /data/file", { binds: [{ hostPath: volume, containerPath: "/data", readOnly: false }] });
    await c.launch(cfg);
    assert.equal((await c.wait(cfg.id)).exitCode, 0);
    assert.equal(await readFile(join(volume, "file"), "utf8"), "kept\n");
  });

  it("reports a container killed for its memory limit", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "dd if=/dev/zero of=/dev/null bs=64M count=1", {}, { resources: { memMb: 16 } });
    await c.launch(cfg);
    const t = await c.wait(cfg.id);
    assert.equal(t.reason, "memory limit", t.message);
    assert.match(t.message, /Memory limit of 16 MiB exceeded/);
  });

  it("fails to launch with a missing image, saying which and why the pull failed", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "true", { image: "localhost:1/dcos-missing/image:1" });
    await rejectsWith(c.launch(cfg), Code.FAILED_PRECONDITION, /Image 'localhost:1\/dcos-missing\/image:1' is not present locally and pulling it failed: .*connect/);
    assert.deepEqual(c.containers(), [], "nothing is left of the failed launch");
  });

  it("replaces a container left with its name by a launch that died half way", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "echo fresh");
    await new Docker().createContainer({ name: dockerName(cfg.id), Image: TEST_IMAGE, Cmd: ["echo", "stale"] });
    await c.launch(cfg);
    assert.equal((await c.wait(cfg.id)).exitCode, 0);
    assert.equal(await sandboxFile(sandbox, "stdout"), "fresh\n", "the new container ran, not the stale one");
  });

  it("fails to launch with UNAVAILABLE and how to install it when the engine is down", async () => {
    const owner = await tempDir("docker-owner");
    const c = new DockerContainerizer({ owner, socketPath: join(owner, "no-docker.sock"), logger: testLogger() });
    const sandbox = await tempDir("sandbox");
    await rejectsWith(c.launch(dockerConfig(sandbox, "true")), Code.UNAVAILABLE, /Docker engine is not reachable at .*no-docker\.sock.*setup-host\.sh/);
    await rejectsWith(c.ping(), Code.UNAVAILABLE, /not reachable/);
  });

  it("refuses a port mapping of a host port that is not the task's", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const cfg = dockerConfig(sandbox, "true", { network: "bridge", portMappings: [{ hostPort: 31001, containerPort: 80, protocol: "tcp" }] }, { resources: { ports: [31000] } });
    await rejectsWith(c.launch(cfg), Code.INVALID_ARGUMENT, /host port 31001 is not one of the task's port resources \(31000\)/);
  });

  it("finds its containers again by their labels after a restart, and destroys them", async () => {
    const first = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const kept = dockerConfig(sandbox, "echo before; while true; do sleep 0.1; done");
    const orphan = dockerConfig(sandbox, "while true; do sleep 0.1; done");
    const state = await first.c.launch(kept);
    await first.c.launch(orphan);
    await waitForOutput(sandbox, "before");
    first.c.detach();
    const { c } = await dockerContainerizer(first.owner);
    const other = await dockerContainerizer();
    assert.deepEqual(await other.c.recover([]), { recovered: [], orphans: [] }, "another agent's containers are not its");
    const r = await c.recover([state]);
    assert.deepEqual(r, { recovered: [kept.id], orphans: [orphan.id] });
    assert.deepEqual(c.containers().sort(), [kept.id, orphan.id].sort());
    assert.equal((await c.destroy(orphan.id, 0)).reason, "destroyed");
    const t = await c.destroy(kept.id, 0);
    assert.equal(t.reason, "destroyed");
    assert.deepEqual(c.containers(), []);
  });

  it("after a restart, a checkpointed container that is gone ends with status unknown", async () => {
    const { c } = await dockerContainerizer();
    const sandbox = await tempDir("sandbox");
    const gone = { id: "gone-1", containerizer: "docker", isolators: [], pid: 1, startTime: 1, bootId: "x", sandbox, runtimeDir: "" };
    assert.deepEqual(await c.recover([gone]), { recovered: ["gone-1"], orphans: [] });
    assert.equal((await c.wait("gone-1")).reason, "status unknown");
  });
});

describe("CompositeContainerizer", () => {
  before(requireDocker, { timeout: 120_000 });

  it("sends docker configs to docker and plain commands to the posix containerizer", async () => {
    const { c: docker } = await dockerContainerizer();
    const posix = containerizer(await tempDir("runtime"));
    const c = new CompositeContainerizer([docker, posix]);
    const sandbox = await tempDir("sandbox");
    await mkdir(sandbox, { recursive: true });
    const d = await c.launch(dockerConfig(sandbox, "exit 4"));
    const p = await c.launch(config(sandbox, "exit 5"));
    assert.equal(d.containerizer, "docker");
    assert.equal(p.containerizer, "posix");
    assert.equal((await c.wait(d.id)).exitCode, 4);
    assert.equal((await c.wait(p.id)).exitCode, 5);
    await rejectsWith(c.wait("nope"), Code.NOT_FOUND, /Unknown container 'nope'/);
  });

  it("refuses a docker task when docker is not among the containerizers", async () => {
    const c = new CompositeContainerizer([containerizer(await tempDir("runtime"))]);
    const sandbox = await tempDir("sandbox");
    await rejectsWith(c.launch(dockerConfig(sandbox, "true")), Code.FAILED_PRECONDITION, /this agent runs only the posix containerizer/);
  });

  it("parses --containerizers", () => {
    assert.deepEqual(parseContainerizersFlag("docker,mesos"), ["docker", "mesos"]);
    assert.throws(() => parseContainerizersFlag("docker,lxc"), /unknown containerizer 'lxc'/);
    assert.throws(() => parseContainerizersFlag(""), /it is empty/);
    assert.throws(() => parseContainerizersFlag("mesos,mesos"), /named twice/);
  });
});
