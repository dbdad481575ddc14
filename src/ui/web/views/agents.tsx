/** The agents list and one agent's page. */
import { useState } from "preact/hooks";
import { postJson, type AgentJson, type StateJson } from "../api.js";
import { dateTime } from "../format.js";
import { findAgent, frameworkName, matching, tasksOnAgent } from "../queries.js";
import { Capped, MAX_ROWS, useFilter } from "./filter.js";
import { UsageBars } from "./resources-cell.js";
import { TasksTable } from "./tasks-table.js";

/** Machines down for maintenance now and windows ahead, with who agreed to them. */
function MaintenanceWindows(props: { state: StateJson }) {
  const m = props.state.maintenance_status;
  if (!m || (m.draining_machines.length === 0 && m.down_machines.length === 0)) return null;
  return (
    <div data-testid="maintenance">
      <h3>Maintenance</h3>
      <table>
        <thead>
          <tr>
            <th>Machine</th>
            <th>Mode</th>
            <th>Window</th>
            <th>Frameworks' answers</th>
          </tr>
        </thead>
        <tbody>
          {m.down_machines.map((d) => (
            <tr key={`down-${d.hostname}/${d.ip}`}>
              <td>{d.hostname || d.ip}</td>
              <td class="warn">down</td>
              <td />
              <td />
            </tr>
          ))}
          {m.draining_machines.map((d) => (
            <tr key={`ahead-${d.id.hostname}/${d.id.ip}`}>
              <td>{d.id.hostname || d.id.ip}</td>
              <td>maintenance ahead</td>
              <td>
                {dateTime(d.unavailability.start.nanoseconds / 1e9)} for {Math.round(d.unavailability.duration.nanoseconds / 6e10)} min
              </td>
              <td>{d.statuses.length === 0 ? "no framework uses it" : d.statuses.map((s) => `${frameworkName(props.state, s.framework_id)}: ${s.status.toLowerCase()}`).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AgentsList(props: { state: StateJson }) {
  const filter = useFilter("hostname, id or attribute");
  const all = matching(props.state.slaves, filter.text, (a) => [a.hostname, a.id, ...Object.entries(a.attributes ?? {}).map(([k, v]) => `${k}:${v}`)]);
  const agents = all.slice(0, MAX_ROWS);
  return (
    <div>
      <h2>
        Agents ({props.state.slaves.length}) {filter.input}
      </h2>
      <MaintenanceWindows state={props.state} />
      <Capped shown={agents.length} total={all.length} />
      {agents.length === 0 ? (
        <p class="muted">{filter.text ? "No agent matches." : "No agent is registered."}</p>
      ) : (
        <table data-testid="agents-table">
          <thead>
            <tr>
              <th>Hostname</th>
              <th>Id</th>
              <th>Status</th>
              <th>Used / total</th>
              <th>Registered</th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.id} data-agent={a.id}>
                <td>
                  <a href={`#/agents/${encodeURIComponent(a.id)}`}>{a.hostname}</a>
                </td>
                <td class="mono">{a.id}</td>
                <td>
                  <AgentStatus agent={a} />
                </td>
                <td>
                  <UsageBars used={a.used_resources} total={a.resources} />
                </td>
                <td>{dateTime(a.registered_time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** active, unreachable, deactivated, draining or drained. */
export function agentStatus(a: AgentJson): string {
  if (!a.active) return "unreachable";
  if (a.drain_info) return a.drain_info.state.toLowerCase();
  return a.deactivated ? "deactivated" : "active";
}

function AgentStatus(props: { agent: AgentJson }) {
  const status = agentStatus(props.agent);
  return <span class={status === "active" ? "" : "warn"} data-testid="agent-status">{status}</span>;
}

/** Drain (with an optional max grace period) or reactivate, through the master's /ui/agents routes. */
function DrainButtons(props: { agent: AgentJson }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const a = props.agent;
  const run = (action: "drain" | "reactivate", body: object) => {
    setBusy(true);
    setError(undefined);
    postJson(`/ui/agents/${encodeURIComponent(a.id)}/${action}`, body).then(
      () => setBusy(false),
      (err: unknown) => (setBusy(false), setError(String(err))),
    );
  };
  const drain = () => {
    const grace = window.prompt(`Drain ${a.hostname}: its tasks are killed and it gets no more offers.\nLongest kill grace period in seconds (empty: each task's own):`, "");
    if (grace === null) return;
    run("drain", grace.trim() === "" ? {} : { max_grace_period_seconds: Number(grace) });
  };
  return (
    <span>
      {a.deactivated || a.drain_info ? (
        <button disabled={busy} onClick={() => run("reactivate", {})} data-testid="reactivate-agent">
          Reactivate
        </button>
      ) : (
        <button disabled={busy || !a.active} onClick={drain} data-testid="drain-agent">
          Drain
        </button>
      )}
      {error && <span class="warn"> {error}</span>}
    </span>
  );
}

export function AgentDetail(props: { state: StateJson; id: string }) {
  const a = findAgent(props.state, props.id);
  if (!a) return <p class="warn">No agent {props.id} in the master's state (it may have been removed).</p>;
  const attributes = Object.entries(a.attributes ?? {});
  return (
    <div data-testid="agent-detail">
      <h2>
        Agent {a.hostname} <small class="mono">{a.id}</small>
      </h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <AgentStatus agent={a} /> <DrainButtons agent={a} />
        </dd>
        <dt>Pid</dt>
        <dd class="mono">{a.pid}</dd>
        <dt>Registered</dt>
        <dd>{dateTime(a.registered_time)}</dd>
        <dt>Attributes</dt>
        <dd>{attributes.length ? attributes.map(([k, v]) => `${k}=${v}`).join(", ") : "none"}</dd>
        <dt>Resources</dt>
        <dd>
          <UsageBars used={a.used_resources} total={a.resources} />
        </dd>
        <dt>Offered</dt>
        <dd>
          <UsageBars used={a.offered_resources} total={a.resources} />
        </dd>
      </dl>
      <h3>Tasks</h3>
      <TasksTable state={props.state} tasks={tasksOnAgent(props.state, a.id)} show="framework" />
    </div>
  );
}
