import { create } from "@bufbuild/protobuf";
import Fastify, { type FastifyInstance } from "fastify";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { AgentIDSchema, FrameworkIDSchema, TaskIDSchema } from "../../src/gen/dcos/v1/common_pb.js";
import { StatusUpdateSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Source, TaskStatusSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { startMasterHttp, type MasterHttpOptions, type RunningMasterHttp } from "../../src/operator/master-http.js";
import { DEFAULT_ASSETS_DIR, webUiRoutes, type WebUiOptions } from "../../src/ui/web-ui-routes.js";
import { Cluster, commandTask } from "../master/harness.js";
import type { ScriptedAgent } from "../support/scripted-agent.js";
import { waitFor } from "../support/wait.js";

let cluster: Cluster | undefined;
let http: RunningMasterHttp | undefined;
let files: FastifyInstance | undefined;
let workDir: string | undefined;
afterEach(async () => {
  await http?.close();
  await cluster?.stop();
  await files?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  http = cluster = files = workDir = undefined;
});

async function start(ui: Omit<WebUiOptions, "self" | "master"> = {}, more: Partial<MasterHttpOptions> = {}): Promise<{ c: Cluster; url: string }> {
  const c = (cluster = await Cluster.start({ agents: 2, agentResources: "cpus:4;mem:4096;disk:1000" }));
  http = await startMasterHttp({
    host: "127.0.0.1",
    port: 0,
    master: c.facade,
    metrics: c.masterSystem.metrics,
    cluster: "test",
    version: "9.9.9",
    flags: {},
    routes: [webUiRoutes({ ...ui, master: c.facade, ...(more.leaderHttpAddress ? { leaderHttpAddress: more.leaderHttpAddress } : {}) })],
    ...more,
  });
  return { c, url: `http://${http.address}` };
}

async function get(url: string): Promise<{ status: number; type: string; text: string; json: () => any }> {
  const r = await fetch(url, { redirect: "manual" });
  const text = await r.text();
  return { status: r.status, type: r.headers.get("content-type") ?? "", text, json: () => JSON.parse(text) };
}

/** Sends RUNNING for the task as the agent would, naming its sandbox when given. */
function reportRunning(agent: ScriptedAgent, frameworkId: string, taskId: string, sandboxDirectory = ""): void {
  const uuid = new Uint8Array(16).fill(7);
  const status = create(TaskStatusSchema, {
    taskId: create(TaskIDSchema, { value: taskId }),
    agentId: create(AgentIDSchema, { value: agent.agentId }),
    state: TaskState.RUNNING,
    source: TaskStatus_Source.EXECUTOR,
    sandboxDirectory,
    uuid,
  });
  agent.tell(
    create(StatusUpdateSchema, {
      frameworkId: create(FrameworkIDSchema, { value: frameworkId }),
      agentId: create(AgentIDSchema, { value: agent.agentId }),
      status,
      uuid,
      latestState: TaskState.RUNNING,
    }),
  );
}

/** Framework "fw" with task t1 (cpus 1, mem 128) launched and RUNNING. */
async function runningTask(c: Cluster, sandboxDirectory = ""): Promise<{ frameworkId: string; agent: ScriptedAgent }> {
  const s = await c.subscribe("fw");
  const offer = s.sink.offers()[0]!;
  await c.launch(s, [offer], [commandTask("t1", "cpus:1;mem:128")]);
  const agent = c.agents.find((a) => a.agentId === offer.agentId!.value)!;
  reportRunning(agent, s.frameworkId, "t1", sandboxDirectory);
  await c.clock.settle();
  return { frameworkId: s.frameworkId, agent };
}

/** A sandbox with stdout and stderr under a work dir, and an agent-like /files server over it. */
async function sandboxOnAgent(): Promise<{ directory: string; address: string }> {
  workDir = await mkdtemp(join(tmpdir(), "dcos-ui-test-"));
  const directory = join(workDir, "agents", "S1", "frameworks", "fw", "executors", "t1", "runs", "c1");
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, "stdout"), "hello from t1\nsecond line\n");
  await writeFile(join(directory, "stderr"), "");
  await writeFile(join(workDir, "secret"), "not for browsers");
  files = Fastify();
  addSandboxFileRoutes(files, workDir);
  await files.listen({ host: "127.0.0.1", port: 0 });
  const addr = files.server.address();
  return { directory, address: `127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}` };
}

