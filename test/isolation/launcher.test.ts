/**
 * The warm launcher (launcher-server.ts, launcher-client.ts) with real processes: its frame
 * protocol refuses bad input without crashing, its crash (kill -9) is detected, counted and
 * survived by the containers it started (their ends reported with the recorder's status),
 * and when the agent stays away for the recovery timeout it kills its containers with
 * their kill grace so that an agent that comes back reports how they ended. Its pre-forked
 * gates (launcher-gates.ts) run the same command as a wrapper forked on demand, are dropped
 * when they die unused, and leave nothing behind when the launcher exits or is killed.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { testLogger } from "../../src/runtime/log.js";
import { encodeFrame, FrameError, FrameReader, MAX_FRAME_BYTES, parseToLauncher, type FromLauncher } from "../../src/isolation/launcher-protocol.js";
import type { Isolator } from "../../src/isolation/isolator.js";
import { PosixContainerizer } from "../../src/isolation/posix.js";
import { POOLED_GATE_SCRIPT, RECORDER_SCRIPT } from "../../src/isolation/launcher.js";
import { waitFor } from "../support/wait.js";
import { launcherPid, launcherSocket, waitingGates } from "../support/warm-launcher.js";
import { config, isGone, sandboxFile, tempDir, waitForOutput, waitForPid } from "./support.js";

async function warm(root: string, extra: { recoveryTimeoutMs?: number; metrics?: Metrics; launcherGates?: number } = {}): Promise<PosixContainerizer> {
  return new PosixContainerizer({ runtimeRoot: root, logger: testLogger(), pollIntervalMs: 20, launcher: "warm", ...extra });
}

/** A raw connection to the launcher, collecting what it answers. */
async function raw(socket: string): Promise<{ s: Socket; got: FromLauncher[]; closed: Promise<void> }> {
  const s = connect(socket);
  await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
  const got: FromLauncher[] = [];
  const reader = new FrameReader();
  s.on("data", (d: Buffer) => got.push(...(reader.push(d) as FromLauncher[])));
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  return { s, got, closed };
}

describe("the launcher's frames", () => {
  it("cuts frames split across chunks and refuses oversized or non-JSON ones", () => {
    const a = encodeFrame({ op: "go", id: "a" });
    const b = encodeFrame({ op: "forget", id: "b" });
    const both = Buffer.concat([a, b]);
    const r = new FrameReader();
    assert.deepEqual(r.push(both.subarray(0, 3)), []);
    assert.deepEqual(r.push(both.subarray(3, a.length + 2)), [{ op: "go", id: "a" }]);
    assert.deepEqual(r.push(both.subarray(a.length + 2)), [{ op: "forget", id: "b" }]);
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    assert.throws(() => new FrameReader().push(big), /over the 1048576-byte limit/);
    const junk = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from("{{{")]);
    assert.throws(() => new FrameReader().push(junk), FrameError);
  });

  it("says what is wrong with a message", () => {
    assert.throws(() => parseToLauncher([]), /must be a JSON object/);
    assert.throws(() => parseToLauncher({ op: "fork" }), /Unknown message op "fork"/);
    assert.throws(() => parseToLauncher({ op: "go" }), /Invalid go message: id must be a non-empty string/);
    assert.throws(() => parseToLauncher({ op: "spawn", id: "x", args: ["-c", "true"], cwd: "rel", stdout: "/o", stderr: "/e", runtimeDir: "/r", env: {}, killGraceMs: 0, procsFiles: [] }), /cwd must be an absolute path/);
    assert.throws(() => parseToLauncher({ op: "spawn", id: "x", args: ["-c"], cwd: "/", stdout: "/o", stderr: "/e", runtimeDir: "/r", env: { A: 1 }, killGraceMs: 0, procsFiles: [] }), /env must be an object of strings/);
    assert.throws(() => parseToLauncher({ op: "hello", recoveryTimeoutMs: -1 }), /recoveryTimeoutMs/);
  });
});

