import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkDependencies, checkParents, graphCsv, graphDot } from "../../src/frameworks/jobs/dependency-graph.js";
import { jobSpecJson, parseJobSpec, JobSpecError } from "../../src/frameworks/jobs/job-spec.js";
import { JobsLedger } from "../../src/frameworks/jobs/ledger.js";
import { plan, DISABLED_REASON, LATE_REASON } from "../../src/frameworks/jobs/planner.js";
import { runKey, taskIdFor, type LedgerRecord } from "../../src/frameworks/jobs/records.js";
import { percentile, statOf } from "../../src/frameworks/jobs/stats.js";
import { Random } from "../../src/runtime/random.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const spec = (o: Record<string, unknown>) => parseJobSpec({ command: "true", ...o }, "any", T0);

function ledgerWith(...jobs: Record<string, unknown>[]): JobsLedger {
  const l = new JobsLedger();
  for (const j of jobs) assert.equal(l.apply({ type: "job-put", at: T0, spec: spec(j) }), undefined);
  return l;
}
/** Applies a plan's records at `now` and returns them. */
function step(l: JobsLedger, now: number): LedgerRecord[] {
  const { records } = plan(l, now);
  for (const r of records) assert.equal(l.apply(r), undefined, JSON.stringify(r));
  return records;
}
function launch(l: JobsLedger, job: string, instant: number, at: number): string {
  const run = l.jobs.get(job)!.active.get(runKey(job, instant))!;
  const taskId = taskIdFor(job, instant, run.attempts.length);
  assert.equal(l.apply({ type: "attempt-launching", at, job, instant, taskId, agentId: "a1" }), undefined);
  return taskId;
}

