/**
 * /files is confined by descriptors: a task swapping a directory of its sandbox for a
 * symlink to a host file while requests arrive never gets that file served; FIFOs and
 * other non-regular files are refused at once (they used to hold a libuv thread forever);
 * a query parameter given twice is a 400.
 */
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { Metrics } from "../../src/metrics/metrics.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { createHttpServer } from "../../src/operator/http-server.js";

let work: string;
let sandbox: string;
let outside: string;
let app: FastifyInstance;

const SECRET = "root:$6$host-secret-hash:19000:0:99999:7:::";

before(async () => {
  work = await mkdtemp(join(tmpdir(), "sandbox-confinement-"));
  sandbox = join(work, "agents", "a1", "frameworks", "f1", "executors", "e1", "runs", "c1");
  await mkdir(join(sandbox, "d"), { recursive: true });
  await writeFile(join(sandbox, "d", "shadow"), "the task's own file\n");
  // A host file outside every sandbox, like /etc/shadow.
  outside = join(work, "etc");
  await mkdir(outside);
  await writeFile(join(outside, "shadow"), SECRET);
  execFileSync("mkfifo", [join(sandbox, "fifo")]);
  app = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics: new Metrics() });
  addSandboxFileRoutes(app, work);
  await app.ready();
});

after(async () => {
  await app.close();
  await rm(work, { recursive: true, force: true });
});

const q = (p: string) => encodeURIComponent(p);

describe("/files confinement", () => {
  it("the /files symlink race: 400 reads while a task swaps its directory for a symlink to a host file never serve the host file", async () => {
    // The task: rename d away, put a symlink to the host's directory in its place, put d back; forever.
    const swapper: ChildProcess = spawn("sh", ["-c", `cd '${sandbox}' && while :; do mv d d.real; ln -s '${outside}' d; rm d; mv d.real d; done`], { stdio: "ignore" });
    const statuses = new Map<number, number>();
    let leaked = 0;
    let served = 0;
    try {
      for (let i = 0; i < 400; i++) {
        const op = ["read", "download", "browse"][i % 3]!;
        const path = op === "browse" ? join(sandbox, "d") : join(sandbox, "d", "shadow");
        const r = await app.inject({ method: "GET", url: `/files/${op}?path=${q(path)}${op === "read" ? "&offset=0" : ""}` });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.body.includes("host-secret-hash")) leaked++;
        if (r.statusCode === 200) served++;
        assert.ok(r.statusCode < 500, `request ${i} (${op}) answered ${r.statusCode}: ${r.body.slice(0, 200)}`);
      }
    } finally {
      swapper.kill("SIGKILL");
    }
    assert.equal(leaked, 0, `the host file was served ${leaked} times (statuses ${JSON.stringify([...statuses])})`);
    assert.ok(served > 0, `some requests were served the task's own file (statuses ${JSON.stringify([...statuses])})`);
  });

  it("FIFO reads: /files/read and /files/download of a FIFO are refused at once, and other reads still work", async () => {
    const fifo = join(sandbox, "fifo");
    const refusals = await Promise.all(
      Array.from({ length: 8 }, (_, i) => app.inject({ method: "GET", url: `/files/${i % 2 === 0 ? "read" : "download"}?path=${q(fifo)}&offset=0` })),
    );
    for (const r of refusals) {
      assert.equal(r.statusCode, 400, r.body);
      assert.match(JSON.parse(r.body).message, /is not a regular file \(a FIFO, socket or device\)/);
    }
    const browse = await app.inject({ method: "GET", url: `/files/browse?path=${q(sandbox)}` });
    assert.equal(browse.statusCode, 200);
    assert.ok((JSON.parse(browse.body) as { path: string }[]).some((e) => e.path === fifo), "a FIFO is listed");
    await writeFile(join(sandbox, "stdout"), "still served\n");
    const ok = await app.inject({ method: "GET", url: `/files/read?path=${q(join(sandbox, "stdout"))}&offset=0` });
    assert.equal(JSON.parse(ok.body).data, "still served\n");
  });

  it("?path=a&path=b is a 400 naming the parameter, not a 500", async () => {
    for (const op of ["browse", "read", "download"]) {
      const r = await app.inject({ method: "GET", url: `/files/${op}?path=${q(sandbox)}&path=${q(sandbox)}` });
      assert.equal(r.statusCode, 400, `${op}: ${r.body}`);
      assert.match(JSON.parse(r.body).message, /The query parameter 'path' is given 2 times; give it once/);
    }
    const r = await app.inject({ method: "GET", url: `/files/read?path=${q(join(sandbox, "stdout"))}&offset=0&offset=1` });
    assert.equal(r.statusCode, 400);
  });
});
