import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { after, describe, it } from "node:test";
import { certsSubcommand } from "../../src/cli/certs.js";
import { CertificateAuthority } from "../../src/security/pki/authority.js";
import { loadAuthority } from "../../src/security/pki/ca-files.js";
import { identityFromAltNames, parseIdentityUri } from "../../src/security/pki/node-identity.js";
import { certificateIdentity, loadTls } from "../../src/security/pki/tls-files.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "dcos-pki-"));
  dirs.push(d);
  return d;
}

async function certs(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await certsSubcommand((l) => lines.push(l)).exitOverride().parseAsync(args, { from: "user" });
  return lines;
}

describe("cluster PKI", () => {
  it("issues node certificates that Node's own X.509 parser verifies against the CA, with the identity and hosts in the SAN", async () => {
    const ca = await CertificateAuthority.create({ cluster: "prod" });
    const issued = await ca.issue({ role: "agent", name: "agent-7", hosts: ["10.0.0.7", "agent-7.example"] });
    const caCert = new X509Certificate(ca.pem.cert);
    const cert = new X509Certificate(issued.cert);
    assert.ok(caCert.ca, "the CA certificate is a CA");
    assert.ok(cert.verify(caCert.publicKey), "signed by the CA");
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIP("10.0.0.7"));
    assert.ok(cert.checkHost("agent-7.example"));
    assert.deepEqual(identityFromAltNames(cert.subjectAltName), { cluster: "prod", role: "agent", name: "agent-7" });
    assert.deepEqual([...certificateIdentity(issued.cert).hosts].sort(), ["10.0.0.7", "agent-7.example"]);
  });

  it("refuses names that do not fit a URI path, and hosts that are neither IP nor DNS", async () => {
    const ca = await CertificateAuthority.create({ cluster: "prod" });
    await assert.rejects(ca.issue({ role: "agent", name: "../etc" }), /name '..\/etc' is not valid/);
    await assert.rejects(ca.issue({ role: "agent", name: "a", hosts: ["bad host"] }), /neither an IP address nor a DNS name/);
    await assert.rejects(CertificateAuthority.create({ cluster: "a/b" }), /cluster name 'a\/b' is not valid/);
    assert.equal(parseIdentityUri("spiffe://prod/root/x"), undefined, "unknown role");
    assert.equal(parseIdentityUri("https://prod/agent/x"), undefined);
  });

  it("a CA key that does not belong to the certificate is refused on load", async () => {
    const one = await CertificateAuthority.create({ cluster: "c" });
    const two = await CertificateAuthority.create({ cluster: "c" });
    await assert.rejects(CertificateAuthority.load({ cert: one.pem.cert, key: two.pem.key }), /does not belong to the CA certificate/);
    const again = await CertificateAuthority.load(one.pem);
    assert.equal(again.cluster, "c");
  });

  it("certs init writes ca.crt and a 0600 ca.key, refuses to replace them, and certs issue writes a node's TLS directory", async () => {
    const caDir = join(await tempDir(), "ca");
    const out = join(await tempDir(), "master-1");
    const init = await certs("init", `--dir=${caDir}`, "--cluster=prod");
    assert.match(init.join("\n"), /Created the CA of cluster 'prod'/);
    assert.equal((await stat(join(caDir, "ca.key"))).mode & 0o777, 0o600);
    await assert.rejects(certs("init", `--dir=${caDir}`), /exists already/);
    await assert.rejects(certs("issue", `--ca-dir=${caDir}`, "--role=master", "--name=m1", `--out=${out}`), /needs --host/);
    const issue = await certs("issue", `--ca-dir=${caDir}`, "--role=master", "--name=m1", "--host=10.1.2.3", `--out=${out}`);
    assert.match(issue.join("\n"), /Issued master 'm1' of cluster 'prod' for 10.1.2.3 .*--tls-dir=/);
    assert.equal((await stat(join(out, "node.key"))).mode & 0o777, 0o600);
    const tls = await loadTls({ dir: out });
    assert.equal(tls.ca, await readFile(join(caDir, "ca.crt"), "utf8"));
    assert.deepEqual(certificateIdentity(tls.cert), { cluster: "prod", role: "master", name: "m1", hosts: ["10.1.2.3"] });
    assert.equal((await loadAuthority(caDir)).cluster, "prod");
    await assert.rejects(certs("issue", `--ca-dir=${join(caDir, "nope")}`, "--role=principal", "--name=p", `--out=${out}`), /Cannot read .*ca.crt.*certs init/);
  });

  it("loadTls names the missing flag and the unreadable file", async () => {
    await assert.rejects(loadTls({ cert: "/x.crt" }), /give --tls-dir or --tls-ca, --tls-key/);
    await assert.rejects(loadTls({ dir: "/nonexistent-tls" }), /Cannot read the CA certificate \(--tls-ca\) at \/nonexistent-tls\/ca.crt/);
  });
});