describe("Chronos job definitions", () => {
  it("accepts Chronos's documented sample unchanged (string resources, stats fields, unknown fields echoed)", () => {
    const posted = {
      name: "camus_kafka2hdfs", command: "/srv/kafka_hdfs_job.bash", arguments: ["-verbose", "-debug"], shell: false, epsilon: "PT30M",
      executor: "", executorFlags: "", retries: 2, owner: "bofh@example.com", async: false, successCount: 190, errorCount: 3,
      lastSuccess: "2014-03-08T16:57:17.507Z", lastError: "2014-03-01T00:10:15.957Z", cpus: "1.0", disk: 10240, mem: 1024, disabled: false,
      fetch: [{ uri: "https://example.com/f", cache: false, extract: false, executable: false }], schedule: "R/2014-03-08T20:00:00.000Z/PT2H",
      environmentVariables: [{ name: "JVMOPTS", value: "-Xmx1000m" }], dataJob: false,
    };
    const s = parseJobSpec(posted, "iso8601", T0);
    assert.equal(s.cpus, 1);
    assert.equal(s.shell, false);
    assert.equal(jobSpecJson(s)["dataJob"], false, "unknown fields are kept");
    assert.equal(jobSpecJson(s)["successCount"], undefined, "statistics posted back are not part of the definition");
    const d = parseJobSpec({ name: "child", command: "x", parents: ["camus_kafka2hdfs"] }, "dependency", T0);
    assert.deepEqual([d.retries, d.cpus, d.mem, d.disk, d.epsilon, d.concurrent], [2, 0.1, 128, 256, "PT60S", false]);
  });

  it("keeps Chronos's softError, dataJob, executor, executorFlags, taskInfoData, owner and ownerName, echoed as posted", () => {
    const posted = {
      name: "etl-data", command: "run-etl", schedule: "R/2026-03-01T01:00:00Z/PT1H", softError: true, dataJob: true, executor: "/opt/chronos/executor.sh",
      executorFlags: "--verbose", taskInfoData: '{"stage":"load"}', owner: "data@example.com,oncall@example.com", ownerName: "Data team", dataProcessingJobType: true,
    };
    const s = parseJobSpec(posted, "iso8601", T0);
    assert.deepEqual([s.softError, s.dataJob, s.executor, s.executorFlags, s.taskInfoData], [true, true, "/opt/chronos/executor.sh", "--verbose", '{"stage":"load"}']);
    const echoed = jobSpecJson(s);
    for (const [k, v] of Object.entries(posted)) assert.deepEqual(echoed[k], v, `field ${k} echoed as posted`);
    assert.equal(parseJobSpec({ name: "d", command: "x", schedule: "R/2026-03-01T01:00:00Z/PT1H", dataProcessingJobType: true }, "any", T0).dataJob, true, "Chronos's own JSON name for dataJob");
    const plain = parseJobSpec({ name: "p", command: "x", schedule: "R/2026-03-01T01:00:00Z/PT1H" }, "any", T0);
    assert.deepEqual([plain.softError, plain.dataJob, plain.executor, plain.executorFlags, plain.taskInfoData], [false, false, "", "", ""], "Chronos's defaults");
    assert.equal(parseJobSpec({ name: "e", executor: "/opt/exec", schedule: "R/2026-03-01T01:00:00Z/PT1H" }, "any", T0).command, "", "an executor job needs no command");
  });

  for (const [job, kind, msg] of [
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", softError: "maybe" }, "any", /'softError' must be true or false/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", dataJob: 3 }, "any", /'dataJob' must be true or false/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", executor: ["a"] }, "any", /'executor' must be a string/],
    [{ name: "a b/c", schedule: "R/2026-01-01T00:00:00Z/PT1H" }, "iso8601", /Invalid job name/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", parents: ["y"] }, "any", /both a schedule and parents/],
    [{ name: "x" }, "any", /neither a schedule nor parents/],
    [{ name: "x", parents: ["y"] }, "iso8601", /has no 'schedule'/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H" }, "dependency", /has no 'parents'/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PX" }, "any", /Invalid schedule period/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", epsilon: "soon" }, "any", /Invalid epsilon 'soon'/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", cpus: "lots" }, "any", /'cpus' must be a number/],
    [{ name: "x", schedule: "R/2026-01-01T00:00:00Z/PT1H", constraints: [["rack", "NEAR", "a"]] }, "any", /invalid constraint/],
    [{ name: "x", parents: ["x"] }, "any", /cannot be its own parent/],
  ] as const) {
    it(`refuses ${JSON.stringify(job)} with a precise message`, () => {
      assert.throws(() => parseJobSpec({ command: "c", ...job }, kind, T0), (e: unknown) => e instanceof JobSpecError && msg.test((e as Error).message));
    });
  }

  it("refuses an unknown parent and a cycle, naming the jobs on it", () => {
    const jobs = new Map([["a", { name: "a", parents: [] }], ["b", { name: "b", parents: ["a"] }], ["c", { name: "c", parents: ["b"] }]]);
    assert.throws(() => checkDependencies(jobs, { name: "d", parents: ["zz"] }), /unknown parent 'zz'/);
    assert.throws(() => checkDependencies(jobs, { name: "a", parents: ["c"] }), /Dependency cycle: (a -> b -> c -> a|[abc] -> [abc] -> [abc] -> [abc])/);
    assert.deepEqual(checkDependencies(jobs).order, ["a", "b", "c"]);
    const outcome = (n: string) => (n === "a" ? "success" : "fresh");
    assert.match(graphDot(jobs.values(), outcome), /"a" -> "b";\n\s+"b" -> "c";/);
    assert.equal(graphCsv(jobs.values(), outcome, () => "idle"), "node,a,success,idle\nnode,b,fresh,idle\nnode,c,fresh,idle\nlink,a,b\nlink,b,c\n");
  });

  it("checks a put by its ancestry alone, agreeing with the whole-graph check on random graphs", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = new Random(seed);
      const jobs = new Map<string, { name: string; parents: string[] }>();
      for (let step = 0; step < 60; step++) {
        const names = [...jobs.keys()];
        // Mostly known names; now and then an unknown one, the job itself, or a replaced job.
        const name = names.length > 0 && random.chance(0.3) ? random.pick(names) : `j${step}`;
        const parents = Array.from({ length: random.int(3) }, () => (random.chance(0.05) ? "nope" : random.chance(0.05) ? name : names.length ? random.pick(names) : "nope"));
        const changed = { name, parents: [...new Set(parents)] };
        const whole = (() => {
          try {
            checkDependencies(jobs, changed);
            return "ok";
          } catch (e) {
            return (e as Error).message;
          }
        })();
        const incremental = (() => {
          try {
            checkParents((n) => jobs.get(n)?.parents, changed);
            return "ok";
          } catch (e) {
            return (e as Error).message;
          }
        })();
        const kind = (m: string) => (m === "ok" ? "ok" : /unknown parent/.test(m) ? "unknown" : /Dependency cycle/.test(m) ? "cycle" : m);
        assert.equal(kind(incremental), kind(whole), `seed ${seed} step ${step}: ${JSON.stringify(changed)}: ${incremental} vs ${whole}`);
        if (kind(incremental) === "cycle") {
          // The cycle named passes through the job put, and each link is a parent edge.
          const cycle = /Dependency cycle: (.*)$/.exec(incremental)![1]!.split(" -> ");
          assert.ok(cycle.includes(name), `seed ${seed}: ${incremental}`);
          for (let i = 0; i + 1 < cycle.length; i++) {
            const child = cycle[i + 1]!;
            const ps = child === name ? changed.parents : jobs.get(child)!.parents;
            assert.ok(ps.includes(cycle[i]!), `seed ${seed}: ${cycle[i]} is not a parent of ${child} in ${incremental}`);
          }
        }
        if (whole === "ok") jobs.set(name, changed);
      }
    }
  });
});

