/**
 * DNS on a master that requires authentication: it subscribes to the Operator event
 * stream as its principal; without a credential the master refuses it and it answers
 * nothing about the cluster.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDnsService, type RunningDns } from "../../src/discovery/dns/dns-service.js";
import { startMasterRole, type RunningMaster } from "../../src/node/master-role.js";
import { testLogger } from "../../src/runtime/log.js";
import { dig } from "../support/dig.js";
import { freePort } from "../support/master-processes.js";
import { testMasterRoleOptions } from "../support/master-role-options.js";
import { waitFor } from "../support/wait.js";

describe("DNS against a master that requires authentication", () => {
  const credential = { principal: "dcos-discovery", secret: "discovery-secret-1" };
  let dir = "";
  let master: RunningMaster;
  const running: RunningDns[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dcos-dns-auth-"));
    const port = await freePort();
    master = await startMasterRole({ ...testMasterRoleOptions([`127.0.0.1:${port}`], join(dir, "m"), port), security: { credentials: [credential], authenticate: true } });
    await waitFor(() => master.master.leading, "the master to lead", 20_000);
  });

  after(async () => {
    for (const d of running) await d.stop();
    await master.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("subscribes as its principal and answers; without a credential it is refused and knows nothing", async () => {
    const anonymous = await startDnsService({ masters: [master.address], host: "127.0.0.1", port: 0, logger: testLogger() });
    running.push(anonymous);
    const authenticated = await startDnsService({ masters: [master.address], host: "127.0.0.1", port: 0, logger: testLogger(), credential });
    running.push(authenticated);
    await waitFor(() => authenticated.follower.connectedTo, "the authenticated DNS to follow the master");
    assert.deepEqual((await dig(authenticated.port, "leader.dcos")).answers.map((r) => r.data), ["127.0.0.1"]);
    const refusal = await waitFor(() => anonymous.follower.lastError, "the anonymous subscription to be refused");
    assert.match(refusal, /authenticat/i);
    assert.equal(anonymous.follower.subscriptions, 0, "the anonymous one was never subscribed");
    assert.deepEqual((await dig(anonymous.port, "leader.dcos")).answers, []);
  });
});
