import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { Metrics } from "../../src/metrics/metrics.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { createHttpServer, listen, type RunningHttp } from "../../src/operator/http-server.js";

let work: string;
let sandbox: string;
let secret: string;
let app: FastifyInstance;
let http: RunningHttp;
let url: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "sandbox-files-"));
  sandbox = join(work, "agents", "a1", "frameworks", "f1", "executors", "e1", "runs", "c1");
  await mkdir(sandbox, { recursive: true });
  await writeFile(join(sandbox, "stdout"), "hello from the task\nline 2\n");
  await writeFile(join(sandbox, "stderr"), "");
  await writeFile(join(sandbox, "отчёт \"日本\".txt"), "unicode name");
  secret = join(work, "secret.txt");
  await writeFile(secret, "agent credentials");
  await symlink(secret, join(sandbox, "escape"));
  await symlink(work, join(sandbox, "escape-dir"));
  await symlink(join(sandbox, "stdout"), join(sandbox, "stdout-link"));
  app = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics() });
  addSandboxFileRoutes(app, work);
  http = await listen(app, "127.0.0.1", 0);
  url = `http://${http.address}`;
});

after(async () => {
  await http.close();
  await rm(work, { recursive: true, force: true });
});

/** GET with the query written exactly as given (no re-encoding by URLSearchParams). */
async function get(pathAndQuery: string): Promise<{ status: number; json: () => Promise<any>; text: () => Promise<string>; headers: Headers }> {
  const r = await fetch(url + pathAndQuery);
  return { status: r.status, json: () => r.json(), text: () => r.text(), headers: r.headers };
}

async function refused(pathAndQuery: string, status: number, message: RegExp): Promise<void> {
  const r = await get(pathAndQuery);
  assert.equal(r.status, status, pathAndQuery);
  const body = await r.json();
  assert.equal(typeof body.error, "string");
  assert.match(body.message, message, pathAndQuery);
}

