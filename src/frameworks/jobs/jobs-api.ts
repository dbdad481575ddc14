/**
 * Chronos's REST API (/v1/scheduler/...) on a fastify server, answered by the jobs
 * leader's engine. Paths, methods and status codes are Chronos's: 204 for changes, 400
 * with `{message}` for an invalid job (cycle, unknown parent, both schedule and parents,
 * bad period...), 404 for an unknown job. Non-leaders never reach these handlers (the
 * kit's leader proxy forwards them); without a leader they answer 503.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Clock } from "../../runtime/clock.js";
import { childrenOf, graphCsv, graphDot } from "./dependency-graph.js";
import type { JobsEngine } from "./engine.js";
import { JobSpecError, MAX_JOB_JSON_BYTES, parseJobSpec } from "./job-spec.js";
import { activeAttempt, type JobState } from "./ledger.js";
import type { LedgerRecord } from "./records.js";
import { STAT_NAMES, statOf, type StatName } from "./stats.js";
import { jobJson, jobRunState, lastOutcome, runJson, sortedJobs, statJson, summaryJson } from "./views.js";

export interface JobsApiOptions {
  /** The leader's engine, or undefined when this instance does not lead (yet). */
  engine: () => JobsEngine | undefined;
  clock: Clock;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function installJobsApi(app: FastifyInstance, options: JobsApiOptions): void {
  const engine = (): JobsEngine => {
    const e = options.engine();
    if (!e || !e.leading) throw new HttpError(503, "No jobs leader yet: the scheduler is electing a leader or replaying its ledger");
    return e;
  };
  const job = (e: JobsEngine, name: string): JobState => {
    const j = e.ledger.jobs.get(name);
    if (!j) throw new HttpError(404, `No job named '${name}'`);
    return j;
  };
  const write = async (e: JobsEngine, records: LedgerRecord[], kills?: { taskId: string; agentId: string }[]) => {
    const why = await e.write(records, kills).catch((err: Error) => {
      throw new HttpError(503, err.message);
    });
    if (why !== undefined) throw new HttpError(400, why);
  };
  const handle =
    <R>(fn: (req: R, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        return await fn(req as unknown as R, reply);
      } catch (err) {
        if (err instanceof HttpError) return reply.code(err.status).send({ message: err.message });
        if (err instanceof JobSpecError) return reply.code(400).send({ message: err.message });
        throw err;
      }
    };

  type NameReq = { params: { name: string }; query: Record<string, string | undefined>; body: unknown };

  const put = (kind: "iso8601" | "dependency") =>
    handle<NameReq>(async (req, reply) => {
      const e = engine();
      const now = options.clock.now();
      const spec = parseJobSpec(req.body, kind, now);
      await write(e, [{ type: "job-put", at: now, spec }]);
      return reply.code(204).send();
    });
  const limits = { bodyLimit: MAX_JOB_JSON_BYTES };
  app.post("/v1/scheduler/iso8601", limits, put("iso8601"));
  app.put("/v1/scheduler/iso8601", limits, put("iso8601"));
  app.post("/v1/scheduler/dependency", limits, put("dependency"));
  app.put("/v1/scheduler/dependency", limits, put("dependency"));

  app.get("/v1/scheduler/jobs", handle<NameReq>(async () => sortedJobs(engine().ledger).map(jobJson)));

  app.get(
    "/v1/scheduler/jobs/search",
    handle<NameReq>(async (req) => {
      const q = req.query;
      const name = q["name"]?.toLowerCase();
      const command = q["command"]?.toLowerCase();
      const any = q["any"]?.toLowerCase();
      const offset = Number(q["offset"] ?? 0);
      const limit = q["limit"] !== undefined ? Number(q["limit"]) : Infinity;
      if (!Number.isFinite(offset) || offset < 0 || Number.isNaN(limit) || limit < 0) throw new HttpError(400, "offset and limit must be whole numbers of at least 0");
      const found = sortedJobs(engine().ledger).filter((j) => {
        const n = j.spec.name.toLowerCase();
        const c = j.spec.command.toLowerCase();
        return (!name || n.includes(name)) && (!command || c.includes(command)) && (!any || n.includes(any) || c.includes(any));
      });
      return found.slice(offset, offset + limit).map(jobJson);
    }),
  );

  app.get("/v1/scheduler/jobs/summary", handle<NameReq>(async () => ({ jobs: sortedJobs(engine().ledger).map(summaryJson) })));

  app.get("/v1/scheduler/job/:name", handle<NameReq>(async (req) => jobJson(job(engine(), req.params.name))));

  app.get(
    "/v1/scheduler/job/:name/runs",
    handle<NameReq>(async (req) => {
      const e = engine();
      const j = job(e, req.params.name);
      return {
        active: [...j.active.values()].map((r) => runJson(r, r.state === "queued" ? e.whyWaiting(r) : undefined)),
        history: j.history.map((r) => runJson(r)),
        missed: j.missed.map((m) => ({ ...m, at: new Date(m.at).toISOString(), from: new Date(m.from).toISOString(), to: new Date(m.to).toISOString() })),
        summary: summaryJson(j),
      };
    }),
  );

  // Run now.
  app.put(
    "/v1/scheduler/job/:name",
    handle<NameReq>(async (req, reply) => {
      const e = engine();
      const j = job(e, req.params.name);
      const at = Math.max(options.clock.now(), j.lastManual + 1);
      const args = req.query["arguments"];
      await write(e, [{ type: "run-queued", at, job: j.spec.name, instant: at, trigger: "manual", ...(args ? { arguments: args.split(" ").filter(Boolean) } : {}) }]);
      return reply.code(204).send();
    }),
  );

  app.delete(
    "/v1/scheduler/job/:name",
    handle<NameReq>(async (req, reply) => {
      const e = engine();
      const j = job(e, req.params.name);
      const children = childrenOf([...e.ledger.jobs.values()].map((x) => x.spec), j.spec.name);
      if (children.length) throw new HttpError(400, `Job '${j.spec.name}' is a parent of ${children.join(", ")}: delete or change those first`);
      const { records, kills } = killRecords(j, options.clock.now(), "the job was deleted");
      await write(e, [...records, { type: "job-deleted", at: options.clock.now(), name: j.spec.name }], kills);
      return reply.code(204).send();
    }),
  );

  app.put(
    "/v1/scheduler/job/success/:name",
    handle<NameReq>(async (req, reply) => {
      const e = engine();
      const j = job(e, req.params.name);
      await write(e, [{ type: "job-marked-success", at: options.clock.now(), job: j.spec.name }]);
      return reply.type("application/json").send("true");
    }),
  );

  app.delete(
    "/v1/scheduler/task/kill/:name",
    handle<NameReq>(async (req, reply) => {
      const e = engine();
      const j = job(e, req.params.name);
      const { records } = killRecords(j, options.clock.now(), "killed on request (DELETE /v1/scheduler/task/kill)");
      const queued = [...j.active.values()].filter((r) => r.state === "queued" && r.attempts.length === 0);
      for (const r of queued) records.push({ type: "run-expired", at: options.clock.now(), job: r.job, instant: r.instant, reason: "cancelled on request (DELETE /v1/scheduler/task/kill)" });
      if (records.length) await write(e, records);
      return reply.code(204).send();
    }),
  );

  // An async job's task reports how it ended ({"statusCode": 0}).
  app.put(
    "/v1/scheduler/task/:taskId",
    handle<{ params: { taskId: string }; body: unknown }>(async (req, reply) => {
      const e = engine();
      const t = e.ledger.tasks.get(req.params.taskId);
      if (!t) throw new HttpError(404, `No active task '${req.params.taskId}'`);
      const body = req.body as { statusCode?: unknown } | undefined;
      const code = body?.statusCode ?? 0;
      if (typeof code !== "number" || !Number.isInteger(code)) throw new HttpError(400, "statusCode must be a whole number");
      const at = options.clock.now();
      await write(e, [code === 0 ? { type: "job-marked-success", at, job: t.run.job, taskId: t.attempt.taskId } : { type: "async-failed", at, taskId: t.attempt.taskId, statusCode: code }]);
      return reply.code(204).send();
    }),
  );

  // A data job's task reports elements processed ({"numAdditionalElementsProcessed": n}); kept with the attempt.
  app.post(
    "/v1/scheduler/job/:name/task/:taskId/progress",
    handle<{ params: { name: string; taskId: string }; body: unknown }>(async (req, reply) => {
      const e = engine();
      const j = job(e, req.params.name);
      if (!j.spec.dataJob) throw new HttpError(400, `Job '${j.spec.name}' is not enabled to track data (set dataJob: true)`);
      if (!/^ct:\d+:\d+:.+:$/.test(req.params.taskId)) throw new HttpError(400, `Invalid task id '${req.params.taskId}': expected ct:<instant>:<attempt>:<job>:`);
      const n = (req.body as { numAdditionalElementsProcessed?: unknown } | undefined)?.numAdditionalElementsProcessed;
      if (n === undefined) return reply.code(204).send();
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new HttpError(400, "numAdditionalElementsProcessed must be a whole number of at least 0");
      await write(e, [{ type: "task-progress", at: options.clock.now(), job: j.spec.name, taskId: req.params.taskId, count: n }]);
      return reply.code(204).send();
    }),
  );

  app.get("/v1/scheduler/job/stat/:name", handle<NameReq>(async (req) => statJson(job(engine(), req.params.name))));

  app.get(
    "/v1/scheduler/stats/:stat",
    handle<{ params: { stat: string } }>(async (req) => {
      const stat = req.params.stat;
      if (!(stat in STAT_NAMES)) throw new HttpError(400, `Unknown statistic '${stat}': one of ${Object.keys(STAT_NAMES).join(", ")}`);
      const rows = sortedJobs(engine().ledger)
        .map((j) => ({ jobNameLabel: j.spec.name, time: statOf(j.durations.toArray(), stat as StatName) }))
        .filter((r) => r.time !== undefined);
      return rows.sort((a, b) => b.time! - a.time!);
    }),
  );

  app.get(
    "/v1/scheduler/graph/dot",
    handle<NameReq>(async (_req, reply) => {
      const l = engine().ledger;
      const specs = [...l.jobs.values()].map((j) => j.spec);
      return reply.type("text/vnd.graphviz").send(graphDot(specs, (n) => lastOutcome(l.jobs.get(n)!)));
    }),
  );
  app.get(
    "/v1/scheduler/graph/csv",
    handle<NameReq>(async (_req, reply) => {
      const l = engine().ledger;
      const specs = [...l.jobs.values()].map((j) => j.spec);
      return reply.type("text/csv").send(graphCsv(specs, (n) => lastOutcome(l.jobs.get(n)!), (n) => jobRunState(l.jobs.get(n)!)));
    }),
  );
}

/** attempt-kill records (no retry) for a job's tasks that are out, and the kills to send after. */
function killRecords(j: JobState, at: number, reason: string): { records: LedgerRecord[]; kills: { taskId: string; agentId: string }[] } {
  const records: LedgerRecord[] = [];
  const kills: { taskId: string; agentId: string }[] = [];
  for (const run of j.active.values()) {
    const a = activeAttempt(run);
    if (!a) continue;
    if (!a.kill) records.push({ type: "attempt-kill", at, taskId: a.taskId, reason, retry: false });
    kills.push({ taskId: a.taskId, agentId: a.agentId });
  }
  return { records, kills };
}
