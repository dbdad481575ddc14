/**
 * The services pages: the apps of the services framework (Marathon's /v2 API, found at
 * the webui_url of the framework labelled DCOS_NODE_FRAMEWORK=services) with their
 * health and instance counts, one app's instances, versions, deployments and why it
 * waits, and forms to create, scale, restart and destroy.
 */
import { useState } from "preact/hooks";
import type { StateJson } from "../api.js";
import { useInterval } from "../hooks.js";

interface AppView {
  id: string;
  instances: number;
  cpus: number;
  mem: number;
  cmd?: string;
  version: string;
  tasksRunning: number;
  tasksHealthy: number;
  tasksStaged: number;
  tasksUnhealthy: number;
  healthChecks?: unknown[];
  deployments: { id: string }[];
  tasks?: { id: string; host: string; ports: number[]; state: string; startedAt: string | null; healthCheckResults?: { alive: boolean }[] }[];
  lastTaskFailure?: { message: string; state: string; timestamp: string };
}

interface QueueItem {
  app: { id: string };
  count: number;
  delay: { timeLeftSeconds: number };
  processedOffersSummary: { processedOffersCount: number; unusedOffersCount: number; rejectSummaryLastOffers: { reason: string; declined: number }[] };
}

/** The services API's base URL, from the master's state. */
export function servicesUrl(state: StateJson | undefined): string | undefined {
  const f = state?.frameworks.find((x) => x.active !== false && x.webui_url && (x.labels ?? []).some((l) => l.key === "DCOS_NODE_FRAMEWORK" && l.value === "services"));
  return f?.webui_url?.replace(/\/$/, "");
}

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/json", accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  const parsed = text === "" ? {} : (JSON.parse(text) as T & { message?: string; details?: { path: string; errors: string[] }[] });
  if (!r.ok) {
    const p = parsed as { message?: string; details?: { path: string; errors: string[] }[] };
    throw new Error(`${r.status}: ${p.message ?? text}${(p.details ?? []).map((d) => ` ${d.path}: ${d.errors.join("; ")}`).join(",")}`);
  }
  return parsed as T;
}

function useServices<T>(base: string | undefined, path: string, ms = 2000): { data?: T; error?: string; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = () => {
    if (!base) return;
    call<T>(base, "GET", path).then(
      (d) => {
        setData(d);
        setError(undefined);
      },
      (e: unknown) => setError(String(e)),
    );
  };
  useInterval(load, ms, [base, path]);
  return { data, error, reload: load };
}

function health(a: AppView): string {
  if (!a.healthChecks || a.healthChecks.length === 0) return a.tasksRunning === a.instances ? "running" : "—";
  if (a.tasksUnhealthy > 0) return "unhealthy";
  return a.tasksHealthy === a.instances ? "healthy" : "deploying";
}

const EXAMPLE = JSON.stringify({ id: "/hello", cmd: "python3 -m http.server $PORT0", cpus: 0.1, mem: 64, instances: 2, healthChecks: [{ protocol: "MESOS_HTTP", path: "/", intervalSeconds: 2, gracePeriodSeconds: 10 }] }, null, 2);