describe("sandbox files", () => {
  it("browses a sandbox directory with sizes and modes", async () => {
    const r = await get(`/files/browse?path=${encodeURIComponent(sandbox)}`);
    assert.equal(r.status, 200);
    const entries = (await r.json()) as { path: string; size: number; mode: string }[];
    const stdout = entries.find((e) => e.path === join(sandbox, "stdout"))!;
    assert.equal(stdout.size, 27);
    assert.match(stdout.mode, /^-rw/);
  });

  it("reads a file from an offset with a length, and offset -1 gives its size", async () => {
    const path = encodeURIComponent(join(sandbox, "stdout"));
    assert.deepEqual(await (await get(`/files/read?path=${path}&offset=0&length=5`)).json(), { data: "hello", offset: 0 });
    assert.deepEqual(await (await get(`/files/read?path=${path}&offset=20&length=100`)).json(), { data: "line 2\n", offset: 20 });
    assert.deepEqual(await (await get(`/files/read?path=${path}&offset=-1`)).json(), { data: "", offset: 27 });
    assert.deepEqual(await (await get(`/files/read?path=${encodeURIComponent(join(sandbox, "stdout-link"))}&offset=0&length=5`)).json(), { data: "hello", offset: 0 }, "a symlink inside the sandbox is fine");
  });

  it("downloads a whole file as an attachment", async () => {
    const r = await get(`/files/download?path=${encodeURIComponent(join(sandbox, "stdout"))}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-disposition"), "attachment; filename=stdout");
    assert.equal(await r.text(), "hello from the task\nline 2\n");
  });

  it("downloads a file whose name is not Latin-1 (RFC 8187 filename*, ASCII fallback)", async () => {
    const name = "отчёт \"日本\".txt";
    const r = await get(`/files/download?path=${encodeURIComponent(join(sandbox, name))}`);
    assert.equal(r.status, 200);
    const header = r.headers.get("content-disposition") ?? "";
    assert.match(header, /^attachment; filename="[ -~]*"; filename\*=UTF-8''/);
    assert.equal(decodeURIComponent(header.slice(header.indexOf("UTF-8''") + 7)), name);
    assert.equal(await r.text(), "unicode name");
  });

  it("refuses '..' in any spelling, percent-encoded included", async () => {
    await refused(`/files/read?path=${sandbox}/../../../../../../secret.txt&offset=0`, 400, /'\.\.' component/);
    await refused(`/files/read?path=${encodeURIComponent(`${sandbox}/../../../../../../secret.txt`)}&offset=0`, 400, /'\.\.' component/);
    await refused(`/files/browse?path=${sandbox}/%2e%2e/%2E%2E`, 400, /'\.\.' component/);
    await refused(`/files/browse?path=${sandbox}/%252e%252e`, 404, /No such file/);
  });

  it("refuses symlinks that point out of the sandboxes", async () => {
    await refused(`/files/read?path=${encodeURIComponent(join(sandbox, "escape"))}&offset=0`, 403, /outside the sandboxes/);
    await refused(`/files/browse?path=${encodeURIComponent(join(sandbox, "escape-dir"))}`, 403, /outside the sandboxes/);
    await refused(`/files/download?path=${encodeURIComponent(join(sandbox, "escape-dir", "secret.txt"))}`, 403, /outside the sandboxes/);
  });

  it("refuses absolute paths outside, relative paths, NUL bytes and a missing path", async () => {
    await refused(`/files/read?path=/etc/passwd&offset=0`, 403, /outside the sandboxes/);
    await refused(`/files/browse?path=${encodeURIComponent(secret)}`, 403, /outside the sandboxes/);
    await refused(`/files/read?path=agents/a1&offset=0`, 400, /not absolute/);
    await refused(`/files/read?path=${sandbox}/stdout%00.txt&offset=0`, 400, /NUL/);
    await refused(`/files/browse`, 400, /Missing the 'path'/);
    await refused(`/files/browse?path=/nonexistent-dir`, 403, /outside the sandboxes/);
    await refused(`/files/browse?path=${encodeURIComponent(join(sandbox, "nope"))}`, 404, /No such file/);
  });

  it("refuses bad offsets and lengths, and reading a directory", async () => {
    const path = encodeURIComponent(join(sandbox, "stdout"));
    await refused(`/files/read?path=${path}&offset=abc`, 400, /'offset' must be an integer/);
    await refused(`/files/read?path=${path}&offset=0&length=-5`, 400, /'length' must be at least 0/);
    await refused(`/files/read?path=${encodeURIComponent(sandbox)}&offset=0`, 400, /is a directory/);
  });

  it("a read at the end with 'wait' answers once the file grows (dcos-files-wait), or empty when the wait ends", async () => {
    const file = join(sandbox, "growing");
    await writeFile(file, "one\n");
    const path = encodeURIComponent(file);
    // Not at the end: answered at once with what is there.
    const now = await get(`/files/read?path=${path}&offset=0&wait=5000`);
    assert.deepEqual(await now.json(), { data: "one\n", offset: 0 });
    // At the end: it waits for the append (the timer only appends; the answer waits for it).
    const waiting = get(`/files/read?path=${path}&offset=4&wait=20000`);
    const appended = new Promise<void>((resolve) => setTimeout(() => void appendFile(file, "two\n").then(resolve), 50));
    const r = await waiting;
    await appended;
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("dcos-files-wait"), "20000");
    assert.deepEqual(await r.json(), { data: "two\n", offset: 4 });
    // Nothing comes: empty after the wait.
    const quiet = await get(`/files/read?path=${path}&offset=8&wait=100`);
    assert.deepEqual(await quiet.json(), { data: "", offset: 8 });
    // Without wait: at once, no header (Mesos's /files/read).
    const plain = await get(`/files/read?path=${path}&offset=8`);
    assert.equal(plain.headers.get("dcos-files-wait"), null);
    assert.deepEqual(await plain.json(), { data: "", offset: 8 });
  });

  it("refuses a bad 'wait'; waits are still confined and checked like any read", async () => {
    const path = encodeURIComponent(join(sandbox, "stdout"));
    await refused(`/files/read?path=${path}&offset=0&wait=abc`, 400, /'wait' must be a whole number of ms from 0 to 30000/);
    await refused(`/files/read?path=${path}&offset=0&wait=30001`, 400, /'wait' must be a whole number/);
    await refused(`/files/read?path=${encodeURIComponent(join(sandbox, "escape"))}&offset=0&wait=1000`, 403, /outside the sandboxes/);
  });

  it("beyond the cap on waiting reads a read is answered at once; stopping the server ends the waits", async () => {
    const other = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics() });
    addSandboxFileRoutes(other, work, undefined, 1);
    const running = await listen(other, "127.0.0.1", 0);
    const file = encodeURIComponent(join(sandbox, "stdout"));
    const end = "hello from the task\nline 2\n".length;
    try {
      const first = fetch(`http://${running.address}/files/read?path=${file}&offset=${end}&wait=30000`);
      // Once the first holds the one slot, a read asking to wait is answered at once, without the header
      // (reads that ask for 1 ms until one is refused the slot: the first may not wait yet).
      let second: Response | undefined;
      for (let i = 0; i < 500; i++) {
        const r = await fetch(`http://${running.address}/files/read?path=${file}&offset=${end}&wait=1`);
        if (!r.headers.has("dcos-files-wait")) {
          second = r;
          break;
        }
        await r.body?.cancel();
      }
      assert.ok(second, "a read beyond the cap was answered without waiting");
      assert.deepEqual(await second!.json(), { data: "", offset: end });
      // Closing the server ends the first wait (it answers empty) instead of holding the close for 30 s.
      await running.close();
      const r = await first;
      assert.equal(r.headers.get("dcos-files-wait"), "30000");
      assert.deepEqual(await r.json(), { data: "", offset: end });
    } finally {
      await running.close().catch(() => undefined);
    }
  });
});
