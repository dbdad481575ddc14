import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fetchUris } from "../../src/isolation/fetcher.js";
import { resolveUser } from "../../src/isolation/users.js";

let root: string;
let server: Server;
let base: string;
let archive: Buffer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "fetcher-"));
  await chmod(root, 0o755);
  const src = join(root, "src");
  await mkdir(join(src, "bin"), { recursive: true });
  await writeFile(join(src, "bin", "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await writeFile(join(src, "README"), "packed\n");
  execFileSync("tar", ["-czf", join(root, "app.tar.gz"), "-C", src, "bin", "README"]);
  archive = await readFile(join(root, "app.tar.gz"));
  server = createServer((req, res) => {
    if (req.url === "/app.tar.gz") res.end(archive);
    else if (req.url === "/tool") res.end("#!/bin/sh\nexit 0\n");
    else if (req.url === "/big") res.end(Buffer.alloc(64 * 1024, 1));
    else {
      res.statusCode = 404;
      res.end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.close();
  await rm(root, { recursive: true, force: true });
});

async function sandbox(): Promise<string> {
  return mkdtemp(join(root, "sandbox-"));
}

describe("fetcher", () => {
  it("downloads over HTTP, extracts tar archives beside the archive, makes executables 0755 and honours output_file", async () => {
    const dir = await sandbox();
    await fetchUris([{ value: `${base}/app.tar.gz` }, { value: `${base}/tool`, executable: true, outputFile: "tools/tool" }], dir);
    assert.deepEqual(await readFile(join(dir, "app.tar.gz")), archive, "the archive stays");
    assert.equal(await readFile(join(dir, "README"), "utf8"), "packed\n");
    assert.equal((await stat(join(dir, "bin", "run.sh"))).mode & 0o777, 0o755);
    assert.equal((await stat(join(dir, "tools", "tool"))).mode & 0o777, 0o755);
  });

  it("does not extract when extract is false", async () => {
    const dir = await sandbox();
    await fetchUris([{ value: `${base}/app.tar.gz`, extract: false }], dir);
    await assert.rejects(stat(join(dir, "README")), /ENOENT/);
  });

  it("copies world-readable local files (file:// and absolute paths) and refuses others with the reason", async () => {
    const dir = await sandbox();
    await writeFile(join(root, "public.txt"), "public\n", { mode: 0o644 });
    await writeFile(join(root, "private.txt"), "secret\n", { mode: 0o600 });
    await chmod(join(root, "private.txt"), 0o600);
    await symlink("/etc/shadow", join(root, "link"));
    await fetchUris([{ value: `file://${join(root, "public.txt")}` }, { value: join(root, "public.txt"), outputFile: "copy.txt" }], dir);
    assert.equal(await readFile(join(dir, "copy.txt"), "utf8"), "public\n");
    await assert.rejects(fetchUris([{ value: join(root, "private.txt") }], dir), /Failed to fetch '.*private\.txt': the file is not readable by every user/);
    await assert.rejects(fetchUris([{ value: join(root, "link") }], dir), /not a regular file/);
    await assert.rejects(fetchUris([{ value: "relative/path" }], dir), /only http:\/\/, https:\/\/, file:\/\/ URIs and absolute paths/);
    await assert.rejects(fetchUris([{ value: "hdfs://nn/x" }], dir), /only http/);
  });

  it("refuses an HTTP error, an output_file outside the sandbox, a file over the size limit and too many URIs", async () => {
    const dir = await sandbox();
    await assert.rejects(fetchUris([{ value: `${base}/nope` }], dir), /Failed to fetch '.*\/nope': HTTP 404/);
    await assert.rejects(fetchUris([{ value: `${base}/tool`, outputFile: "../escape" }], dir), /leaves the sandbox/);
    await assert.rejects(fetchUris([{ value: `${base}/tool`, outputFile: "/etc/x" }], dir), /must be relative to the sandbox/);
    await assert.rejects(fetchUris([{ value: `${base}/big` }], dir, { maxBytes: 1024 }), /larger than the limit of 1024 bytes/);
    await assert.rejects(fetchUris(Array.from({ length: 65 }, () => ({ value: `${base}/tool` })), dir), /at most 64 URIs/);
  });

  it("refuses a corrupt archive with tar's reason", async () => {
    const dir = await sandbox();
    await writeFile(join(root, "broken.tgz"), "not gzip at all", { mode: 0o644 });
    await assert.rejects(fetchUris([{ value: join(root, "broken.tgz") }], dir), /could not extract it: .*tar/);
  });

  it("gives what it fetched to the task's user", { skip: process.getuid?.() !== 0 ? "chown needs root (CI runs as root)" : false }, async () => {
    const dir = await sandbox();
    const nobody = await resolveUser("nobody");
    await fetchUris([{ value: `${base}/app.tar.gz` }], dir, { owner: nobody });
    for (const p of ["app.tar.gz", "README", "bin", join("bin", "run.sh")]) assert.equal((await stat(join(dir, p))).uid, nobody.uid, p);
  });
});
