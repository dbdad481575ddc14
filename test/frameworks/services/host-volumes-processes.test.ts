/**
 * Host path volumes end to end (real processes): one master, one agent with
 * `--isolation=cgroups,namespaces --allowed-host-paths=<dir>/host`, `dcos-node services`.
 * An app JSON with a RW and a RO hostPath volume is posted unchanged: its instance reads the
 * host's file and writes into the host's directory, and cannot write through the RO one. A
 * host path no agent mounts is 422 at the API; one this agent does not allow reaches the
 * agent, whose TASK_ERROR reason shows in the app's lastTaskFailure.
 */
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { masterProcessesFixture } from "../../support/master-processes.js";
import type { NodeProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";

describe("services: host path volumes (real processes)", { timeout: 240_000 }, () => {
  const fx = masterProcessesFixture("services-host-volumes-");
  let services: NodeProcess;
  let url = "";
  let hostDir = "";

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    if (process.getuid?.() !== 0) assert.fail("Host path volumes in a mount namespace need root: run the tests as root (sudo npm test)");
    hostDir = join(fx.dir(), "host");
    await mkdir(join(hostDir, "out"), { recursive: true });
    await mkdir(join(hostDir, "conf"));
    // Writable by everyone: only the RO mount can refuse the task's write.
    await writeFile(join(hostDir, "conf", "greeting"), "hello from the host\n", { mode: 0o666 });
    await chmod(join(hostDir, "conf", "greeting"), 0o666);
    await chmod(join(hostDir, "out"), 0o777);
    const masters = await fx.startMasters(1);
    await fx.startAgent("agent-1", "cpus:2;mem:1024;disk:512;ports:[33100-33150]", ["--isolation=cgroups,namespaces", `--allowed-host-paths=${hostDir}`]);
    services = fx.spawn("services", ["services", `--master=${masters.list}`, "--http-port=0", "--lease-ttl=2s"]);
    url = `http://${await services.waitForLine(/Services API listening on http:\/\/([\d.]+:\d+)/, "the services API to listen", 60_000)}`;
    await waitFor(async () => ((await api("GET", "/v2/info").catch(() => undefined))?.json?.elected ? true : undefined), "the services instance to lead", 60_000);
  });

  it("an instance sees its hostPath volumes: reads the RO one, writes into the RW one, cannot write through the RO one", async () => {
    const created = await api("POST", "/v2/apps", {
      id: "/vol/reader",
      cmd: "cat conf/greeting > out/seen && if echo x > conf/greeting; then echo writable; else echo ro-refused; fi > out/ro; exec sleep 600",
      cpus: 0.1,
      mem: 32,
      instances: 1,
      container: {
        type: "MESOS",
        volumes: [
          { containerPath: "out", hostPath: join(hostDir, "out"), mode: "RW" },
          { containerPath: "conf", hostPath: join(hostDir, "conf"), mode: "RO" },
        ],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.deepEqual(created.json.container.volumes[1], { containerPath: "conf", hostPath: join(hostDir, "conf"), mode: "RO" }, "echoed as posted");
    const seen = await waitFor(() => readFile(join(hostDir, "out", "ro"), "utf8").then((ro) => readFile(join(hostDir, "out", "seen"), "utf8").then((s) => ({ ro, s }))).catch(() => undefined), `the instance writes into the host dir\n${services.tail(20)}`, 60_000);
    assert.equal(seen.s, "hello from the host\n", "it read the host's file through the RO volume");
    assert.equal(seen.ro, "ro-refused\n", "a write through the RO volume failed");
    assert.equal(await readFile(join(hostDir, "conf", "greeting"), "utf8"), "hello from the host\n");
  });

  it("a host path no agent mounts is 422; one this agent does not allow fails with the agent's reason in lastTaskFailure", async () => {
    const refused = await api("POST", "/v2/apps", { id: "/vol/proc", cmd: "sleep 600", cpus: 0.1, mem: 32, container: { type: "MESOS", volumes: [{ containerPath: "p", hostPath: "/proc", mode: "RO" }] } });
    assert.equal(refused.status, 422, JSON.stringify(refused.json));
    assert.deepEqual(refused.json.details, [{ path: "/container/volumes(0)/hostPath", errors: ["host path '/proc' is under /proc, which is never mounted into a task"] }]);

    const created = await api("POST", "/v2/apps", { id: "/vol/etc", cmd: "sleep 600", cpus: 0.1, mem: 32, backoffSeconds: 30, container: { type: "MESOS", volumes: [{ containerPath: "etc", hostPath: "/etc", mode: "RO" }] } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const failure = await waitFor(async () => (await api("GET", "/v2/apps/vol/etc?embed=apps.lastTaskFailure")).json?.app?.lastTaskFailure, `the instance's failure\n${services.tail(20)}`, 60_000);
    assert.equal(failure.state, "TASK_ERROR");
    assert.match(failure.message, new RegExp(`host path '/etc' is not under a path this agent allows \\(--allowed-host-paths=${hostDir}\\)`));
    assert.equal((await api("DELETE", "/v2/apps/vol/etc?force=true")).status, 200, "its deployment never finishes: force");
  });
});
