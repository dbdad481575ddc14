/** The agents list and one agent's page. */
import type { StateJson } from "../api.js";
import { dateTime } from "../format.js";
import { findAgent, matching, tasksOnAgent } from "../queries.js";
import { Capped, MAX_ROWS, useFilter } from "./filter.js";
import { UsageBars } from "./resources-cell.js";
import { TasksTable } from "./tasks-table.js";

export function AgentsList(props: { state: StateJson }) {
  const filter = useFilter("hostname, id or attribute");
  const all = matching(props.state.slaves, filter.text, (a) => [a.hostname, a.id, ...Object.entries(a.attributes ?? {}).map(([k, v]) => `${k}:${v}`)]);
  const agents = all.slice(0, MAX_ROWS);
  return (
    <div>
      <h2>
        Agents ({props.state.slaves.length}) {filter.input}
      </h2>
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
                <td>{a.active ? "active" : <span class="warn">unreachable</span>}</td>
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
        <dd>{a.active ? "active" : "unreachable"}</dd>
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
