import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Code } from "../../src/runtime/error.js";
import { isAlive } from "../../src/isolation/proc.js";
import { TRASH_DIR } from "../../src/isolation/runtime-trash.js";
import { waitFor } from "../support/wait.js";
import { config, containerizer, isGone, rejectsWith, requireRoot, setup, useLauncher, waitForOutput } from "./support.js";

// Every case with the warm launcher forking the wrappers (the default), then with the agent forking them itself.
for (const launcher of ["warm", "inline"] as const) describe(`PosixContainerizer (${launcher} launcher)`, () => {
  before(() => useLauncher(launcher));
  it("runs a command and reports its exit code", async () => {
    const { c, sandbox } = await setup();
    const state = await c.launch(config(sandbox, "exit 3"));
    assert.equal(state.containerizer, "posix");
    assert.ok(state.pid > 0 && state.startTime > 0);
    const t = await c.wait(state.id);
    assert.equal(t.exitCode, 3);
    assert.equal(t.signal, null);
    assert.equal(t.reason, undefined);
    assert.equal(t.message, "Command exited with status 3");
    assert.deepEqual(c.containers(), []);
    assert.deepEqual(await c.wait(state.id), t, "wait after the end gives the same termination");
  });

  it("takes an ended container's runtime directory away once its end is known; a new containerizer on the same root finds no orphan", async () => {
    const { c, root, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "true"));
    assert.ok(existsSync(join(root, id, "state.json")));
    await c.wait(id);
    assert.equal(existsSync(join(root, id)), false, "renamed into the trash when the end was reported");
    await waitFor(() => readdirSync(join(root, TRASH_DIR)).length === 0, "the trash to be emptied in the background");
    const again = containerizer(root);
    assert.deepEqual(await again.recover([]), { recovered: [], orphans: [] });
  });

  it("replaces a leftover runtime directory of the new container's id (an agent killed during its launch) with an empty one", async () => {
    const { c, root, sandbox } = await setup();
    const cfg = config(sandbox, "true");
    mkdirSync(join(root, cfg.id));
    writeFileSync(join(root, cfg.id, "left-over"), "x");
    await c.launch(cfg);
    assert.equal(existsSync(join(root, cfg.id, "left-over")), false, "what was there is gone");
    assert.equal(statSync(join(root, cfg.id)).mode & 0o777, 0o700);
    await c.wait(cfg.id);
  });

  it("reports the signal that ended the command", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, ["/bin/sh", "-c", "kill -USR1 $$"]));
    const t = await c.wait(id);
    assert.equal(t.signal, "SIGUSR1");
    assert.equal(t.exitCode, null);
    assert.match(t.message, /signal SIGUSR1/);
  });

  it("appends stdout and stderr to files in the sandbox, running in the sandbox", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "echo out; echo err >&2; pwd"));
    await c.wait(id);
    assert.equal(await readFile(join(sandbox, "stdout"), "utf8"), `out\n${sandbox}\n`);
    assert.equal(await readFile(join(sandbox, "stderr"), "utf8"), "err\n");
    const again = await c.launch(config(sandbox, "echo second"));
    await c.wait(again.id);
    assert.equal(await readFile(join(sandbox, "stdout"), "utf8"), `out\n${sandbox}\nsecond\n`, "output is appended");
  });

  it("gives the task its ports and environment, not the agent's", async () => {
    const { c, sandbox } = await setup();
    process.env.DCOS_AGENT_SECRET = "agent-only";
    const cfg = config(sandbox, 'echo "$PORT0 $PORT1 $PORT $PORTS $GREETING ${DCOS_AGENT_SECRET:-none} $DCOS_CONTAINER_ID"', {
      env: { GREETING: "hello" },
      resources: { ports: [31000, 31005] },
    });
    const state = await c.launch(cfg);
    assert.deepEqual(state.ports, [31000, 31005]);
    await c.wait(cfg.id);
    delete process.env.DCOS_AGENT_SECRET;
    assert.equal(await readFile(join(sandbox, "stdout"), "utf8"), `31000 31005 31000 31000,31005 hello none ${cfg.id}\n`);
  });

  it("destroys with SIGTERM a command that stops when asked", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, ["sleep", "60"]));
    const t = await c.destroy(id, 5_000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.signal, "SIGTERM");
    assert.deepEqual(await c.destroy(id, 5_000), t, "destroy is idempotent");
  });

  it("kills with SIGKILL after the grace period a command that ignores SIGTERM", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "trap 'echo got TERM >&2' TERM; echo ready; while :; do sleep 0.05; done"));
    await waitForOutput(sandbox, "ready");
    // The grace leaves the shell time to run its trap on a loaded machine (CI at load 19 once
    // had it killed within 300 ms before it was scheduled); it is waited out in full either way.
    const t = await c.destroy(id, 2_000);
    assert.equal(t.reason, "destroyed");
    assert.equal(t.signal, "SIGKILL");
    assert.match(await readFile(join(sandbox, "stderr"), "utf8"), /got TERM/);
  });

  it("kills what the command left running in the background when it exits", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "sleep 60 & echo $! > bg.pid; exit 0"));
    const t = await c.wait(id);
    assert.equal(t.exitCode, 0);
    const bg = Number(await readFile(join(sandbox, "bg.pid"), "utf8"));
    assert.ok(await isGone(bg), `background process ${bg} must be gone`);
  });

  it("measures CPU time, memory and processes from /proc", async () => {
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "sleep 60 & while :; do :; done"));
    const u = await waitFor(async () => {
      const usage = await c.usage(id);
      return usage.cpuUserSeconds + usage.cpuSystemSeconds >= 0.2 ? usage : undefined;
    }, "the busy loop to use 0.2 s of CPU");
    assert.equal(u.containerId, id);
    assert.ok(u.processes >= 3, `recorder, shell and sleep; got ${u.processes}`);
    assert.ok(u.threads >= u.processes);
    assert.ok(u.memRssBytes > 0);
    await c.destroy(id, 0);
    await rejectsWith(c.usage(id), Code.NOT_FOUND, /Unknown container/);
  });

  it("finds a running container again in a fresh containerizer after a restart", async () => {
    const { c, root, sandbox } = await setup();
    const state = await c.launch(config(sandbox, "echo started; sleep 60"));
    await waitForOutput(sandbox, "started");
    c.detach();
    assert.ok(await isAlive(state.pid, state.startTime), "detach leaves the container running");
    assert.deepEqual(c.containers(), [], "a detached containerizer forgets its containers");
    const fresh = containerizer(root);
    const result = await fresh.recover([state]);
    assert.deepEqual(result, { recovered: [state.id], orphans: [] });
    assert.deepEqual(fresh.containers(), [state.id]);
    assert.ok((await fresh.usage(state.id)).processes >= 2);
    const t = await fresh.destroy(state.id, 5_000);
    assert.equal(t.reason, "destroyed");
    assert.ok(await isGone(state.pid));
  });

  it("learns after a restart how a container ended while the agent was down", async () => {
    const { c, root, sandbox } = await setup();
    const state = await c.launch(config(sandbox, "read never_written < /dev/null; sleep 0.2; exit 7"));
    c.detach();
    await waitFor(async () => !(await isAlive(state.pid, state.startTime)), "the container to end while detached");
    const fresh = containerizer(root);
    assert.deepEqual((await fresh.recover([state])).recovered, [state.id]);
    const t = await fresh.wait(state.id);
    assert.equal(t.exitCode, 7);
    assert.equal(t.reason, undefined);
  });

  it("reports a container that ended without a recorded status as status unknown", async () => {
    const { c, root, sandbox } = await setup();
    const state = await c.launch(config(sandbox, "sleep 60"));
    c.detach();
    process.kill(state.pid, "SIGKILL"); // the launcher itself dies: nothing records the status
    await waitFor(async () => !(await isAlive(state.pid, state.startTime)), "the launcher to die");
    const fresh = containerizer(root);
    await fresh.recover([state]);
    const t = await fresh.wait(state.id);
    assert.equal(t.reason, "status unknown");
  });

  it("reports containers in its runtime directory that the agent did not checkpoint as orphans", async () => {
    const { c, root, sandbox } = await setup();
    const state = await c.launch(config(sandbox, "sleep 60"));
    c.detach();
    const fresh = containerizer(root);
    assert.deepEqual(await fresh.recover([]), { recovered: [], orphans: [state.id] });
    assert.equal((await fresh.destroy(state.id, 0)).reason, "destroyed");
  });

  it("answers NOT_FOUND for an unknown container", async () => {
    const { c } = await setup();
    await rejectsWith(c.wait("nope"), Code.NOT_FOUND, /Unknown container 'nope'/);
    await rejectsWith(c.destroy("nope", 0), Code.NOT_FOUND, /Unknown container 'nope'/);
    await rejectsWith(c.usage("nope"), Code.NOT_FOUND, /Unknown container 'nope'/);
    assert.equal(c.state("nope"), undefined);
  });

  it("refuses a bad config with INVALID_ARGUMENT saying what is wrong", async () => {
    const { c, sandbox } = await setup();
    await rejectsWith(c.launch(config(sandbox, "true", { id: "../etc" })), Code.INVALID_ARGUMENT, /Invalid container id/);
    await rejectsWith(c.launch(config(sandbox, "  ")), Code.INVALID_ARGUMENT, /shell command must be non-empty/);
    await rejectsWith(c.launch(config(sandbox, [])), Code.INVALID_ARGUMENT, /argv must be a non-empty list/);
    await rejectsWith(c.launch(config("relative/dir", "true")), Code.INVALID_ARGUMENT, /sandbox must be an absolute path/);
    await rejectsWith(c.launch(config(join(sandbox, "missing"), "true")), Code.INVALID_ARGUMENT, /is not an existing directory/);
    await rejectsWith(c.launch(config(sandbox, "true", { resources: { ports: [70000] } })), Code.INVALID_ARGUMENT, /Invalid port 70000/);
    await rejectsWith(c.launch(config(sandbox, "true", { resources: { memMb: -1 } })), Code.INVALID_ARGUMENT, /memMb must be a non-negative/);
    await rejectsWith(c.launch(config(sandbox, "true", { env: { "BAD-NAME": "x" } })), Code.INVALID_ARGUMENT, /Invalid environment variable/);
    await rejectsWith(c.launch(config(sandbox, "true", { user: "no-such-user-here" })), Code.FAILED_PRECONDITION, /no such user/);
    assert.deepEqual(c.containers(), [], "nothing is left of refused launches");
  });

  it("refuses a second container with the same id", async () => {
    const { c, sandbox } = await setup();
    const cfg = config(sandbox, "sleep 60");
    await c.launch(cfg);
    await rejectsWith(c.launch(cfg), Code.ALREADY_EXISTS, /already exists/);
    await c.destroy(cfg.id, 0);
  });

  it("runs the command as the given user when the agent is root", async () => {
    requireRoot("Running a task as another user");
    const { c, sandbox } = await setup();
    const { id } = await c.launch(config(sandbox, "id -u; id -g; echo $USER; touch mine", { user: "nobody" }));
    const term = await c.wait(id);
    assert.equal(term.exitCode, 0, await readFile(join(sandbox, "stderr"), "utf8"));
    const [uid, gid, name] = (await readFile(join(sandbox, "stdout"), "utf8")).trim().split("\n");
    assert.equal(uid, "65534");
    assert.equal(gid, "65534");
    assert.equal(name, "nobody");
  });
});
