/**
 * For the tests against the real Docker engine: the engine must answer (the test fails with
 * how to install it otherwise), and a small local image is built once with `docker import`
 * of a busybox-static rootfs (no registry is reachable from CI).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, mkdir, symlink, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { after } from "node:test";
import { testLogger } from "../../src/runtime/log.js";
import { DockerContainerizer } from "../../src/isolation/docker.js";
import type { DockerContainerConfig, DockerSpec } from "../../src/isolation/docker-spec.js";
import { LABELS } from "../../src/isolation/docker-spec.js";
import { tempDir } from "./support.js";
export { freePort } from "../support/nats-server.js";

const run = promisify(execFile);

export const TEST_IMAGE = "dcos-test/busybox:latest";
const INSTALL = "install and start it with `sudo bash deploy/setup-host.sh` (Debian packages docker.io and busybox-static)";

const engine = new Docker({ socketPath: "/var/run/docker.sock" });
const owners: string[] = [];

after(async () => {
  for (const owner of owners) {
    const left = await engine.listContainers({ all: true, filters: { label: [`${LABELS.runtimeRoot}=${owner}`] } }).catch(() => []);
    for (const info of left) await engine.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

/**
 * The test image with its own ENTRYPOINT (`/bin/sh -c`) and CMD (prints "image-default" and
 * exits 3): what a task without a command runs, and what a task's arguments are given to.
 */
export const ENTRYPOINT_IMAGE = "dcos-test/busybox-entrypoint:latest";
const ENTRYPOINT_CHANGES = ["ENV PATH=/bin", 'ENTRYPOINT ["/bin/sh", "-c"]', 'CMD ["echo image-default; exit 3"]'];

let imageReady: Promise<void> | undefined;

/** Fails (does not skip) when the engine or busybox is missing; builds the test images once. */
export function requireDocker(): Promise<void> {
  imageReady ??= (async () => {
    await engine.ping().catch((e: unknown) => assert.fail(`The Docker tests need a running Docker engine at /var/run/docker.sock (${(e as Error).message}): ${INSTALL}`));
    const present = (tag: string) =>
      engine
        .getImage(tag)
        .inspect()
        .then(() => true, () => false);
    if (!(await present(TEST_IMAGE))) await buildImage(TEST_IMAGE, ["ENV PATH=/bin"]);
    if (!(await present(ENTRYPOINT_IMAGE))) await buildImage(ENTRYPOINT_IMAGE, ENTRYPOINT_CHANGES);
  })();
  return imageReady;
}

async function buildImage(tag: string, changes: string[]): Promise<void> {
  const busybox = "/bin/busybox";
  await access(busybox).catch(() => assert.fail(`The Docker tests build their image from ${busybox}: ${INSTALL}`));
  const { stdout: file } = await run("file", ["-L", busybox]).catch(() => ({ stdout: "statically linked" }));
  if (!file.includes("statically linked")) assert.fail(`${busybox} is not statically linked: ${INSTALL}`);
  const root = await tempDir("rootfs");
  await mkdir(join(root, "bin"));
  await mkdir(join(root, "tmp"), { mode: 0o1777 });
  await mkdir(join(root, "etc"));
  await copyFile(busybox, join(root, "bin", "busybox"));
  const { stdout } = await run(busybox, ["--list"]);
  for (const applet of stdout.split("\n").filter((a) => a && a !== "busybox")) await symlink("busybox", join(root, "bin", applet));
  const args = changes.flatMap((c) => ["-c", c]);
  await run("sh", ["-c", `tar -C "$0" -c . | docker import "$@" - "${tag}"`, root, ...args]);
}

/** A docker containerizer whose containers are removed after the tests. */
export async function dockerContainerizer(owner?: string): Promise<{ c: DockerContainerizer; owner: string }> {
  const o = owner ?? (await tempDir("docker-owner"));
  if (!owners.includes(o)) owners.push(o);
  return { c: new DockerContainerizer({ owner: o, logger: testLogger(), logFlushTimeoutMs: 5000 }), owner: o };
}

let seq = 0;
export function dockerConfig(sandbox: string, command: DockerContainerConfig["command"], docker: Partial<DockerSpec> = {}, extra: Partial<DockerContainerConfig> = {}): DockerContainerConfig {
  return {
    id: `d${process.pid}-${++seq}`,
    command,
    sandbox,
    docker: { image: TEST_IMAGE, network: "host", portMappings: [], binds: [], privileged: false, forcePull: false, labels: {}, ...docker },
    ...extra,
  };
}

export function inspect(name: string): Promise<Docker.ContainerInspectInfo> {
  return engine.getContainer(name).inspect();
}
