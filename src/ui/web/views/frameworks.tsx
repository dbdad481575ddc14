/** The frameworks list and one framework's page with its tasks. */
import type { FrameworkJson, StateJson } from "../api.js";
import { dateTime } from "../format.js";
import { findFramework } from "../queries.js";
import { resourcesText } from "./resources-cell.js";
import { TasksTable } from "./tasks-table.js";

function status(f: FrameworkJson, done: boolean): string {
  if (done) return "completed";
  return f.connected ? "connected" : "disconnected";
}

export function FrameworksList(props: { state: StateJson }) {
  const rows = [...props.state.frameworks.map((f) => ({ f, done: false })), ...(props.state.completed_frameworks ?? []).map((f) => ({ f, done: true }))];
  return (
    <div>
      <h2>Frameworks ({props.state.frameworks.length} active)</h2>
      {rows.length === 0 ? (
        <p class="muted">No framework has subscribed.</p>
      ) : (
        <table data-testid="frameworks-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Id</th>
              <th>Role</th>
              <th>Status</th>
              <th>Active tasks</th>
              <th>Using</th>
              <th>Registered</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ f, done }) => (
              <tr key={f.id} data-framework={f.id}>
                <td>
                  <a href={`#/frameworks/${encodeURIComponent(f.id)}`}>{f.name}</a>
                </td>
                <td class="mono">{f.id}</td>
                <td>{f.role}</td>
                <td>{status(f, done)}</td>
                <td class="num">{f.tasks.length}</td>
                <td>{resourcesText(f.used_resources)}</td>
                <td>{dateTime(f.registered_time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function FrameworkDetail(props: { state: StateJson; id: string }) {
  const f = findFramework(props.state, props.id);
  if (!f) return <p class="warn">No framework {props.id} in the master's state.</p>;
  return (
    <div data-testid="framework-detail">
      <h2>
        Framework {f.name} <small class="mono">{f.id}</small>
      </h2>
      <dl class="facts">
        <dt>User</dt>
        <dd>{f.user || "–"}</dd>
        <dt>Roles</dt>
        <dd>{(f.roles ?? [f.role]).join(", ")}</dd>
        <dt>Hostname</dt>
        <dd>{f.hostname || "–"}</dd>
        <dt>Registered</dt>
        <dd>{dateTime(f.registered_time)}</dd>
        <dt>Using</dt>
        <dd>{resourcesText(f.used_resources) || "nothing"}</dd>
        <dt>Offered</dt>
        <dd>{resourcesText(f.offered_resources) || "nothing"}</dd>
      </dl>
      <h3>Active tasks</h3>
      <TasksTable state={props.state} tasks={[...f.tasks, ...(f.unreachable_tasks ?? [])]} show="agent" />
      <h3>Completed tasks</h3>
      <TasksTable state={props.state} tasks={[...(f.completed_tasks ?? [])].reverse()} show="agent" />
    </div>
  );
}
