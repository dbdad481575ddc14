/**
 * Revocation and rotation of node certificates: `dcos-node certs revoke` writes a CRL
 * signed by the CA; a master started with --tls-crl refuses a revoked agent (it never
 * registers), picks up a revocation made while it runs, and refuses a CRL not signed by
 * its CA. `certs rotate` gives a node a new certificate of the same identity, with which
 * the (restarted) agent registers again.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { cp, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { certsSubcommand } from "../../src/cli/certs.js";
import { startAgentRole, type RunningAgent } from "../../src/node/agent-role.js";
import { startMasterRole, type RunningMaster } from "../../src/node/master-role.js";
import { testMasterRoleOptions } from "../support/master-role-options.js";
import { testLogger } from "../../src/runtime/log.js";
import { CRL_FILE, initAuthority } from "../../src/security/pki/ca-files.js";
import { RevocationList } from "../../src/security/pki/revocation.js";
import { loadTls, type TlsMaterial } from "../../src/security/pki/tls-files.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

async function certs(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  await certsSubcommand((l) => out.push(l)).parseAsync(args, { from: "user" });
  return out;
}

describe("certificate revocation and rotation", () => {
  let dir = "";
  let master: RunningMaster;
  const agents: RunningAgent[] = [];
  const logger = testLogger();

  const registered = () => master.node.system.dispatch(master.master, (m) => [...m.core.agents.values()].map((a) => a.info.hostname).sort());
  const agent = async (tls: TlsMaterial, name: string) => {
    const a = await startAgentRole({
      tls,
      ip: "127.0.0.1",
      port: 0,
      hostname: name,
      master: master.address,
      workDir: join(dir, name),
      resources: "cpus:1;mem:256",
      isolation: "posix",
      logger,
      httpPort: 0,
      version: "test",
      flags: {},
    });
    agents.push(a);
    return a;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-revoke-"));
    const caDir = join(dir, "ca");
    await initAuthority(caDir, "prod");
    for (const [role, name] of [["master", "m1"], ["agent", "good"], ["agent", "bad"]]) {
      await certs("issue", `--ca-dir=${caDir}`, `--role=${role}`, `--name=${name}`, "--host=127.0.0.1,localhost", `--out=${join(dir, name)}-tls`);
    }
    // The bad agent's certificate is revoked before the master starts.
    const out = await certs("revoke", `--ca-dir=${caDir}`, `--cert=${join(dir, "bad-tls", "node.crt")}`);
    assert.match(out[0]!, /Revoked agent 'bad' \(serial [0-9a-f]+\); 1 revoked in all/);
    await cp(join(caDir, CRL_FILE), join(dir, "master-crl.pem"));
    master = await startMasterRole({
      ...testMasterRoleOptions([], join(dir, "master"), 0),
      tls: { ...(await loadTls({ dir: join(dir, "m1-tls") })), crlFile: join(dir, "master-crl.pem") },
      allocationIntervalMs: 100,
      logger,
    });
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await master?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a revoked agent cannot register; a good one can", async () => {
    await agent(await loadTls({ dir: join(dir, "good-tls") }), "good");
    await waitFor(async () => (await registered()).includes("good") || undefined, "the good agent to register");
    const refusedBefore = master.node.transport.stats.refusedStreams;
    await agent(await loadTls({ dir: join(dir, "bad-tls") }), "bad");
    await waitFor(() => master.node.transport.stats.refusedStreams > refusedBefore || undefined, "the revoked agent's stream refused");
    // Registration retries keep being refused.
    await waitFor(() => master.node.transport.stats.refusedStreams > refusedBefore + 1 || undefined, "a retry refused too", 20_000);
    assert.deepEqual(await registered(), ["good"]);
  });

  it("a revocation made while the master runs is picked up without a restart; a forged CRL is refused", async () => {
    const caDir = join(dir, "ca");
    await certs("issue", `--ca-dir=${caDir}`, "--role=agent", "--name=later", "--host=127.0.0.1", `--out=${join(dir, "later-tls")}`);
    await certs("revoke", `--ca-dir=${caDir}`, `--cert=${join(dir, "later-tls", "node.crt")}`);
    await cp(join(caDir, CRL_FILE), join(dir, "master-crl.pem"));
    const serial = new X509Certificate(await readFile(join(dir, "later-tls", "node.crt"), "utf8")).serialNumber;
    await waitFor(() => master.node.revocations!.isRevoked(serial) || undefined, "the master to read the new CRL", 15_000);
    assert.equal(master.node.revocations!.list.size, 2);
    const refusedBefore = master.node.transport.stats.refusedStreams;
    await agent(await loadTls({ dir: join(dir, "later-tls") }), "later");
    await waitFor(() => master.node.transport.stats.refusedStreams > refusedBefore || undefined, "the newly revoked agent refused");
    assert.ok(!(await registered()).includes("later"));

    // A CRL signed by another CA does not replace the master's list.
    const other = await mkdtemp(join(tmpdir(), "dcos-other-ca-"));
    await initAuthority(other, "prod");
    await certs("revoke", `--ca-dir=${other}`, "--serial=01");
    await assert.rejects(RevocationList.parse(await readFile(join(other, CRL_FILE), "utf8"), (await testTls("master", "x")).ca, "forged"), /forged is not signed by the cluster CA/);
    await writeFile(join(dir, "master-crl.pem"), await readFile(join(other, CRL_FILE), "utf8"));
    await utimes(join(dir, "master-crl.pem"), new Date(), new Date(Date.now() + 5000));
    await assert.rejects(master.node.revocations!.reload(), /is not signed by the cluster CA/);
    assert.ok(master.node.revocations!.isRevoked(serial), "the previous list stays in force");
    await rm(other, { recursive: true, force: true });
  });

  it("certs rotate issues a new certificate of the same identity; the agent restarted with it registers", async () => {
    const caDir = join(dir, "ca");
    await certs("issue", `--ca-dir=${caDir}`, "--role=agent", "--name=rotating", "--host=127.0.0.1", `--out=${join(dir, "rotating-tls")}`);
    const before = new X509Certificate(await readFile(join(dir, "rotating-tls", "node.crt"), "utf8"));
    const out = await certs("rotate", `--ca-dir=${caDir}`, `--tls-dir=${join(dir, "rotating-tls")}`);
    assert.match(out[0]!, /Rotated agent 'rotating' .*Restart the node to use it/);
    const rotated = new X509Certificate(await readFile(join(dir, "rotating-tls", "node.crt"), "utf8"));
    assert.notEqual(rotated.serialNumber, before.serialNumber);
    assert.equal(rotated.subjectAltName, before.subjectAltName, "same identity and hosts");
    await agent(await loadTls({ dir: join(dir, "rotating-tls") }), "rotating");
    await waitFor(async () => (await registered()).includes("rotating") || undefined, "the rotated agent to register");
  });
});
