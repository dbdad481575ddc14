import assert from "node:assert/strict";
import { lstat, readdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { ReservationInfo_Type, ResourceSchema } from "../../src/gen/dcos/v1/resources_pb.js";
import { volumeDir } from "../../src/actors/agent/volumes.js";
import { NamespacesIsolator } from "../../src/isolation/namespaces.js";
import type { ContainerVolume } from "../../src/isolation/volumes.js";
import { Code } from "../../src/runtime/error.js";
import { config, rejectsWith, requireRoot, sandboxFile, setup, tempDir } from "./support.js";

const volume = (hostPath: string, containerPath: string, readOnly = false): ContainerVolume => ({ id: "db-1", hostPath, containerPath, readOnly });

describe("persistent volumes under the namespaces isolator", () => {
  before(() => requireRoot("Bind-mounting volumes in a mount namespace"));

  it("a task writes to its volume and ends; a second task reads it; the data lives outside the sandbox and is kept", async () => {
    const volumeHost = join(await tempDir("work"), "volumes", "roles", "ops", "db-1");
    const writer = await setup([new NamespacesIsolator()]);
    const w = config(writer.sandbox, "echo kept > data/file && grep -q \" $PWD/data \" /proc/self/mountinfo && echo mounted", { volumes: [volume(volumeHost, "data")] });
    await writer.c.launch(w);
    const wt = await writer.c.wait(w.id);
    assert.equal(wt.exitCode, 0, `${wt.message}; stderr: ${await sandboxFile(writer.sandbox, "stderr").catch(() => "")}`);
    assert.equal(await sandboxFile(writer.sandbox, "stdout"), "mounted\n", "the task saw a mount at its container path");
    assert.equal(await readFile(join(volumeHost, "file"), "utf8"), "kept\n", "the data is in the volume directory, kept after the task ended");
    assert.deepEqual(await readdir(join(writer.sandbox, "data")), [], "on the host the sandbox's mount point stays empty: nothing was written into the sandbox");
    assert.ok((await lstat(join(writer.sandbox, "data"))).isDirectory(), "a real directory (a mount point), not a symlink");

    const reader = await setup([new NamespacesIsolator()]);
    const r = config(reader.sandbox, "cat data/file", { volumes: [volume(volumeHost, "data")] });
    await reader.c.launch(r);
    assert.equal((await reader.c.wait(r.id)).exitCode, 0);
    assert.equal(await sandboxFile(reader.sandbox, "stdout"), "kept\n", "the second task read what the first wrote");
  });

  it("mounts at an absolute container path only inside the task's namespace, and read-only when asked", async () => {
    const volumeHost = await tempDir("volume");
    const mountPoint = await tempDir("mount-point");
    const { c, sandbox } = await setup([new NamespacesIsolator()]);
    const cfg = config(sandbox, `if echo x > ${mountPoint}/inside; then echo wrote; else echo refused; fi; ls ${mountPoint}`, { volumes: [volume(volumeHost, mountPoint, true)] });
    await writeFile(join(volumeHost, "seen"), "v");
    await c.launch(cfg);
    assert.equal((await c.wait(cfg.id)).exitCode, 0);
    assert.equal(await sandboxFile(sandbox, "stdout"), "refused\nseen\n", "the task saw the volume's file at the absolute path and could not write to it");
    assert.deepEqual(await readdir(mountPoint), [], "the host's directory is untouched");
    assert.deepEqual(await readdir(volumeHost), ["seen"]);
  });

  it("refuses an absolute container path that is not a directory on the host", async () => {
    const { c, sandbox } = await setup([new NamespacesIsolator()]);
    const missing = join(await tempDir("missing"), "nowhere");
    await rejectsWith(c.launch(config(sandbox, "true", { volumes: [volume(await tempDir("v"), missing)] })), Code.FAILED_PRECONDITION, /not an existing directory on the host/);
  });
});

describe("persistent volumes without namespaces (plain posix)", () => {
  it("links the volume into the sandbox, since a bind mount would be the host's", async () => {
    const volumeHost = await tempDir("volume");
    const { c, sandbox } = await setup();
    const cfg = config(sandbox, "echo kept > data/file", { volumes: [volume(volumeHost, "data")] });
    await c.launch(cfg);
    assert.equal((await c.wait(cfg.id)).exitCode, 0);
    assert.ok((await lstat(join(sandbox, "data"))).isSymbolicLink());
    assert.equal(await realpath(join(sandbox, "data")), await realpath(volumeHost));
    assert.equal(await readFile(join(volumeHost, "file"), "utf8"), "kept\n");
  });

  it("refuses an absolute container path, saying why", async () => {
    const { c, sandbox } = await setup();
    await rejectsWith(c.launch(config(sandbox, "true", { volumes: [volume(await tempDir("v"), "/data")] })), Code.INVALID_ARGUMENT, /posix tasks without the namespaces isolator see volumes in their sandbox/);
  });
});

describe("host path volumes", () => {
  const host = (hostPath: string, containerPath: string, readOnly = false): ContainerVolume => ({ id: hostPath, hostPath, containerPath, readOnly, source: "host" });

  it("namespaces: a host file is mounted read-only on a file mount point in the sandbox", async () => {
    requireRoot("Bind-mounting volumes in a mount namespace");
    const dir = await tempDir("host-file");
    await writeFile(join(dir, "app.conf"), "setting=1\n", { mode: 0o666 });
    const { c, sandbox } = await setup([new NamespacesIsolator()]);
    const cfg = config(sandbox, "cat etc/app.conf; if echo x >> etc/app.conf; then echo wrote; else echo refused; fi", { volumes: [host(join(dir, "app.conf"), "etc/app.conf", true)] });
    await c.launch(cfg);
    assert.equal((await c.wait(cfg.id)).exitCode, 0);
    assert.equal(await sandboxFile(sandbox, "stdout"), "setting=1\nrefused\n");
    assert.equal(await readFile(join(dir, "app.conf"), "utf8"), "setting=1\n");
    assert.equal(await readFile(join(sandbox, "etc", "app.conf"), "utf8"), "", "on the host the mount point is an empty file");
  });

  it("a missing host path is never created; plain posix refuses a read-only one", async () => {
    const missing = join(await tempDir("host-missing"), "nothing");
    for (const isolators of [[], [new NamespacesIsolator()]]) {
      const { c, sandbox } = await setup(isolators);
      await rejectsWith(c.launch(config(sandbox, "true", { volumes: [host(missing, "data")] })), Code.FAILED_PRECONDITION, /does not exist on this agent/);
      await assert.rejects(lstat(missing), /ENOENT/);
    }
    const { c, sandbox } = await setup();
    await rejectsWith(c.launch(config(sandbox, "true", { volumes: [host(await tempDir("h"), "data", true)] })), Code.INVALID_ARGUMENT, /is read-only: .* a symlink in their sandbox, which cannot be read-only/);
  });

  it("a container path leading out of the sandbox through a symlink already there is refused; nothing is made outside", async () => {
    const outside = await tempDir("outside");
    for (const isolators of [[], [new NamespacesIsolator()]]) {
      const { c, sandbox } = await setup(isolators);
      await symlink(outside, join(sandbox, "a"));
      await rejectsWith(c.launch(config(sandbox, "true", { volumes: [host(await tempDir("h"), "a/b/c")] })), Code.INVALID_ARGUMENT, /leads out of the sandbox through a symlink/);
      assert.deepEqual(await readdir(outside), [], "no directory or link was made outside the sandbox");
    }
  });
});

describe("volume paths that escape", () => {
  it("refuses a container path that leaves the sandbox, before anything runs", async () => {
    for (const isolators of [[], [new NamespacesIsolator()]]) {
      const { c, sandbox } = await setup(isolators);
      await rejectsWith(c.launch(config(sandbox, "true", { volumes: [volume(await tempDir("v"), "../../etc")] })), Code.INVALID_ARGUMENT, /container path '..\/..\/etc', which escapes the sandbox/);
      assert.deepEqual(c.containers(), []);
    }
  });

  it("refuses a persistence id that would leave the agent's volumes directory", async () => {
    const r = (id: string) =>
      create(ResourceSchema, {
        name: "disk",
        type: Value_Type.SCALAR,
        scalar: { value: 10 },
        reservations: [{ type: ReservationInfo_Type.DYNAMIC, role: "ops" }],
        disk: { persistence: { id }, volume: { containerPath: "data" } },
      });
    for (const id of ["../../etc", "a/b", ".."]) {
      assert.throws(() => volumeDir("/work", r(id)), (e: Error) => /Invalid persistent volume: persistence id .* cannot escape the volumes directory/.test(e.message), id);
    }
    assert.equal(volumeDir("/work", r("db-1")), "/work/volumes/roles/ops/db-1");
  });
});