export function ServicesList(props: { state: StateJson | undefined }) {
  const base = servicesUrl(props.state);
  const apps = useServices<{ apps: AppView[] }>(base, "/v2/apps?embed=apps.counts&embed=apps.deployments");
  const queue = useServices<{ queue: QueueItem[] }>(base, "/v2/queue");
  const [json, setJson] = useState(EXAMPLE);
  const [message, setMessage] = useState<string | undefined>(undefined);
  if (!base) return <p class="muted">No services framework is subscribed (it runs in the dev cluster, or as `dcos-node services`).</p>;
  const act = (p: Promise<unknown>, done: string) =>
    p.then(
      () => {
        setMessage(done);
        apps.reload();
      },
      (e: unknown) => setMessage(String(e)),
    );
  const waiting = new Map((queue.data?.queue ?? []).map((q) => [q.app.id, q]));
  return (
    <div data-testid="services">
      <h2>Services ({apps.data?.apps.length ?? 0} apps)</h2>
      {apps.error && <div class="banner warn">{apps.error}</div>}
      {message && (
        <div class="banner" data-testid="services-message">
          {message}
        </div>
      )}
      <table data-testid="services-table">
        <thead>
          <tr>
            <th>App</th>
            <th>Health</th>
            <th>Instances</th>
            <th>Running</th>
            <th>Healthy</th>
            <th>Staged</th>
            <th>CPUs</th>
            <th>Mem</th>
            <th>Waiting</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {(apps.data?.apps ?? []).map((a) => {
            const q = waiting.get(a.id);
            return (
              <tr key={a.id} data-app={a.id}>
                <td>
                  <a href={`#/services/${encodeURIComponent(a.id)}`}>{a.id}</a>
                </td>
                <td data-testid="app-health">{a.deployments.length > 0 ? `deploying (${health(a)})` : health(a)}</td>
                <td class="num">{a.instances}</td>
                <td class="num" data-testid="app-running">
                  {a.tasksRunning}
                </td>
                <td class="num">{a.tasksHealthy}</td>
                <td class="num">{a.tasksStaged}</td>
                <td class="num">{a.cpus}</td>
                <td class="num">{a.mem}</td>
                <td>{q ? `${q.count} waiting${q.delay.timeLeftSeconds > 0 ? `, delayed ${q.delay.timeLeftSeconds}s` : ""}` : ""}</td>
                <td>
                  <ScaleForm app={a} onScale={(n) => act(call(base, "PUT", `/v2/apps${a.id}`, { instances: n }), `Scaling ${a.id} to ${n}`)} />
                  <button onClick={() => act(call(base, "POST", `/v2/apps${a.id}/restart`), `Restarting ${a.id}`)}>Restart</button>
                  <button data-testid="destroy" onClick={() => confirm(`Destroy ${a.id}?`) && act(call(base, "DELETE", `/v2/apps${a.id}`), `Destroying ${a.id}`)}>
                    Destroy
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Create an app (Marathon app JSON)</h3>
      <textarea data-testid="app-json" rows={10} cols={80} value={json} onInput={(e) => setJson((e.target as HTMLTextAreaElement).value)} />
      <div>
        <button
          data-testid="create-app"
          onClick={() => {
            let def: unknown;
            try {
              def = JSON.parse(json);
            } catch (e) {
              setMessage(`Not JSON: ${String(e)}`);
              return;
            }
            void act(call(base, "POST", "/v2/apps", def), `Created ${(def as { id?: string }).id ?? "the app"}`);
          }}
        >
          Create
        </button>
      </div>
    </div>
  );
}

function ScaleForm(props: { app: AppView; onScale: (n: number) => void }) {
  const [n, setN] = useState(String(props.app.instances));
  return (
    <span class="scale">
      <input type="number" min="0" value={n} style="width: 4em" data-testid="scale-input" onInput={(e) => setN((e.target as HTMLInputElement).value)} />
      <button data-testid="scale" onClick={() => props.onScale(Number(n))}>
        Scale
      </button>
    </span>
  );
}

export function ServiceDetail(props: { state: StateJson | undefined; id: string }) {
  const base = servicesUrl(props.state);
  const path = `/v2/apps${props.id}`;
  const app = useServices<{ app: AppView }>(base, `${path}?embed=app.tasks`);
  const versions = useServices<{ versions: string[] }>(base, `${path}/versions`, 5000);
  const deployments = useServices<{ id: string; affectedApps: string[]; currentActions: { action: string }[]; deadline?: string }[]>(base, "/v2/deployments");
  const queue = useServices<{ queue: QueueItem[] }>(base, "/v2/queue");
  if (!base) return <p class="muted">No services framework is subscribed.</p>;
  const a = app.data?.app;
  const q = queue.data?.queue.find((x) => x.app.id === props.id);
  return (
    <div data-testid="service-detail">
      <h2>
        App {props.id} <small>{a ? `version ${a.version}` : ""}</small>
      </h2>
      {app.error && <div class="banner warn">{app.error}</div>}
      {a?.cmd && <p class="mono">{a.cmd}</p>}
      {a?.lastTaskFailure && <p class="warn">Last failure: {a.lastTaskFailure.state} {a.lastTaskFailure.message} at {a.lastTaskFailure.timestamp}</p>}
      <h3>Instances</h3>
      <table data-testid="instances-table">
        <thead>
          <tr>
            <th>Instance</th>
            <th>State</th>
            <th>Healthy</th>
            <th>Host</th>
            <th>Ports</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {(a?.tasks ?? []).map((t) => (
            <tr key={t.id}>
              <td class="mono">{t.id}</td>
              <td>{t.state}</td>
              <td>{t.healthCheckResults && t.healthCheckResults.length > 0 ? String(t.healthCheckResults.every((r) => r.alive)) : "—"}</td>
              <td>{t.host}</td>
              <td>{t.ports.join(", ")}</td>
              <td>{t.startedAt ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {q && (
        <div data-testid="queue">
          <h3>Waiting to launch: {q.count}</h3>
          <p>
            {q.processedOffersSummary.processedOffersCount} offers looked at, {q.processedOffersSummary.unusedOffersCount} not used
            {q.delay.timeLeftSeconds > 0 ? `; launch delayed ${q.delay.timeLeftSeconds} s (backoff)` : ""}
          </p>
          <ul>
            {q.processedOffersSummary.rejectSummaryLastOffers.map((r) => (
              <li key={r.reason}>
                {r.reason}: {r.declined}
              </li>
            ))}
          </ul>
        </div>
      )}
      <h3>Deployments</h3>
      <ul>
        {(deployments.data ?? [])
          .filter((d) => d.affectedApps.includes(props.id))
          .map((d) => (
            <li key={d.id} class="mono">
              {d.id} {d.currentActions.map((x) => x.action).join(", ")} {d.deadline ? `(deadline ${d.deadline})` : ""}
            </li>
          ))}
      </ul>
      <h3>Versions</h3>
      <ul>
        {(versions.data?.versions ?? []).map((v) => (
          <li key={v} class="mono">
            {v}
          </li>
        ))}
      </ul>
    </div>
  );
}