describe("the jobs ledger", () => {
  const every10 = { name: "j", schedule: "R/2026-03-01T00:10:00Z/PT10M", retries: 1 };

  it("queues each due instant once; a record written twice (or by a deposed leader) is ignored", () => {
    const l = ledgerWith(every10);
    const [q] = step(l, T0 + 10 * 60_000);
    assert.deepEqual(q, { type: "run-queued", at: T0 + 600_000, job: "j", instant: T0 + 600_000, trigger: "schedule" });
    assert.match(l.apply(q!)!, /already queued or missed/);
    assert.deepEqual(step(l, T0 + 10 * 60_000), [], "nothing more is due");
    const id = launch(l, "j", T0 + 600_000, T0 + 600_100);
    assert.match(l.apply({ type: "attempt-launching", at: 0, job: "j", instant: T0 + 600_000, taskId: "other", agentId: "a2" })!, /is launching, not queued/);
    assert.equal(l.tasks.get(id)!.attempt.agentId, "a1");
  });

  it("a failed attempt is retried `retries` times, then the run fails; a dropped launch does not use a retry", () => {
    const l = ledgerWith(every10);
    const i = T0 + 600_000;
    step(l, i);
    const a0 = launch(l, "j", i, i);
    l.apply({ type: "attempt-ended", at: i + 1, taskId: a0, end: "dropped", message: "offer gone" });
    const a1 = launch(l, "j", i, i + 2);
    l.apply({ type: "attempt-started", at: i + 3, taskId: a1 });
    l.apply({ type: "attempt-ended", at: i + 4, taskId: a1, end: "failed", exitCode: 1, message: "exit 1" });
    assert.equal(l.jobs.get("j")!.active.get(runKey("j", i))!.state, "queued", "first failure: retry");
    const a2 = launch(l, "j", i, i + 5);
    l.apply({ type: "attempt-started", at: i + 6, taskId: a2 });
    l.apply({ type: "attempt-ended", at: i + 7, taskId: a2, end: "failed", exitCode: 1, message: "exit 1" });
    const job = l.jobs.get("j")!;
    assert.equal(job.active.size, 0);
    assert.deepEqual([job.history[0]!.state, job.history[0]!.attempts.length, job.errorCount, job.errorsSinceLastSuccess], ["failed", 3, 1, 1]);
  });

  it("a kill without retry (task kill, maxCompletionTime) fails the run at once", () => {
    const l = ledgerWith({ ...every10, maxCompletionTime: 60_000 });
    const i = T0 + 600_000;
    step(l, i);
    const a = launch(l, "j", i, i);
    l.apply({ type: "attempt-started", at: i, taskId: a });
    const kill = step(l, i + 60_000).find((r) => r.type === "attempt-kill");
    assert.ok(kill && kill.type === "attempt-kill" && !kill.retry && /maxCompletionTime/.test(kill.reason));
    l.apply({ type: "attempt-ended", at: i + 61_000, taskId: a, end: "killed", message: "killed" });
    assert.equal(l.jobs.get("j")!.history[0]!.state, "failed");
  });

  it("an async job succeeds when it reports (PUT job/success), not when its task ends", () => {
    const l = ledgerWith({ ...every10, async: true });
    const i = T0 + 600_000;
    step(l, i);
    const a = launch(l, "j", i, i);
    l.apply({ type: "attempt-ended", at: i + 5, taskId: a, end: "finished", message: "done" });
    assert.equal(l.jobs.get("j")!.active.get(runKey("j", i))!.state, "awaiting-report");
    l.apply({ type: "job-marked-success", at: i + 9, job: "j" });
    assert.deepEqual([l.jobs.get("j")!.successCount, l.jobs.get("j")!.lastSuccess, l.tasks.size], [1, i + 9, 0]);
  });

  it("a dependent job runs once all parents succeeded since its last run; a disabled child records the miss", () => {
    const l = ledgerWith({ name: "p1", schedule: "R/2026-03-01T00:10:00Z/PT10M" }, { name: "p2", schedule: "R/2026-03-01T00:10:00Z/PT10M" }, { name: "c", parents: ["p1", "p2"] });
    const succeed = (job: string, at: number) => l.apply({ type: "job-marked-success", at, job });
    succeed("p1", T0 + 1_000);
    assert.equal(step(l, T0 + 2_000).filter((r) => r.type === "run-queued").length, 0, "p2 has not succeeded yet");
    succeed("p2", T0 + 3_000);
    succeed("p1", T0 + 4_000);
    const [q] = step(l, T0 + 5_000).filter((r) => r.type === "run-queued");
    assert.deepEqual(q && q.type === "run-queued" && [q.job, q.instant, q.trigger], ["c", T0 + 4_000, "dependency"]);
    assert.equal(step(l, T0 + 6_000).filter((r) => r.type === "run-queued").length, 0, "not again until both succeed again");
    l.apply({ type: "job-put", at: T0 + 7_000, spec: spec({ name: "c", parents: ["p1", "p2"], disabled: true }) });
    const a = launch(l, "c", T0 + 4_000, T0 + 7_000);
    l.apply({ type: "attempt-ended", at: T0 + 7_500, taskId: a, end: "finished", message: "ok" });
    succeed("p1", T0 + 8_000);
    succeed("p2", T0 + 9_000);
    const [m] = step(l, T0 + 10_000).filter((r) => "job" in r && r.job === "c");
    assert.ok(m && m.type === "runs-missed" && m.reason === DISABLED_REASON && m.trigger === "dependency");
  });

  it("instants due while nobody led are run late within epsilon, or recorded missed as late", () => {
    const l = ledgerWith({ name: "j", schedule: "R/2026-03-01T00:01:00Z/PT1M", epsilon: "PT90S", concurrent: true });
    const recs = step(l, T0 + 5 * 60_000 + 10_000);
    const missed = recs.find((r) => r.type === "runs-missed");
    assert.ok(missed && missed.type === "runs-missed" && missed.reason === LATE_REASON && missed.count === 3);
    assert.deepEqual(recs.filter((r) => r.type === "run-queued").map((r) => r.type === "run-queued" && (r.instant - T0) / 60_000), [4, 5]);
  });

  it("survives a snapshot: the state reloaded from JSON plans the same", () => {
    const l = ledgerWith(every10, { name: "c", parents: ["j"] });
    step(l, T0 + 600_000);
    launch(l, "j", T0 + 600_000, T0 + 600_000);
    const copy = JobsLedger.fromJSON(JSON.parse(JSON.stringify(l.toJSON())));
    assert.deepEqual(plan(copy, T0 + 1_800_000), plan(l, T0 + 1_800_000));
    assert.equal(copy.tasks.size, 1);
  });

  it("plans a job again only when it changed or fell due: the same plan as a fresh copy's, over random schedules and runs", () => {
    for (let seed = 1; seed <= 4; seed++) {
      const random = new Random(seed);
      const l = ledgerWith(
        { name: "utc-daily", schedule: "R/2026-03-01T00:00:30Z/P1D", epsilon: "PT10M" },
        { name: "berlin-daily", schedule: "R/2026-03-01T09:00:00/P1D", scheduleTimeZone: "Europe/Berlin", epsilon: "PT5M" },
        { name: "minutely", schedule: "R/2026-03-01T00:00:00Z/PT1M", epsilon: "PT20S", concurrent: true },
        { name: "serial", schedule: "R/2026-03-01T00:00:10Z/PT2M", epsilon: "PT30S", maxCompletionTime: 200_000 },
        { name: "cron", schedule: "cron:*/7 * * * *", scheduleTimeZone: "America/New_York", epsilon: "PT1M" },
        { name: "monthly", schedule: "R3/2026-03-01T00:05:00Z/P1M" },
        { name: "off", schedule: "R/2026-03-01T00:00:00Z/PT3M", disabled: true },
        { name: "child", parents: ["minutely"] },
      );
      let now = T0;
      for (let i = 0; i < 150; i++) {
        now += random.pick([1, 500, 5_000, 20_000, 61_000, 3_600_000]);
        if (random.chance(0.05)) {
          // Redefine a job now and then (a new JobState; its plan starts over).
          const name = random.pick(["serial", "off", "minutely"]);
          l.apply({ type: "job-put", at: now, spec: { ...l.jobs.get(name)!.spec, disabled: random.chance(0.5) } });
        }
        const fresh = plan(JobsLedger.fromJSON(JSON.parse(JSON.stringify(l.toJSON()))), now);
        const cached = plan(l, now);
        assert.deepEqual(cached, fresh, `seed ${seed} step ${i} at ${new Date(now).toISOString()}`);
        for (const r of cached.records) l.apply(r);
        // Launch some queued runs, start and end some attempts.
        for (const job of l.jobs.values()) {
          for (const run of job.active.values()) {
            if (run.state === "queued" && random.chance(0.6)) l.apply({ type: "attempt-launching", at: now, job: run.job, instant: run.instant, taskId: taskIdFor(run.job, run.instant, run.attempts.length), agentId: "a1" });
          }
        }
        for (const { attempt } of [...l.tasks.values()]) {
          if (attempt.startedAt === undefined && random.chance(0.5)) l.apply({ type: "attempt-started", at: now, taskId: attempt.taskId });
          else if (random.chance(0.3)) l.apply({ type: "attempt-ended", at: now, taskId: attempt.taskId, end: random.chance(0.8) ? "finished" : "failed", message: "" });
        }
      }
    }
  });

  it("softError: a parent that failed for good still triggers its children (without it, only a success does)", () => {
    for (const softError of [true, false]) {
      const l = ledgerWith({ name: "p", schedule: "R/2026-03-01T00:10:00Z/PT1H", retries: 0, softError }, { name: "c", parents: ["p"] });
      step(l, T0 + 600_000);
      const id = launch(l, "p", T0 + 600_000, T0 + 600_000);
      assert.equal(l.apply({ type: "attempt-ended", at: T0 + 610_000, taskId: id, end: "failed", exitCode: 1, message: "exit 1" }), undefined);
      assert.equal(l.jobs.get("p")!.errorCount, 1);
      const queued = step(l, T0 + 611_000).filter((r) => r.type === "run-queued" && r.job === "c");
      assert.deepEqual(queued.map((r) => r.type === "run-queued" && [r.trigger, r.instant]), softError ? [["dependency", T0 + 610_000]] : [], `softError ${softError}`);
      assert.deepEqual(step(l, T0 + 612_000).filter((r) => r.type === "run-queued"), [], "once per parent outcome");
    }
  });

  it("a data job's tasks report elements processed, added up per attempt and kept through a snapshot", () => {
    const l = ledgerWith({ name: "d", schedule: "R/2026-03-01T00:10:00Z/PT1H", dataJob: true });
    step(l, T0 + 600_000);
    const id = launch(l, "d", T0 + 600_000, T0 + 600_000);
    for (const count of [5, 7]) assert.equal(l.apply({ type: "task-progress", at: T0 + 601_000, job: "d", taskId: id, count }), undefined);
    assert.equal(l.apply({ type: "attempt-ended", at: T0 + 602_000, taskId: id, end: "finished", exitCode: 0, message: "" }), undefined);
    assert.equal(l.apply({ type: "task-progress", at: T0 + 603_000, job: "d", taskId: id, count: 1 }), undefined, "a finished task may still report");
    assert.match(l.apply({ type: "task-progress", at: T0 + 603_000, job: "d", taskId: "ct:1:0:d:", count: 1 }) ?? "", /has no task/);
    const copy = JobsLedger.fromJSON(JSON.parse(JSON.stringify(l.toJSON())));
    assert.equal(copy.jobs.get("d")!.history[0]!.attempts[0]!.elementsProcessed, 13);
  });

  it("statistics: nearest-rank percentiles and mean", () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.deepEqual([percentile(v, 50), percentile(v, 99), statOf(v, "mean"), statOf(v, "75thPercentile"), statOf([], "median")], [5, 10, 5.5, 8, undefined]);
  });
});
