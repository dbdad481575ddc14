import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isLoopback, nodeTls } from "../../src/cli/transport-security.js";
import { silentLogger } from "../../src/runtime/log.js";
import { writeNodeTls } from "../../src/security/pki/tls-files.js";
import { testTls } from "../support/test-pki.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("a master or agent on a network address and TLS", () => {
  it("refuses to start on a non-loopback address without TLS, saying how to fix it", async () => {
    await assert.rejects(nodeTls("master", "10.0.0.1", {}, silentLogger()), /--role=master on 10\.0\.0\.1 \(not loopback\) refuses to start without TLS.*--tls-dir.*certs init.*--insecure/);
    await assert.rejects(nodeTls("agent", "192.168.1.5", {}, silentLogger()), /--role=agent on 192\.168\.1\.5 \(not loopback\) refuses to start without TLS/);
  });

  it("runs plaintext on loopback, or anywhere with an explicit --insecure", async () => {
    assert.equal(await nodeTls("master", "127.0.0.1", {}, silentLogger()), undefined);
    assert.equal(await nodeTls("agent", "10.0.0.2", { insecure: true }, silentLogger()), undefined);
    assert.ok(isLoopback("127.0.0.5") && isLoopback("::1") && isLoopback("localhost") && !isLoopback("10.0.0.1") && !isLoopback("0.0.0.0"));
  });

  it("loads a TLS directory of the node's role, and refuses another role's certificate or TLS with --insecure", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dcos-node-tls-"));
    dirs.push(dir);
    await writeNodeTls(dir, await testTls("agent", "a1", { hosts: ["10.0.0.2"] }));
    const tls = await nodeTls("agent", "10.0.0.2", { tlsDir: dir }, silentLogger());
    assert.match(tls!.cert, /BEGIN CERTIFICATE/);
    await assert.rejects(nodeTls("master", "10.0.0.2", { tlsDir: dir }, silentLogger()), /--role=master needs a master certificate, but .* holds an agent certificate \('a1'\)/);
    await assert.rejects(nodeTls("agent", "10.0.0.2", { tlsDir: dir, insecure: true }, silentLogger()), /--insecure and TLS flags .* contradict/);
  });
});