describe("the warm launcher (real processes)", () => {
  it("answers bad frames with an error and keeps serving and supervising", async () => {
    const root = await tempDir("launcher-frames");
    const sandbox = await tempDir("sandbox");
    const c = await warm(root);
    await c.recover([]);
    const socket = launcherSocket(root);
    const pid = await launcherPid(socket);
    assert.ok(pid, "the launcher runs");
    const { id } = await c.launch(config(sandbox, "echo up; sleep 600"));
    await waitForOutput(sandbox, "up");
    const state = c.state(id)!;
    // The agent goes away first: a connection that replaces an attached agent's has that agent
    // reconnect (it takes it for a crash), and its new connection could replace the raw one before its frame is read.
    c.detach();

    for (const bad of [
      (() => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(0xffffffff, 0);
        return b;
      })(),
      Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from("nope!")]),
      encodeFrame({ op: "spawn", id: "" } as never),
    ]) {
      const r = await raw(socket);
      r.s.write(bad);
      await r.closed;
      const error = r.got.find((m) => m.op === "error");
      assert.ok(error && error.op === "error" && error.message.length > 0, `an error frame: ${JSON.stringify(r.got)}`);
    }
    assert.ok(!(await isGone(pid)), "the launcher still runs");
    // The agent's container is still supervised.
    const again = await warm(root);
    const found = await again.recover([state]);
    assert.deepEqual(found.recovered, [id]);
    const t = await again.destroy(id, 0);
    assert.equal(t.reason, "destroyed");
    again.detach();
  });

  it("is restarted after a kill -9, which is counted; its containers' ends are still reported with their real status", async () => {
    const root = await tempDir("launcher-crash");
    const sandbox = await tempDir("sandbox");
    const metrics = new Metrics();
    const c = await warm(root, { metrics });
    const socket = launcherSocket(root);
    const long = await c.launch(config(sandbox, "echo $$ > long.pid; exec sleep 600"));
    // Its PATH has no mv: the recorder writes the status itself (it once went through `mv`, and was lost).
    const ends = await c.launch(config(sandbox, "echo $$ > ends.pid; while [ ! -e go ]; do /bin/sleep 0.02; done; exit 7", { env: { PATH: "/nonexistent" } }));
    await waitForPid(sandbox, "long.pid");
    await waitForPid(sandbox, "ends.pid");
    const first = await launcherPid(socket);
    assert.ok(first);
    process.kill(first, "SIGKILL");
    await waitFor(() => isGone(first), "the launcher to die");
    // While the agent learns of it, one container ends.
    await writeFile(join(sandbox, "go"), "");
    const t = await c.wait(ends.id);
    assert.equal(t.exitCode, 7, t.message);
    assert.equal(t.message, "Command exited with status 7");
    assert.equal(metrics.snapshot()["slave/launcher_crashes"], 1);
    const second = await waitFor(() => launcherPid(socket), "a new launcher");
    assert.notEqual(second, first);
    // The long task kept running, and is still watched: its end is seen.
    assert.ok(c.containers().includes(long.id));
    const killed = await c.destroy(long.id, 1_000);
    assert.equal(killed.reason, "destroyed");
    assert.equal(killed.signal, "SIGTERM", killed.message);
    // New launches go through the new launcher.
    const next = await c.launch(config(sandbox, "exit 4"));
    assert.equal((await c.wait(next.id)).exitCode, 4);
    c.detach();
  });

  it("kills its containers with their kill grace when the agent stays away for the recovery timeout; a returning agent reports how they ended", async () => {
    const root = await tempDir("launcher-timeout");
    const sandbox = await tempDir("sandbox");
    const c = await warm(root, { recoveryTimeoutMs: 1_000 });
    const socket = launcherSocket(root);
    // One ends on SIGTERM after cleaning up; one ignores SIGTERM and is SIGKILLed after the grace.
    const polite = await c.launch(config(sandbox, "trap 'echo bye; exit 3' TERM; echo $$ > polite.pid; while :; do sleep 0.02; done", { killGracePeriodMs: 5_000 }));
    const stubborn = await c.launch(config(sandbox, "trap '' TERM; echo $$ > stubborn.pid; while :; do sleep 0.02; done", { killGracePeriodMs: 500 }));
    // No grace at all: SIGKILL at once, still a destroy (the marker says so), not a SIGKILL from nowhere.
    const graceless = await c.launch(config(sandbox, "echo $$ > graceless.pid; while :; do sleep 0.02; done", { killGracePeriodMs: 0 }));
    const politePid = await waitForPid(sandbox, "polite.pid");
    const stubbornPid = await waitForPid(sandbox, "stubborn.pid");
    const gracelessPid = await waitForPid(sandbox, "graceless.pid");
    const launcher = await launcherPid(socket);
    assert.ok(launcher);
    const states = [c.state(polite.id)!, c.state(stubborn.id)!, c.state(graceless.id)!];
    c.detach(); // the agent goes away and does not come back within 1 s
    await waitFor(async () => (await isGone(politePid)) && (await isGone(stubbornPid)) && (await isGone(gracelessPid)), "the launcher to kill the three tasks", 15_000);
    await waitFor(() => isGone(launcher), "the launcher to exit", 15_000);
    assert.match(await readFile(join(sandbox, "stdout"), "utf8"), /bye/, "the polite task had its SIGTERM");

    const back = await warm(root, { recoveryTimeoutMs: 1_000 });
    const found = await back.recover(states);
    assert.deepEqual(found.recovered.sort(), [polite.id, stubborn.id, graceless.id].sort());
    const p = await back.wait(polite.id);
    assert.equal(p.reason, "destroyed");
    assert.equal(p.exitCode, 3, p.message);
    const s = await back.wait(stubborn.id);
    assert.equal(s.reason, "destroyed");
    assert.equal(s.signal, "SIGKILL", s.message);
    const g = await back.wait(graceless.id);
    assert.equal(g.reason, "destroyed", g.message);
    assert.equal(g.signal, "SIGKILL", g.message);
    back.detach();
  });
});

