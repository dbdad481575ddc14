import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { Command } from "commander";
import { TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { nameFromCommand, RunExit, runCommand, runSubcommand, type RunOptions } from "../../src/cli/run.js";
import { rangesResource, scalarResource } from "../../src/resources/resource.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { FakeSchedulerServer, type EventInit, type FakeStream } from "../support/fake-scheduler-server.js";
import { startCapturedRun } from "../support/captured-run.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(99);

interface Run {
  fake: FakeSchedulerServer;
  clock: ManualClock;
  out: string[];
  err: string[];
  abort: AbortController;
  exit: Promise<number>;
  stream: FakeStream;
}

async function startRun(t: TestContext, options: Partial<RunOptions> = {}): Promise<Run> {
  const fake = await FakeSchedulerServer.start();
  t.after(() => fake.stop());
  const clock = new ManualClock();
  const run = await startCapturedRun(fake.address, clock, SEED, options);
  return { fake, clock, stream: await fake.stream(1), ...run };
}

function offer(id: string, agent: string, ...resources: Resource[]): EventInit {
  return { kind: { case: "offers", value: { offers: [{ id: { value: id }, agentId: { value: agent }, hostname: `${agent}.example`, resources }] } } };
}

const big = (id: string): EventInit => offer(id, "a-1", scalarResource("cpus", 2), scalarResource("mem", 1024), rangesResource("ports", [{ begin: 31000, end: 31100 }]));
const small = (id: string): EventInit => offer(id, "a-2", scalarResource("cpus", 0.1), scalarResource("mem", 1024));

interface StatusInit {
  state: TaskState;
  message?: string;
  reason?: TaskStatus_Reason;
  uuid?: number;
  sandbox?: string;
}

function status(taskId: string, s: StatusInit): EventInit {
  return {
    kind: {
      case: "update",
      value: {
        status: {
          taskId: { value: taskId },
          agentId: { value: "a-1" },
          state: s.state,
          message: s.message ?? "",
          reason: s.reason ?? TaskStatus_Reason.UNSPECIFIED,
          source: TaskStatus_Source.EXECUTOR,
          timestamp: 1_700_000_000 + (s.uuid ?? 0),
          uuid: s.uuid === undefined ? new Uint8Array() : new Uint8Array([s.uuid]),
          sandboxDirectory: s.sandbox ?? "",
        },
      },
    },
  };
}

/** Offers a fitting agent and returns the id of the task the run launched there. */
async function launched(run: Run): Promise<string> {
  run.stream.send(big("o-1"));
  const [accept] = await run.fake.waitForCalls("accept", 1);
  const request = accept!.request as { offerIds: { value: string }[]; operations: { kind: { case: string; value: { taskInfos: { taskId: { value: string } }[] } } }[] };
  assert.deepEqual(request.offerIds.map((o) => o.value), ["o-1"]);
  assert.equal(request.operations[0]!.kind.case, "launch");
  return request.operations[0]!.kind.value.taskInfos[0]!.taskId.value;
}

describe("dcos-node run against a scripted master", () => {
  it("launches on a fitting offer, prints each state and the sandbox, acknowledges, tears down, exits 0 on TASK_FINISHED", async (t) => {
    const run = await startRun(t);
    const taskId = await launched(run);
    run.stream.send(status(taskId, { state: TaskState.STARTING, uuid: 1, sandbox: "/var/lib/dcos/agents/a-1/frameworks/fw-1/executors/x/runs/c-1" }));
    run.stream.send(status(taskId, { state: TaskState.RUNNING, uuid: 2 }));
    run.stream.send(status(taskId, { state: TaskState.RUNNING })); // a reconciliation answer: not printed again
    run.stream.send(status(taskId, { state: TaskState.FINISHED, uuid: 3, message: "Command exited with status 0" }));
    assert.equal(await run.exit, RunExit.FINISHED);
    const states = run.out.filter((l) => /TASK_/.test(l)).map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(states, ["TASK_STARTING (SOURCE_EXECUTOR)", "TASK_RUNNING (SOURCE_EXECUTOR)", "TASK_FINISHED: Command exited with status 0 (SOURCE_EXECUTOR)"]);
    assert.ok(run.out.includes("Sandbox: a-1.example:/var/lib/dcos/agents/a-1/frameworks/fw-1/executors/x/runs/c-1 (stdout, stderr)"), run.out.join("\n"));
    assert.match(run.out.find((l) => l.startsWith("Launching"))!, /on agent a-1 \(a-1\.example\) with cpus:0\.5; mem:64/);
    // The driver coalesces acknowledgements of one turn into AcknowledgeBatch; a lone one is a plain Acknowledge.
    const ackedUuids = (): number[][] =>
      run.fake.calls.flatMap((c) =>
        c.method === "acknowledge"
          ? [[...(c.request.uuid as Uint8Array)]]
          : c.method === "acknowledgeBatch"
            ? ((c.request.acknowledgements ?? []) as { uuid: Uint8Array }[]).map((a) => [...a.uuid])
            : [],
      );
    await waitFor(() => ackedUuids().length >= 3, "3 acknowledgements on the fake master");
    assert.deepEqual(ackedUuids(), [[1], [2], [3]]);
    assert.equal(run.fake.callsOf("teardown").length, 1);
    assert.equal(run.fake.callsOf("suppress").length, 1, "no more offers wanted once launched");
    const task = (run.fake.callsOf("accept")[0]!.request.operations as { kind: { value: { taskInfos: { command: { value: string; shell: boolean } }[] } } }[])[0]!.kind.value.taskInfos[0]!;
    assert.equal(task.command.value, "echo hello");
    assert.equal(task.command.shell, true);
    assert.deepEqual(run.err, []);
  });

  it("exits non-zero with the reason when the task fails", async (t) => {
    const run = await startRun(t);
    const taskId = await launched(run);
    run.stream.send(status(taskId, { state: TaskState.RUNNING, uuid: 1 }));
    run.stream.send(status(taskId, { state: TaskState.FAILED, uuid: 2, message: "Command exited with status 3", reason: TaskStatus_Reason.COMMAND_EXECUTOR_FAILED }));
    assert.equal(await run.exit, RunExit.TASK_FAILED);
    assert.deepEqual(run.err, [`Task ${taskId} ended TASK_FAILED: Command exited with status 3 (SOURCE_EXECUTOR, REASON_COMMAND_EXECUTOR_FAILED)`]);
    assert.equal(run.fake.callsOf("teardown").length, 1);
  });

  it("declines offers that do not fit with a refuse filter, and gives up at --timeout with exit 3", async (t) => {
    const run = await startRun(t, { timeoutSeconds: 60 });
    run.stream.send(small("o-1"));
    run.stream.send(small("o-2"));
    const declines = await run.fake.waitForCalls("decline", 2);
    for (const d of declines) assert.equal((d.request.filters as { refuseSeconds?: number }).refuseSeconds, 30);
    assert.deepEqual(declines.map((d) => (d.request.offerIds as { value: string }[])[0]!.value), ["o-1", "o-2"]);
    assert.equal(run.fake.callsOf("accept").length, 0);
    await run.clock.advance(60_000);
    assert.equal(await run.exit, RunExit.NOT_LAUNCHED);
    assert.match(run.err.at(-1)!, /^No offer fit cpus=0\.5, mem=64 for role \* within 60 s \(declined 2 offer\(s\)\)$/);
    assert.equal(run.fake.callsOf("teardown").length, 1);
  });

  it("declines further offers for a long time once the task is launched", async (t) => {
    const run = await startRun(t);
    const taskId = await launched(run);
    run.stream.send(big("o-2"));
    const [decline] = await run.fake.waitForCalls("decline", 1);
    assert.equal((decline!.request.filters as { refuseSeconds?: number }).refuseSeconds, 3600);
    run.stream.send(status(taskId, { state: TaskState.FINISHED, uuid: 1 }));
    assert.equal(await run.exit, RunExit.FINISHED);
    assert.equal(run.fake.callsOf("accept").length, 1);
  });

  it("on Ctrl-C kills the task, waits for its end, then tears down and exits 130", async (t) => {
    const run = await startRun(t);
    const taskId = await launched(run);
    run.stream.send(status(taskId, { state: TaskState.RUNNING, uuid: 1 }));
    await waitFor(() => run.out.some((l) => /TASK_RUNNING/.test(l)), "TASK_RUNNING to be shown");
    run.abort.abort();
    const [kill] = await run.fake.waitForCalls("kill", 1);
    assert.equal((kill!.request.taskId as { value: string }).value, taskId);
    assert.equal(run.fake.callsOf("teardown").length, 0, "no teardown before the task ended");
    run.stream.send(status(taskId, { state: TaskState.KILLED, uuid: 2 }));
    assert.equal(await run.exit, RunExit.INTERRUPTED);
    assert.equal(run.err[0], `Interrupted; killing task ${taskId}`);
    assert.equal(run.fake.callsOf("teardown").length, 1);
  });

  it("with no signal given, SIGINT of the process is Ctrl-C (system clock), and the handlers are removed after", async (t) => {
    const fake = await FakeSchedulerServer.start();
    t.after(() => fake.stop());
    const before = process.listenerCount("SIGINT");
    const out: string[] = [];
    const exit = runCommand({ master: fake.address, name: "sig", command: ["sleep", "100"], cpus: 0.1, mem: 16, user: "nobody", out: (l) => out.push(l), err: () => {} });
    const stream = await fake.stream(1);
    await waitFor(() => process.listenerCount("SIGINT") === before + 1 && out.length > 0, "the run to subscribe and take SIGINT");
    stream.send(big("o-1"));
    const [accept] = await fake.waitForCalls("accept", 1);
    const taskId = (accept!.request.operations as { kind: { value: { taskInfos: { taskId: { value: string } }[] } } }[])[0]!.kind.value.taskInfos[0]!.taskId.value;
    stream.send(status(taskId, { state: TaskState.RUNNING, uuid: 1 }));
    await waitFor(() => out.some((l) => /TASK_RUNNING/.test(l)), "TASK_RUNNING shown");
    process.emit("SIGINT", "SIGINT");
    await fake.waitForCalls("kill", 1);
    stream.send(status(taskId, { state: TaskState.KILLED, uuid: 2 }));
    assert.equal(await exit, RunExit.INTERRUPTED);
    assert.equal(process.listenerCount("SIGINT"), before);
  });

  it("kills the task at --timeout and exits 124; tears down anyway if the kill is not answered", async (t) => {
    const run = await startRun(t, { timeoutSeconds: 10, killTimeoutSeconds: 5 });
    const taskId = await launched(run);
    run.stream.send(status(taskId, { state: TaskState.RUNNING, uuid: 1 }));
    await waitFor(() => run.out.some((l) => /TASK_RUNNING/.test(l)), "TASK_RUNNING to be shown");
    await run.clock.advance(10_000);
    await run.fake.waitForCalls("kill", 1);
    await run.clock.advance(5_000);
    assert.equal(await run.exit, RunExit.TIMED_OUT);
    assert.deepEqual(run.err, [`Timed out after 10 s; killing task ${taskId}`, `Task ${taskId} did not end within 5 s of the kill; tearing down`]);
    assert.equal(run.fake.callsOf("teardown").length, 1);
  });

  it("exits 3 with the master's message when the launch is refused", async (t) => {
    const run = await startRun(t);
    run.fake.failNext("accept", new DcosError(Code.INVALID_ARGUMENT, "Offer o-1 is not outstanding"));
    run.stream.send(big("o-1"));
    assert.equal(await run.exit, RunExit.NOT_LAUNCHED);
    assert.deepEqual(run.err, ["The master refused the launch: Offer o-1 is not outstanding"]);
  });

  it("exits 3 when the master refuses the framework", async (t) => {
    const run = await startRun(t);
    run.stream.send({ kind: { case: "error", value: { message: "Framework hello is not authorized for role *" } } });
    assert.equal(await run.exit, RunExit.NOT_LAUNCHED);
    assert.match(run.err.at(-1)!, /refused the scheduler: Framework hello is not authorized/);
  });

  it("exits 2 with a precise message on bad options, without contacting a master", async () => {
    const cases: [Partial<RunOptions>, RegExp][] = [
      [{ cpus: 0 }, /Invalid --cpus 0/],
      [{ mem: Number.NaN }, /Invalid --mem NaN/],
      [{ command: [] }, /No command given/],
      [{ master: "nowhere" }, /Invalid master address 'nowhere'/],
      [{ role: "a//b" }, /Invalid --role 'a\/\/b'/],
      [{ env: { "1X": "y" } }, /Invalid --env name '1X'/],
    ];
    for (const [bad, message] of cases) {
      const err: string[] = [];
      const code = await runCommand({ master: "127.0.0.1:1", name: "x", command: ["true"], cpus: 1, mem: 1, ...bad, err: (l) => err.push(l), out: () => {} });
      assert.equal(code, RunExit.USAGE, JSON.stringify(bad));
      assert.match(err[0] ?? "", message);
    }
  });
});

describe("the run subcommand's flags", () => {
  it("parses flags and the command after --, with its own --role beside a parent's --role", async () => {
    const seen: RunOptions[] = [];
    const program = new Command().enablePositionalOptions().option("--role <role>").exitOverride();
    program.addCommand(runSubcommand(undefined, async (o) => (seen.push(o), 0)).exitOverride());
    await program.parseAsync(
      ["run", "--master=m1:5050,m2:5050", "--name=job", "--cpus=0.25", "--mem", "128", "--role=web", "--env", "A=1", "--env=B=x=y", "--timeout=30", "--", "sh", "-c", "exit 3"],
      { from: "user" },
    );
    const o = seen[0]!;
    assert.equal(o.master, "m1:5050,m2:5050");
    assert.equal(o.name, "job");
    assert.equal(o.cpus, 0.25);
    assert.equal(o.mem, 128);
    assert.equal(o.role, "web");
    assert.deepEqual(o.env, { A: "1", B: "x=y" });
    assert.equal(o.timeoutSeconds, 30);
    assert.deepEqual(o.command, ["sh", "-c", "exit 3"]);
    assert.equal(program.opts()["role"], undefined, "the parent's --role is untouched");
    assert.equal(o.output, true, "the task's output is shown by default");
    await program.parseAsync(["run", "--master=m1:5050", "--no-output", "--", "echo", "hi"], { from: "user" });
    assert.equal(seen[1]!.name, undefined, "no --name needed");
    assert.equal(seen[1]!.output, false);
    process.exitCode = undefined;
  });

  it("names the run after the command's program when --name is absent", () => {
    assert.equal(nameFromCommand(["echo hello"]), "echo");
    assert.equal(nameFromCommand(["  /usr/bin/python3 -c 'print(1)'"]), "python3");
    assert.equal(nameFromCommand(["/bin/sh", "-c", "exit 3"]), "sh");
    assert.equal(nameFromCommand(["FOO=1 env"]), "FOO1", "only name characters are kept");
    assert.equal(nameFromCommand(["$(x)"]), "x");
    assert.equal(nameFromCommand(["'\"'"]), "run", "nothing usable: a fixed name");
  });

  it("rejects a non-numeric --cpus and a malformed --env", async () => {
    for (const bad of [["--cpus=lots"], ["--env=NOEQUALS"]]) {
      const cmd = runSubcommand(undefined, async () => 0).exitOverride().configureOutput({ writeErr: () => {} });
      await assert.rejects(cmd.parseAsync(["--master=m:1", "--name=x", ...bad, "--", "true"], { from: "user" }), /must be a number|expected NAME=VALUE/);
    }
  });
});
