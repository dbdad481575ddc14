/**
 * The jobs pages: the list of jobs with status, next run and last outcome, actions (run
 * now, disable/enable, delete), the dependency graph laid out by dagre, and one job's
 * runs with their attempts (each task links to its sandbox and output).
 */
import dagre from "@dagrejs/dagre";
import { useState } from "preact/hooks";
import type { StateJson } from "../api.js";
import { useInterval } from "../hooks.js";
import { jobsApi, jobsFramework, type JobRuns, type JobSummary } from "../jobs-client.js";

const when = (iso: string) => (iso ? new Date(iso).toLocaleString() : "–");

function useJobs(api: string | undefined): { jobs: JobSummary[] | undefined; error: string; reload: () => void } {
  const [jobs, setJobs] = useState<JobSummary[] | undefined>(undefined);
  const [error, setError] = useState("");
  const reload = () => {
    if (!api) return;
    jobsApi.summary(api).then(
      (j) => {
        setJobs(j);
        setError("");
      },
      (e: Error) => setError(e.message),
    );
  };
  useInterval(reload, 2_000, [api]);
  return { jobs, error, reload };
}

function NoJobsFramework() {
  return <p class="muted">The jobs framework (Chronos-compatible) has not subscribed to this cluster, or has no web address.</p>;
}

export function JobsList(props: { state: StateJson }) {
  const fw = jobsFramework(props.state);
  const { jobs, error, reload } = useJobs(fw?.api);
  const [actionError, setActionError] = useState("");
  if (!fw) return <NoJobsFramework />;
  const act = (p: Promise<unknown>) =>
    p.then(
      () => {
        setActionError("");
        reload();
      },
      (e: Error) => setActionError(e.message),
    );
  return (
    <div data-testid="jobs-page">
      <h2>
        Jobs <small class="mono">{fw.api}</small>
      </h2>
      {error && <p class="warn">{error}</p>}
      {actionError && (
        <p class="warn" data-testid="jobs-action-error">
          {actionError}
        </p>
      )}
      {!jobs ? (
        <p class="muted">Loading…</p>
      ) : jobs.length === 0 ? (
        <p class="muted">No jobs. Post Chronos job JSON to {fw.api}/v1/scheduler/iso8601, or run `dcos-node job add FILE.json`.</p>
      ) : (
        <>
          <table data-testid="jobs-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Schedule / parents</th>
                <th>State</th>
                <th>Last outcome</th>
                <th>Next run</th>
                <th class="num">Successes</th>
                <th class="num">Errors</th>
                <th class="num">Missed</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.name} data-job={j.name}>
                  <td>
                    <a href={`#/jobs/${encodeURIComponent(j.name)}`}>{j.name}</a>
                  </td>
                  <td class="mono">{j.parents.length ? `after ${j.parents.join(", ")}` : `${j.schedule}${j.scheduleTimeZone ? ` (${j.scheduleTimeZone})` : ""}`}</td>
                  <td data-testid="job-state">{j.disabled ? "disabled" : j.state}</td>
                  <td data-testid="job-status">
                    <span class={`state ${j.status === "success" ? "TASK_FINISHED" : j.status === "failure" ? "TASK_FAILED" : ""}`}>{j.status}</span>
                  </td>
                  <td data-testid="job-next">{when(j.nextRun)}</td>
                  <td class="num">{j.successCount}</td>
                  <td class="num">{j.errorCount}</td>
                  <td class="num" title={j.lastMissed?.reason ?? ""}>
                    {j.missedCount}
                  </td>
                  <td>
                    <button data-action="run" onClick={() => act(jobsApi.runNow(fw.api, j.name))}>
                      Run now
                    </button>{" "}
                    <button data-action="toggle" onClick={() => act(jobsApi.setDisabled(fw.api, j.name, !j.disabled))}>
                      {j.disabled ? "Enable" : "Disable"}
                    </button>{" "}
                    <button data-action="delete" onClick={() => confirm(`Delete job ${j.name}?`) && act(jobsApi.remove(fw.api, j.name))}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Dependencies</h3>
          <JobsGraph jobs={jobs} />
        </>
      )}
    </div>
  );
}

const NODE_W = 150;
const NODE_H = 36;
const FILL: Record<string, string> = { success: "#d7f2e1", failure: "#fde2e1", fresh: "#fff" };

