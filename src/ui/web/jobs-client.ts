/**
 * The jobs framework's Chronos API as the web UI calls it: through the master at
 * `/service/chronos/…` (the master forwards to the API the jobs leader advertises as its
 * framework's webui_url), so the browser's credentials for the master go along when the
 * jobs API requires authentication.
 */
import type { StateJson } from "./api.js";

export interface JobSummary {
  name: string;
  status: "success" | "failure" | "fresh";
  state: "idle" | "queued" | "running";
  schedule: string;
  scheduleTimeZone: string;
  parents: string[];
  disabled: boolean;
  nextRun: string;
  lastRun: { instant: string; state: string; finishedAt: string; reason: string } | null;
  successCount: number;
  errorCount: number;
  missedCount: number;
  lastMissed: { at: string; reason: string; count: number } | null;
}

export interface AttemptJson {
  taskId: string;
  agentId: string;
  launchedAt: string;
  startedAt: string;
  endedAt: string;
  end: string;
  exitCode: number | null;
  message: string;
}

export interface RunJson {
  job: string;
  instant: string;
  trigger: string;
  state: string;
  queuedAt: string;
  finishedAt: string;
  reason: string;
  attempts: AttemptJson[];
}

export interface JobRuns {
  active: RunJson[];
  history: RunJson[];
  summary: JobSummary;
}

/** The jobs framework (Chronos's name) in the master's state: its id and its API's path on the master. */
export function jobsFramework(state: StateJson | undefined): { id: string; api: string } | undefined {
  const f = state?.frameworks.find((x) => x.name === "chronos" && x.webui_url && x.active !== false);
  return f ? { id: f.id, api: `/service/${encodeURIComponent(f.name)}` } : undefined;
}

async function call(api: string, method: string, path: string, body?: unknown): Promise<Response> {
  const r = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!r.ok) {
    const text = await r.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON
    }
    throw new Error(`${r.status}: ${message}`);
  }
  return r;
}

export const jobsApi = {
  summary: async (api: string) => ((await (await call(api, "GET", "/v1/scheduler/jobs/summary")).json()) as { jobs: JobSummary[] }).jobs,
  runs: async (api: string, name: string) => (await (await call(api, "GET", `/v1/scheduler/job/${encodeURIComponent(name)}/runs`)).json()) as JobRuns,
  runNow: (api: string, name: string) => call(api, "PUT", `/v1/scheduler/job/${encodeURIComponent(name)}`),
  remove: (api: string, name: string) => call(api, "DELETE", `/v1/scheduler/job/${encodeURIComponent(name)}`),
  /** Disables or enables a job by posting its definition back with `disabled` changed (as Chronos's UI does). */
  setDisabled: async (api: string, name: string, disabled: boolean) => {
    const job = (await (await call(api, "GET", `/v1/scheduler/job/${encodeURIComponent(name)}`)).json()) as Record<string, unknown>;
    const dependent = Array.isArray(job["parents"]) && (job["parents"] as unknown[]).length > 0;
    await call(api, "POST", dependent ? "/v1/scheduler/dependency" : "/v1/scheduler/iso8601", { ...job, disabled });
  },
};
