/** A table of tasks linking to each task's page (and its sandbox), its framework and agent. */
import type { StateJson, TaskJson } from "../api.js";
import { dateTime } from "../format.js";
import { agentName, frameworkName, matching } from "../queries.js";
import { Capped, MAX_ROWS, useFilter } from "./filter.js";
import { resourcesText } from "./resources-cell.js";

export const taskHref = (t: TaskJson): string => `#/tasks/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.id)}`;

function lastChange(t: TaskJson): number | undefined {
  return t.statuses[t.statuses.length - 1]?.timestamp;
}

export function TasksTable(props: { state: StateJson; tasks: TaskJson[]; show: "framework" | "agent" }) {
  const filter = useFilter("task id, name or state");
  if (props.tasks.length === 0) return <p class="muted">No tasks.</p>;
  const all = matching(props.tasks, filter.text, (t) => [t.id, t.name, t.state]);
  const tasks = all.slice(0, MAX_ROWS);
  return (
    <div>
      {props.tasks.length > 10 && filter.input}
      <Capped shown={tasks.length} total={all.length} />
      <table class="tasks" data-testid="tasks-table">
        <thead>
          <tr>
            <th>Task</th>
            <th>Name</th>
            <th>State</th>
            <th>{props.show === "framework" ? "Framework" : "Agent"}</th>
            <th>Resources</th>
            <th>Last change</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={`${t.framework_id}/${t.id}`} data-task={t.id}>
              <td>
                <a href={taskHref(t)}>{t.id}</a>
              </td>
              <td>{t.name}</td>
              <td>
                <span class={`state ${t.state}`}>{t.state}</span>
              </td>
              <td>
                {props.show === "framework" ? (
                  <a href={`#/frameworks/${encodeURIComponent(t.framework_id)}`}>{frameworkName(props.state, t.framework_id)}</a>
                ) : (
                  <a href={`#/agents/${encodeURIComponent(t.slave_id)}`}>{agentName(props.state, t.slave_id)}</a>
                )}
              </td>
              <td>{resourcesText(t.resources)}</td>
              <td>{dateTime(lastChange(t))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
