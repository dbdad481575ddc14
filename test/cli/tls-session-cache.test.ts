/**
 * The thin CLI's TLS session tickets (src/cli/tls-session-cache.ts) against a node:tls
 * server on an ephemeral loopback port with a certificate of a test CA: the first request
 * makes a full handshake and keeps the ticket (directory 0700, file 0600), the next one
 * resumes; a file readable by others, stale, for another key, oversized or garbage is not
 * offered; a session kept for one CA is never offered with another, and a server the CA
 * given does not vouch for is refused exactly as without a cache.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer, type Server } from "node:tls";
import type { AddressInfo } from "node:net";
import { thinRequest, type ThinTls } from "../../src/cli/thin-http.js";
import { MAX_SESSION_FILES, tlsSessionCache } from "../../src/cli/tls-session-cache.js";
import { testTls } from "../support/test-pki.js";

function get(url: URL, tls: ThinTls): Promise<{ status: number; text: string; resumed?: boolean; error?: string }> {
  return new Promise((resolve) => {
    let status = 0;
    let text = "";
    let resumed: boolean | undefined;
    void thinRequest(url, { method: "GET", headers: {}, tls, secured: (r) => (resumed = r) }, {
      head: (s) => (status = s),
      data: (t) => (text += t),
      end: () => resolve({ status, text, ...(resumed !== undefined ? { resumed } : {}) }),
      error: (err) => resolve({ status, text, error: err.message }),
    }).catch((err: Error) => resolve({ status, text, error: err.message }));
  });
}

describe("TLS session tickets of the thin client", () => {
  let dir: string;
  let server: Server;
  let url: URL;
  let ca: string;
  let otherCa: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-tls-sessions-"));
    const tls = await testTls("principal", "run-service", { cluster: "one" });
    ca = tls.ca;
    otherCa = (await testTls("principal", "elsewhere", { cluster: "two" })).ca;
    server = createServer({ cert: tls.cert, key: tls.key }, (socket) => {
      socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/ping`);
  });

  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const waitForFile = async (d: string): Promise<string> => {
    for (let i = 0; i < 500; i++) {
      const names = (await readdir(d).catch(() => [])).filter((n) => n.endsWith(".json"));
      if (names.length === 1) return join(d, names[0]!);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ticket file in ${d}`);
  };

  it("keeps the ticket of a full handshake (0700 directory, 0600 file) and resumes with it next time", async () => {
    const sessions = join(dir, "a");
    const first = await get(url, { ca, sessionDir: sessions });
    assert.deepEqual(first, { status: 200, text: "ok", resumed: false });
    const file = await waitForFile(sessions);
    assert.equal((await stat(sessions)).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const second = await get(url, { ca, sessionDir: sessions });
    assert.deepEqual(second, { status: 200, text: "ok", resumed: true });
    // Without a directory nothing is kept or offered.
    assert.deepEqual(await get(url, { ca }), { status: 200, text: "ok", resumed: false });
  });

  it("does not offer a ticket file that others can read, and replaces it after the full handshake", async () => {
    const sessions = join(dir, "b");
    await get(url, { ca, sessionDir: sessions });
    const file = await waitForFile(sessions);
    await chmod(file, 0o644);
    assert.equal(tlsSessionCache({ origin: url.host, ca }, sessions).load(), undefined);
    assert.equal((await get(url, { ca, sessionDir: sessions })).resumed, false);
    assert.equal((await stat(file)).mode & 0o777, 0o600, "rewritten 0600");
    assert.equal((await get(url, { ca, sessionDir: sessions })).resumed, true);
  });

  it("ignores a stale, garbage or oversized file, and one written for another key", async () => {
    const sessions = join(dir, "c");
    let now = 1_000_000;
    const cache = tlsSessionCache({ origin: url.host, ca }, sessions, () => now, 60_000);
    cache.save(Buffer.from("a-session"));
    assert.deepEqual(cache.load(), Buffer.from("a-session"));
    now += 60_001;
    assert.equal(cache.load(), undefined, "older than the maximum age");
    now -= 120_000;
    assert.equal(cache.load(), undefined, "saved in the future");
    now += 60_000;
    const file = await waitForFile(sessions);
    await writeFile(file, "{not json", { mode: 0o600 });
    assert.equal(cache.load(), undefined, "garbage");
    await writeFile(file, JSON.stringify({ v: 1, key: "x".repeat(64), savedAt: now, session: Buffer.from("s").toString("base64") }), { mode: 0o600 });
    assert.equal(cache.load(), undefined, "another key's content");
    await writeFile(file, JSON.stringify({ v: 1, key: "k", savedAt: now, session: "A".repeat(20_000) }), { mode: 0o600 });
    assert.equal(cache.load(), undefined, "oversized");
    // The key covers the origin, the CA and the client certificate.
    cache.save(Buffer.from("kept"));
    assert.equal(tlsSessionCache({ origin: url.host, ca: otherCa }, sessions, () => now, 60_000).load(), undefined);
    assert.equal(tlsSessionCache({ origin: "127.0.0.1:1", ca }, sessions, () => now, 60_000).load(), undefined);
    assert.equal(tlsSessionCache({ origin: url.host, ca, cert: "c", key: "k" }, sessions, () => now, 60_000).load(), undefined);
  });

  it("a cached session does not make an untrusted server acceptable: another CA still fails verification", async () => {
    const sessions = join(dir, "d");
    assert.equal((await get(url, { ca, sessionDir: sessions })).resumed, false);
    await waitForFile(sessions);
    const refused = await get(url, { ca: otherCa, sessionDir: sessions });
    assert.equal(refused.status, 0);
    assert.match(refused.error ?? "", /self[- ]signed|unable to (get|verify)|certificate/i);
    // And the trusted CA still resumes.
    assert.equal((await get(url, { ca, sessionDir: sessions })).resumed, true);
  });

  it(`keeps the newest ${MAX_SESSION_FILES} ticket files (one per service and identity)`, async () => {
    const sessions = join(dir, "e");
    let now = 5_000_000;
    for (let i = 0; i < MAX_SESSION_FILES + 5; i++) {
      tlsSessionCache({ origin: `127.0.0.1:${10_000 + i}`, ca }, sessions, () => now).save(Buffer.from(`s${i}`));
      now += 1;
    }
    assert.equal((await readdir(sessions)).filter((n) => n.endsWith(".json")).length, MAX_SESSION_FILES);
    // The newest is there.
    assert.deepEqual(tlsSessionCache({ origin: `127.0.0.1:${10_000 + MAX_SESSION_FILES + 4}`, ca }, sessions, () => now).load(), Buffer.from(`s${MAX_SESSION_FILES + 4}`));
  });
});
