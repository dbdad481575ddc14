/**
 * Chronos's REST API on the jobs engine, in-process on the manual clock (the simulated
 * log and cluster of the scheduling-core tests): paths, status codes, precise 400s, the
 * statistics and graph endpoints, run now, mark success, kill, delete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { ManualClock } from "../../src/runtime/clock.js";
import { Random } from "../../src/runtime/random.js";
import { JobsEngine } from "../../src/frameworks/jobs/engine.js";
import { installJobsApi } from "../../src/frameworks/jobs/jobs-api.js";
import { SimCluster, SimLog } from "./sim-jobs-cluster.js";

const T0 = Date.parse("2026-06-01T00:00:00Z");

describe("Chronos REST API", () => {
  const clock = new ManualClock(T0);
  const random = new Random(5);
  const log = new SimLog(clock, random);
  const cluster = new SimCluster(clock, random, (job) => ({ durationMs: job === "long" ? 3_600_000 : 5_000, exitCode: job === "fails" ? 2 : 0 }));
  let engine: JobsEngine | undefined;
  let app: FastifyInstance;

  /** Runs a request while the manual clock moves (the ledger write needs it). */
  async function call(method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown) {
    let done = false;
    const p = app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}) }).finally(() => (done = true));
    while (!done) await clock.advance(5);
    const r = await p;
    return { status: r.statusCode, json: () => r.json(), text: r.body };
  }

  before(async () => {
    app = Fastify();
    installJobsApi(app, { engine: () => engine, clock });
    await app.ready();
  });
  after(async () => {
    engine?.stop();
    await app.close();
  });

  it("answers 503 with a message while there is no leader", async () => {
    const r = await call("GET", "/v1/scheduler/jobs");
    assert.equal(r.status, 503);
    assert.match(r.json().message, /No jobs leader/);
    const e = new JobsEngine({ log: log.open(), clock, cluster: undefined as never });
    (e as unknown as { options: { cluster: unknown } }).options.cluster = cluster.connect(e);
    let started = false;
    const s = e.start().then(() => (started = true));
    while (!started) await clock.advance(5);
    await s;
    engine = e;
  });

  it("POST /v1/scheduler/iso8601 and /dependency take Chronos job JSON: 204", async () => {
    assert.equal((await call("POST", "/v1/scheduler/iso8601", { name: "etl", command: "echo etl", schedule: "R/2026-06-01T00:01:00Z/PT1H", owner: "ops@example.com" })).status, 204);
    assert.equal((await call("POST", "/v1/scheduler/dependency", { name: "report", command: "echo report", parents: ["etl"] })).status, 204);
    assert.equal((await call("POST", "/v1/scheduler/iso8601", { name: "long", command: "sleep 3600", schedule: "R/2026-06-01T00:00:30Z/P1D" })).status, 204);
    assert.equal((await call("POST", "/v1/scheduler/iso8601", { name: "fails", command: "exit 2", schedule: "R1/2026-06-01T00:00:40Z/PT1M", retries: 0 })).status, 204);
  });

  for (const [path, job, msg] of [
    ["iso8601", { name: "x", command: "c", schedule: "R/2026-06-01T00:00:00Z/PT1X" }, /Invalid schedule period/],
    ["iso8601", { name: "x", command: "c", schedule: "R/2026-06-01T00:00:00Z/PT1H", parents: ["etl"] }, /both a schedule and parents/],
    ["dependency", { name: "x", command: "c", parents: ["nope"] }, /unknown parent 'nope'/],
    ["dependency", { name: "etl", command: "c", parents: ["report"] }, /Dependency cycle: .*etl.*report/],
    ["iso8601", [1, 2], /A job must be a JSON object/],
  ] as const) {
    it(`POST /v1/scheduler/${path} with ${JSON.stringify(job).slice(0, 60)} → 400 with a precise message`, async () => {
      const r = await call("POST", `/v1/scheduler/${path}`, job);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json().message, msg);
    });
  }

  it("runs the schedule and the dependent job; GET /jobs shows Chronos's statistics", async () => {
    await clock.advance(2 * 60_000);
    const jobs = (await call("GET", "/v1/scheduler/jobs")).json() as Record<string, unknown>[];
    const etl = jobs.find((j) => j["name"] === "etl")!;
    assert.equal(etl["successCount"], 1);
    assert.equal(etl["owner"], "ops@example.com");
    assert.match(String(etl["lastSuccess"]), /^2026-06-01T00:01:/);
    const report = jobs.find((j) => j["name"] === "report")!;
    assert.deepEqual([report["successCount"], report["parents"], report["schedule"]], [1, ["etl"], undefined]);
    const fails = jobs.find((j) => j["name"] === "fails")!;
    assert.deepEqual([fails["errorCount"], fails["errorsSinceLastSuccess"]], [1, 1]);
  });

  it("search, summary, stat and stats", async () => {
    assert.deepEqual(((await call("GET", "/v1/scheduler/jobs/search?name=REP")).json() as { name: string }[]).map((j) => j.name), ["report"]);
    assert.deepEqual(((await call("GET", "/v1/scheduler/jobs/search?any=sleep")).json() as { name: string }[]).map((j) => j.name), ["long"]);
    const summary = (await call("GET", "/v1/scheduler/jobs/summary")).json() as { jobs: Record<string, unknown>[] };
    const s = Object.fromEntries(summary.jobs.map((j) => [j["name"], j]));
    assert.deepEqual([s["etl"]!["status"], s["fails"]!["status"], s["long"]!["state"], s["etl"]!["nextRun"]], ["success", "failure", "running", "2026-06-01T01:01:00.000Z"]);
    const stat = (await call("GET", "/v1/scheduler/job/stat/etl")).json() as { histogram: Record<string, number>; taskStatHistory: Record<string, unknown>[] };
    assert.equal(stat.histogram["count"], 1);
    assert.ok(stat.histogram["median"]! >= 5_000);
    assert.equal(stat.taskStatHistory[0]!["taskState"], "TASK_FINISHED");
    const p99 = (await call("GET", "/v1/scheduler/stats/99thPercentile")).json() as { jobNameLabel: string; time: number }[];
    assert.ok(p99.some((r) => r.jobNameLabel === "etl"));
    assert.equal((await call("GET", "/v1/scheduler/stats/10thPercentile")).status, 400);
    assert.equal((await call("GET", "/v1/scheduler/job/stat/nope")).status, 404);
  });

  it("graph/dot and graph/csv", async () => {
    assert.match((await call("GET", "/v1/scheduler/graph/dot")).text, /"etl" -> "report";/);
    assert.match((await call("GET", "/v1/scheduler/graph/csv")).text, /^link,etl,report$/m);
  });

  it("POST /job/{name}/task/{taskId}/progress: a data job's task reports elements processed (204); 400 for other jobs and bad input", async () => {
    assert.equal((await call("POST", "/v1/scheduler/iso8601", { name: "counts", command: "count", schedule: `R/${new Date(clock.now() + 1_000).toISOString()}/P1D`, dataJob: true })).status, 204);
    let taskId = "";
    for (let i = 0; i < 20 && !taskId; i++) {
      await clock.advance(500);
      const runs = (await call("GET", "/v1/scheduler/job/counts/runs")).json() as { active: { attempts: { taskId: string }[] }[] };
      taskId = runs.active[0]?.attempts[0]?.taskId ?? "";
    }
    assert.ok(taskId, "the data job's task was launched");
    const url = (job: string, id: string) => `/v1/scheduler/job/${job}/task/${encodeURIComponent(id)}/progress`;
    for (const n of [5, 7]) assert.equal((await call("POST", url("counts", taskId), { numAdditionalElementsProcessed: n })).status, 204);
    await clock.advance(10_000);
    const runs = (await call("GET", "/v1/scheduler/job/counts/runs")).json() as { history: { state: string; attempts: { numElementsProcessed?: number }[] }[] };
    assert.deepEqual([runs.history[0]!.state, runs.history[0]!.attempts[0]!.numElementsProcessed], ["succeeded", 12]);
    const stat = (await call("GET", "/v1/scheduler/job/stat/counts")).json() as { taskStatHistory: { numElementsProcessed?: number }[] };
    assert.equal(stat.taskStatHistory[0]!.numElementsProcessed, 12);
    for (const [job, id, body, msg] of [
      ["etl", taskId, { numAdditionalElementsProcessed: 1 }, /not enabled to track data/],
      ["counts", taskId, { numAdditionalElementsProcessed: -1 }, /at least 0/],
      ["counts", "task-1", { numAdditionalElementsProcessed: 1 }, /Invalid task id/],
      ["counts", "ct:1:0:counts:", { numAdditionalElementsProcessed: 1 }, /has no task/],
    ] as const) {
      const r = await call("POST", url(job, id), body);
      assert.equal(r.status, 400, `${job} ${id} ${JSON.stringify(body)}`);
      assert.match(r.json().message, msg);
    }
    assert.equal((await call("DELETE", "/v1/scheduler/job/counts")).status, 204);
  });

  it("PUT /job/{name} runs now (204), PUT /job/success marks it done, unknown job 404", async () => {
    assert.equal((await call("PUT", "/v1/scheduler/job/etl")).status, 204);
    await clock.advance(30_000);
    const runs = (await call("GET", "/v1/scheduler/job/etl/runs")).json() as { history: { trigger: string; state: string }[] };
    assert.deepEqual(runs.history.slice(0, 1).map((r) => [r.trigger, r.state]), [["manual", "succeeded"]]);
    const before = ((await call("GET", "/v1/scheduler/job/fails")).json() as { successCount: number }).successCount;
    const r = await call("PUT", "/v1/scheduler/job/success/fails");
    assert.deepEqual([r.status, r.text], [200, "true"]);
    assert.equal(((await call("GET", "/v1/scheduler/job/fails")).json() as { successCount: number }).successCount, before + 1);
    assert.equal((await call("PUT", "/v1/scheduler/job/nope")).status, 404);
  });

  it("DELETE /task/kill/{name} kills the running task and the run fails without retry", async () => {
    assert.equal((await call("DELETE", "/v1/scheduler/task/kill/long")).status, 204);
    await clock.advance(1_000);
    const runs = (await call("GET", "/v1/scheduler/job/long/runs")).json() as { active: unknown[]; history: { state: string; reason: string }[] };
    assert.equal(runs.active.length, 0);
    assert.match(runs.history[0]!.reason, /killed on request/);
  });

  it("DELETE /job/{name}: 400 for a parent of others, 204 once its children are gone", async () => {
    const r = await call("DELETE", "/v1/scheduler/job/etl");
    assert.equal(r.status, 400);
    assert.match(r.json().message, /parent of report/);
    assert.equal((await call("DELETE", "/v1/scheduler/job/report")).status, 204);
    assert.equal((await call("DELETE", "/v1/scheduler/job/etl")).status, 204);
    assert.equal((await call("GET", "/v1/scheduler/job/etl")).status, 404);
  });
});