/** The launcher of a containerizer that recovered, with `n` gates waiting. */
async function withGates(root: string, n: number): Promise<{ c: PosixContainerizer; launcher: number; gates: number[] }> {
  const c = await warm(root, { launcherGates: n });
  await c.recover([]);
  const launcher = await waitFor(() => launcherPid(launcherSocket(root)), "the launcher");
  const gates = await waitFor(async () => {
    const g = await waitingGates(launcher);
    return g.length === n && c.gatesKnown() === n ? g : undefined;
  }, `${n} gates waiting, and announced to the agent`);
  return { c, launcher, gates };
}

describe("the warm launcher's pre-forked gates (real processes)", () => {
  it("gives a launch a gate forked ahead of need, whose command sees what a wrapper forked by the agent gives it; an environment a shell interprets is forked on demand", async () => {
    const root = await tempDir("gates-same");
    const { c, launcher, gates } = await withGates(root, 3);
    const onDemand = await warm(await tempDir("gates-none"), { launcherGates: 0 });
    // The reference: the agent forks the wrapper itself (the gate execs the recorder, a second /bin/sh).
    const inline = new PosixContainerizer({ runtimeRoot: await tempDir("gates-inline"), logger: testLogger(), pollIntervalMs: 20, launcher: "inline" });
    const script = 'env | sort > env.txt; printf %s "$LINES" > lines.txt; pwd > pwd.txt; echo out; echo err >&2; exit 3';
    const env = { QUOTED: "it's \"here\" $HOME `x`", LINES: "one\ntwo", EMPTY: "" };
    const outputs: string[] = [];
    for (const [cz, gated] of [[inline, false], [c, true], [onDemand, false]] as const) {
      const sandbox = await tempDir("sandbox");
      const s = await cz.launch(config(sandbox, script, { env }));
      assert.equal(gates.includes(s.pid), gated, `pid ${s.pid}, gates ${gates.join(",")}`);
      const t = await cz.wait(s.id);
      assert.equal(t.exitCode, 3, t.message);
      assert.equal(await sandboxFile(sandbox, "stdout"), "out\n");
      assert.equal(await sandboxFile(sandbox, "stderr"), "err\n");
      assert.equal((await sandboxFile(sandbox, "pwd.txt")).trim(), sandbox);
      assert.equal(await sandboxFile(sandbox, "lines.txt"), "one\ntwo");
      outputs.push((await sandboxFile(sandbox, "env.txt")).replaceAll(sandbox, "<sandbox>").replaceAll(s.id, "<id>"));
    }
    assert.match(outputs[0]!, /^QUOTED=it's "here" \$HOME `x`$/m);
    assert.equal(outputs[1], outputs[0], "a pooled gate: the same environment as the agent's own wrapper");
    assert.equal(outputs[2], outputs[0], "a gate forked on demand: the same environment as the agent's own wrapper");
    // IFS is the shell's own: not given to a gate, the wrapper is forked with it in its environment.
    const sandbox = await tempDir("sandbox");
    const left = await waitingGates(launcher);
    const s = await c.launch(config(sandbox, "exit 0", { env: { IFS: ":" } }));
    assert.ok(!left.includes(s.pid), "forked on demand");
    assert.equal((await c.wait(s.id)).exitCode, 0);
    c.detach();
    onDemand.detach();
    inline.detach();
  });

  it("runs the recorder in the gate itself when no isolator's prefix comes between (one /bin/sh per wrapper, pooled or forked on demand); the status and the signal are still exact", async () => {
    const { c, gates } = await withGates(await tempDir("gates-recorder"), 2);
    const onDemand = await warm(await tempDir("gates-recorder-none"), { launcherGates: 0 });
    for (const [cz, gated] of [[c, true], [onDemand, false]] as const) {
      const sandbox = await tempDir("sandbox");
      const s = await cz.launch(config(sandbox, "echo $PPID > parent.pid; exec sleep 600"));
      assert.equal(gates.includes(s.pid), gated);
      const parent = Number(await waitForPid(sandbox, "parent.pid"));
      // The command's parent is the wrapper, and the wrapper is still the gate's shell: no second /bin/sh was exec'd.
      assert.equal(parent, s.pid);
      const cmdline = (await readFile(`/proc/${s.pid}/cmdline`, "utf8")).split("\0");
      assert.ok(cmdline.includes(POOLED_GATE_SCRIPT), `the wrapper runs ${JSON.stringify(cmdline.slice(0, 3))}`);
      assert.ok(!cmdline.includes(RECORDER_SCRIPT));
      const t = await cz.destroy(s.id, 1_000);
      assert.equal(t.signal, "SIGTERM", t.message);
      const sandbox2 = await tempDir("sandbox");
      const e = await cz.launch(config(sandbox2, "exit 9"));
      assert.equal((await cz.wait(e.id)).exitCode, 9);
      const k = await cz.launch(config(sandbox2, "kill -USR1 $$"));
      assert.equal((await cz.wait(k.id)).signal, "SIGUSR1");
    }
    c.detach();
    onDemand.detach();
  });

  it("drops a gate that died before it was used; launches still run their command", async () => {
    const root = await tempDir("gates-dead");
    const { c, launcher, gates } = await withGates(root, 2);
    for (const pid of gates) process.kill(pid, "SIGKILL");
    await waitFor(async () => (await Promise.all(gates.map(isGone))).every(Boolean), "the gates to die (zombies or reaped)");
    const sandbox = await tempDir("sandbox");
    const first = await c.launch(config(sandbox, "exit 5"));
    assert.ok(!gates.includes(first.pid), "not a dead gate");
    assert.equal((await c.wait(first.id)).exitCode, 5);
    // The pool fills again; one of the new gates dies, the launch takes the other.
    const [dead, alive] = await waitFor(async () => {
      const g = await waitingGates(launcher);
      return g.length === 2 && c.gatesKnown() === 2 ? g : undefined;
    }, "two new gates, announced");
    process.kill(dead!, "SIGKILL");
    await waitFor(() => isGone(dead!), "the gate to die");
    const second = await c.launch(config(sandbox, "exit 6"));
    assert.equal(second.pid, alive);
    assert.equal((await c.wait(second.id)).exitCode, 6);
    c.detach();
  });

  it("reports the launch failed (the command never ran) when the gate the agent took died before the launcher got the container", async () => {
    const root = await tempDir("gates-lost");
    // An isolator that kills the gate while it is being placed: the agent has taken it, the launcher has not yet been asked.
    const killer: Isolator = {
      name: "gate-killer",
      prepare: async () => undefined,
      isolate: async (_id, pid) => {
        process.kill(pid, "SIGKILL");
        await waitFor(() => isGone(pid), "the gate to die");
      },
      recover: async () => undefined,
      cleanup: async () => undefined,
    };
    const c = new PosixContainerizer({ runtimeRoot: root, logger: testLogger(), pollIntervalMs: 20, launcher: "warm", launcherGates: 1, isolators: [killer] });
    await c.recover([]);
    await waitFor(() => c.gatesKnown() === 1 || undefined, "a gate announced");
    const sandbox = await tempDir("sandbox");
    const s = await c.launch(config(sandbox, "touch ran; exit 0"));
    const t = await c.wait(s.id);
    assert.equal(t.reason, "launch failed", t.message);
    assert.match(t.message, /pre-forked gate \d+ died before it was used/);
    assert.equal(await sandboxFile(sandbox, "ran").catch(() => "absent"), "absent", "the command never ran");
    c.detach();
  });

  it("leaves no gate behind when the launcher exits idle or is killed -9", async () => {
    const idle = await withGates(await tempDir("gates-idle"), 3);
    idle.c.detach(); // no agent, no container: the launcher exits, its gates read end-of-file
    await waitFor(async () => (await isGone(idle.launcher)) && (await Promise.all(idle.gates.map(isGone))).every(Boolean), "the launcher and its gates to exit", 15_000);

    const root = await tempDir("gates-crash");
    const { c, launcher } = await withGates(root, 3);
    const sandbox = await tempDir("sandbox");
    const long = await c.launch(config(sandbox, "echo $$ > long.pid; exec sleep 600"));
    await waitForPid(sandbox, "long.pid");
    const waiting = await waitFor(async () => {
      const g = await waitingGates(launcher);
      return g.length === 3 ? g : undefined;
    }, "the pool refilled");
    process.kill(launcher, "SIGKILL");
    await waitFor(async () => (await Promise.all(waiting.map(isGone))).every(Boolean), "the orphaned gates to exit", 15_000);
    // The container the killed launcher started is still watched (through /proc now).
    assert.equal((await c.destroy(long.id, 1_000)).signal, "SIGTERM");
    c.detach();
  });
});
