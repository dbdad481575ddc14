/** Role quota (GET /quota): each role's guarantee and limit per resource, and what it consumes now. */
import { useState } from "preact/hooks";
import { getJson, type QuotaJson } from "../api.js";
import { useInterval } from "../hooks.js";

const REFRESH_MS = 3000;

function amount(v: number | undefined): string {
  return v === undefined ? "—" : String(Math.round(v * 1000) / 1000);
}

export function QuotaPage() {
  const [quota, setQuota] = useState<QuotaJson | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useInterval(
    () =>
      void getJson<QuotaJson>("/quota").then(
        (q) => (setQuota(q), setError(undefined)),
        (err: unknown) => setError(String(err)),
      ),
    REFRESH_MS,
    [],
  );
  if (error) return <p class="warn">Cannot read /quota: {error}</p>;
  if (!quota) return <p class="muted">Reading /quota…</p>;
  const rows = quota.configs.flatMap((c) =>
    [...new Set([...Object.keys(c.guarantees), ...Object.keys(c.limits)])].sort().map((name) => ({ role: c.role, name, guarantee: c.guarantees[name]?.value, limit: c.limits[name]?.value, consumed: Number(c.consumed[name] ?? 0) })),
  );
  return (
    <div>
      <h2>Quota ({quota.configs.length} roles)</h2>
      {rows.length === 0 ? (
        <p class="muted">No role has quota. Set it with the Operator API's UpdateQuota (or `dcos-node quota set`).</p>
      ) : (
        <table data-testid="quota-table">
          <thead>
            <tr>
              <th>Role</th>
              <th>Resource</th>
              <th>Consumed</th>
              <th>Guarantee</th>
              <th>Limit</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.role}/${r.name}`} data-role={r.role}>
                <td>{r.role}</td>
                <td>{r.name}</td>
                <td class={r.limit !== undefined && r.consumed >= r.limit ? "warn" : ""}>{amount(r.consumed)}</td>
                <td>{amount(r.guarantee)}</td>
                <td>{amount(r.limit)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
