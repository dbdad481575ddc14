/** The cluster at a glance: counts, tasks by state, resources over the last hour, latest events. */
import type { StateJson } from "../api.js";
import { tasksByState } from "../queries.js";
import type { Store } from "../store.js";
import { EventFeed } from "./event-feed.js";
import { ResourceChart } from "./resource-chart.js";

function Stat(props: { label: string; value: number | string; href?: string; testid: string }) {
  const value = <span class="stat-value" data-testid={props.testid}>{props.value}</span>;
  return (
    <div class="stat">
      {props.href ? <a href={props.href}>{value}</a> : value}
      <span class="stat-label">{props.label}</span>
    </div>
  );
}

function Counts(props: { state: StateJson }) {
  const s = props.state;
  const running = s.frameworks.reduce((n, f) => n + f.tasks.filter((t) => t.state === "TASK_RUNNING").length, 0);
  return (
    <div class="stats">
      <Stat label="agents active" value={s.activated_slaves} href="#/agents" testid="agents-active" />
      <Stat label="agents unreachable" value={s.unreachable_slaves} href="#/agents" testid="agents-unreachable" />
      <Stat label="frameworks" value={s.frameworks.length} href="#/frameworks" testid="frameworks-count" />
      <Stat label="tasks running" value={running} testid="tasks-running" />
    </div>
  );
}

function TaskStates(props: { state: StateJson }) {
  const rows = tasksByState(props.state);
  if (rows.length === 0) return <p class="muted">No tasks yet.</p>;
  return (
    <table class="task-states" data-testid="task-states">
      <tbody>
        {rows.map(([name, n]) => (
          <tr key={name}>
            <td>
              <span class={`state ${name}`}>{name}</span>
            </td>
            <td class="num">{n}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Overview(props: { store: Store }) {
  const { state, series, version, events } = props.store;
  return (
    <div class="overview">
      {state ? <Counts state={state} /> : <p class="muted">Waiting for the master's state…</p>}
      <div class="columns">
        <div class="main-column">
          <h2>Resources, last hour</h2>
          <ResourceChart kind="cpus" series={series} version={version} />
          <ResourceChart kind="mem" series={series} version={version} />
          <ResourceChart kind="disk" series={series} version={version} />
        </div>
        <div class="side-column">
          <h2>Tasks by state</h2>
          {state && <TaskStates state={state} />}
          <h2>
            Events <a href="#/events">all</a>
          </h2>
          <EventFeed events={events} limit={15} compact />
        </div>
      </div>
    </div>
  );
}