describe("web UI over HTTP", () => {
  it("/ serves the app's page, /ui/assets its bundled script and styles, and nothing else by that route", async () => {
    assert.ok(existsSync(join(DEFAULT_ASSETS_DIR, "app.js")), `the UI is not built in ${DEFAULT_ASSETS_DIR}: run 'npm run build'`);
    const { url } = await start();
    const page = await get(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.text, /<script type="module" src="\/ui\/assets\/app\.js"><\/script>/);
    assert.match(page.text, /<link rel="stylesheet" href="\/ui\/assets\/app\.css">/);
    const js = await get(`${url}/ui/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.type, /^text\/javascript/);
    assert.ok(js.text.includes("/events"), "the bundle reads the master's event stream");
    const css = await get(`${url}/ui/assets/app.css`);
    assert.equal(css.status, 200);
    assert.match(css.type, /^text\/css/);
    assert.ok(css.text.includes(".uplot"), "uPlot's styles are bundled");
    for (const bad of ["nope.js", "..%2Fpackage.json", "%2E%2E%2F%2E%2E%2Fpackage.json", "app.exe"]) {
      const r = await get(`${url}/ui/assets/${bad}`);
      assert.equal(r.status, 404, bad);
      assert.equal(r.json().error, "NOT_FOUND", bad);
    }
  });

  it("a standby sends the browser to the leading master's UI, and says so when none leads", async () => {
    let leader: string | undefined = "10.0.0.9:5080";
    const { url } = await start({}, { leaderHttpAddress: () => leader });
    const r = await get(`${url}/`);
    assert.equal(r.status, 307);
    assert.equal((await fetch(`${url}/`, { redirect: "manual" })).headers.get("location"), "http://10.0.0.9:5080/");
    leader = undefined;
    const none = await get(`${url}/`);
    assert.equal(none.status, 503);
    assert.match(none.text, /No master is leading/);
    leader = http!.address;
    assert.equal((await get(`${url}/`)).status, 200, "the leader itself serves the page");
  });

  it("/ui/resources sums the agents' totals and what tasks use (as /metrics/snapshot does); /ui/resources/history holds the samples taken", async () => {
    const { c, url } = await start();
    await runningTask(c);
    const now = (await get(`${url}/ui/resources`)).json();
    assert.deepEqual(
      { ...now, time: 0 },
      { time: 0, cpusTotal: 8, cpusUsed: 1, memTotal: 8192, memUsed: 128, diskTotal: 2000, diskUsed: 0, tasksRunning: 1, agents: 2 },
    );
    const metrics = (await get(`${url}/metrics/snapshot`)).json();
    assert.deepEqual([now.cpusTotal, now.cpusUsed, now.memUsed], [metrics["master/cpus_total"], metrics["master/cpus_used"], metrics["master/mem_used"]], "the plots agree with /metrics/snapshot");
    const history = await waitFor(async () => {
      const h = (await get(`${url}/ui/resources/history`)).json();
      return h.samples.length > 0 ? h : undefined;
    }, "a first history sample");
    assert.equal(history.interval_ms, 10_000);
    assert.equal(history.window_ms, 3_600_000);
    assert.equal(history.samples[0].agents, 2, "the first sample is taken when the UI starts");
  });

  it("/ui/events/recent lists the events the master published, oldest first, in their JSON form", async () => {
    const { c, url } = await start();
    const { frameworkId } = await runningTask(c);
    const { events } = (await get(`${url}/ui/events/recent`)).json();
    const types = events.map((e: { type: string }) => e.type);
    assert.deepEqual(
      types.filter((t: string) => ["FRAMEWORK_ADDED", "TASK_ADDED", "TASK_UPDATED"].includes(t)),
      ["FRAMEWORK_ADDED", "TASK_ADDED", "TASK_UPDATED"],
    );
    const seqs = events.map((e: { sequence: number }) => e.sequence);
    assert.deepEqual(seqs, [...seqs].sort((a: number, b: number) => a - b));
    const added = events.find((e: { type: string }) => e.type === "TASK_ADDED");
    assert.equal(added.taskAdded.task.state, "TASK_STATE_STAGING", "an event shows the task as it was then, not as it is now");
    const updated = events.find((e: { type: string }) => e.type === "TASK_UPDATED");
    assert.equal(updated.taskUpdated.frameworkId.value, frameworkId);
    assert.equal(updated.taskUpdated.state, "TASK_STATE_RUNNING");
  });

  it("/ui/sandbox lists a task's sandbox relative to it and reads stdout from its agent's /files", async () => {
    const sandbox = await sandboxOnAgent();
    const { c, url } = await start({ agentHttpAddress: () => sandbox.address });
    const { frameworkId } = await runningTask(c, sandbox.directory);
    const base = `${url}/ui/sandbox/${frameworkId}/t1`;
    const list = await get(`${base}/browse`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.json().map((e: { path: string; size: number }) => [e.path, e.size]),
      [
        ["stderr", 0],
        ["stdout", 26],
      ],
    );
    assert.deepEqual((await get(`${base}/read?path=stdout&offset=0`)).json(), { data: "hello from t1\nsecond line\n", offset: 0 });
    assert.deepEqual((await get(`${base}/read?path=stdout&offset=14&length=6`)).json(), { data: "second", offset: 14 });
    assert.deepEqual((await get(`${base}/read?path=stdout&offset=-1`)).json(), { data: "", offset: 26 }, "offset -1 gives the size, to tail from the end");
    const bad = await get(`${base}/read?path=stdout&offset=x`);
    assert.equal(bad.status, 400, "the agent's own refusals come back as they are");
    assert.match(bad.json().message, /'offset' must be an integer/);
  });

  it("/ui/sandbox refuses paths out of the sandbox and says precisely why a sandbox cannot be read", async () => {
    const sandbox = await sandboxOnAgent();
    let agentAddress: string | undefined = sandbox.address;
    const { c, url } = await start({ agentHttpAddress: () => agentAddress });
    const { frameworkId, agent } = await runningTask(c, sandbox.directory);
    const base = `${url}/ui/sandbox/${frameworkId}/t1`;
    const refused = async (path: string, status: number, error: string, message: RegExp): Promise<void> => {
      const r = await get(path);
      assert.equal(r.status, status, `${path}: ${r.text}`);
      assert.equal(r.json().error, error, path);
      assert.match(r.json().message, message, path);
    };
    await refused(`${base}/read?path=../../../../../../secret&offset=0`, 400, "INVALID_ARGUMENT", /contains a '\.' or '\.\.' component/);
    await refused(`${base}/read?path=%2E%2E/x&offset=0`, 400, "INVALID_ARGUMENT", /'\.\.\/x' contains/);
    await refused(`${base}/read?path=/etc/passwd&offset=0`, 400, "INVALID_ARGUMENT", /must be relative to the sandbox/);
    await refused(`${url}/ui/sandbox/${frameworkId}/nope/browse`, 404, "NOT_FOUND", /No task 'nope' of framework/);
    await refused(`${url}/ui/sandbox/${frameworkId}/t1/delete`, 404, "NOT_FOUND", /No endpoint GET/);

    const s2 = await c.subscribe("fw2");
    const offer = s2.sink.offers()[0]!;
    await c.launch(s2, [offer], [commandTask("t2", "cpus:1;mem:64")]);
    await refused(`${url}/ui/sandbox/${s2.frameworkId}/t2/browse`, 409, "FAILED_PRECONDITION", /has no sandbox yet/);

    agentAddress = undefined;
    await refused(`${base}/browse`, 503, "UNAVAILABLE", new RegExp(`does not know the HTTP endpoint of agent ${agent.agentId}`));
    agentAddress = sandbox.address;
    await files!.close();
    await refused(`${base}/browse`, 503, "UNAVAILABLE", new RegExp(`The agent at ${sandbox.address} did not answer /files/browse`));
  });

  it("/service/<name> reaches only a listed framework registered by its listed principal, with the caller's Authorization", async () => {
    const seen: string[] = [];
    files = Fastify();
    files.get("/*", async (req) => {
      seen.push(`${req.url} ${req.headers.authorization ?? "-"}`);
      return { ok: true };
    });
    const api = `http://${await files.listen({ host: "127.0.0.1", port: 0 }).then((u) => new URL(u).host)}`;
    const { c, url } = await start({ serviceProxy: new Map([["chronos", "dcos-jobs"]]) });
    const auth = { authorization: "Basic b3BlcmF0b3I6c2VjcmV0" };
    // Another principal registers under the listed name and advertises its own URL: never reached.
    await c.subscribe("chronos", { principal: "intruder", webuiUrl: api });
    let r = await fetch(`${url}/service/chronos/v1/scheduler/jobs`, { headers: auth });
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { message: string }).message, /No connected framework named 'chronos' with principal 'dcos-jobs'/);
    // A name the master does not list: refused whoever registered it.
    await c.subscribe("mine", { principal: "intruder", webuiUrl: api });
    r = await fetch(`${url}/service/mine/x`, { headers: auth });
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { message: string }).message, /does not serve the API of a framework named 'mine' \(its --service-proxy lists chronos\)/);
    assert.deepEqual(seen, [], "neither framework was called, nor given the caller's credentials");
    // The listed framework with its listed principal is reached, with the caller's credentials.
    await c.subscribe("chronos", { principal: "dcos-jobs", webuiUrl: api });
    r = await fetch(`${url}/service/chronos/v1/scheduler/jobs?x=1`, { headers: auth });
    assert.equal(r.status, 200);
    assert.deepEqual(seen, [`/v1/scheduler/jobs?x=1 ${auth.authorization}`]);
  });
});