/** The dependency graph, laid out by dagre (ranks top to bottom, parents above children). */
export function JobsGraph(props: { jobs: JobSummary[] }) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 40, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(props.jobs.map((j) => j.name));
  for (const j of props.jobs) g.setNode(j.name, { width: NODE_W, height: NODE_H });
  for (const j of props.jobs) for (const p of j.parents) if (names.has(p)) g.setEdge(p, j.name);
  dagre.layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  const width = Math.max(graph.width ?? 0, NODE_W + 16);
  const height = Math.max(graph.height ?? 0, NODE_H + 16);
  return (
    <svg data-testid="jobs-graph" width={width} height={height} viewBox={`0 0 ${width} ${height}`} class="chart">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280" />
        </marker>
      </defs>
      {g.edges().map((e) => {
        const pts = (g.edge(e) as { points: { x: number; y: number }[] }).points;
        return <polyline key={`${e.v}->${e.w}`} data-edge={`${e.v}->${e.w}`} points={pts.map((p) => `${p.x},${p.y}`).join(" ")} fill="none" stroke="#6b7280" marker-end="url(#arrow)" />;
      })}
      {props.jobs.map((j) => {
        const n = g.node(j.name) as { x: number; y: number };
        return (
          <a key={j.name} href={`#/jobs/${encodeURIComponent(j.name)}`} data-node={j.name}>
            <rect x={n.x - NODE_W / 2} y={n.y - NODE_H / 2} width={NODE_W} height={NODE_H} rx={6} fill={j.disabled ? "#eef1f5" : FILL[j.status]} stroke={j.state === "running" ? "#1e4e8c" : "#9ca3af"} stroke-width={j.state === "running" ? 2 : 1} />
            <text x={n.x} y={n.y + 4} text-anchor="middle" font-size="12">
              {j.name.length > 20 ? `${j.name.slice(0, 19)}…` : j.name}
            </text>
          </a>
        );
      })}
    </svg>
  );
}

export function JobDetail(props: { state: StateJson; name: string }) {
  const fw = jobsFramework(props.state);
  const [runs, setRuns] = useState<JobRuns | undefined>(undefined);
  const [error, setError] = useState("");
  useInterval(
    () => {
      if (fw) jobsApi.runs(fw.api, props.name).then(setRuns, (e: Error) => setError(e.message));
    },
    2_000,
    [fw?.api, props.name],
  );
  if (!fw) return <NoJobsFramework />;
  if (error && !runs) return <p class="warn">{error}</p>;
  if (!runs) return <p class="muted">Loading…</p>;
  const all = [...runs.active, ...runs.history];
  return (
    <div data-testid="job-detail">
      <h2>
        Job {props.name} <small>{runs.summary.disabled ? "disabled" : runs.summary.state}</small>
      </h2>
      <dl class="facts">
        <dt>Schedule</dt>
        <dd class="mono">{runs.summary.parents.length ? `after ${runs.summary.parents.join(", ")}` : runs.summary.schedule}</dd>
        <dt>Next run</dt>
        <dd>{when(runs.summary.nextRun)}</dd>
        <dt>Successes / errors / missed</dt>
        <dd>
          {runs.summary.successCount} / {runs.summary.errorCount} / {runs.summary.missedCount}
        </dd>
        {runs.summary.lastMissed && (
          <>
            <dt>Last missed</dt>
            <dd>
              {when(runs.summary.lastMissed.at)}: {runs.summary.lastMissed.reason}
            </dd>
          </>
        )}
      </dl>
      <h3>Runs</h3>
      {all.length === 0 ? (
        <p class="muted">No runs yet.</p>
      ) : (
        <table data-testid="job-runs">
          <thead>
            <tr>
              <th>Due</th>
              <th>Trigger</th>
              <th>State</th>
              <th>Attempts (task, exit code, output)</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {all.map((r) => (
              <tr key={`${r.instant}-${r.trigger}`} data-run={r.state}>
                <td>{when(r.instant)}</td>
                <td>{r.trigger}</td>
                <td>{r.state}</td>
                <td>
                  {r.attempts.map((a) => (
                    <div key={a.taskId}>
                      <a class="mono" href={`#/tasks/${encodeURIComponent(fw.id)}/${encodeURIComponent(a.taskId)}`} data-task={a.taskId}>
                        {a.taskId}
                      </a>{" "}
                      {a.end || "running"}
                      {a.exitCode !== null ? ` (exit ${a.exitCode})` : ""}
                    </div>
                  ))}
                </td>
                <td>{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
