/** One task: where it runs, its status history, and its sandbox. */
import type { StateJson } from "../api.js";
import { dateTime } from "../format.js";
import { agentName, findTask, frameworkName } from "../queries.js";
import { resourcesText } from "./resources-cell.js";
import { Sandbox } from "./sandbox.js";

export function TaskDetail(props: { state: StateJson; frameworkId: string; taskId: string }) {
  const t = findTask(props.state, props.frameworkId, props.taskId);
  if (!t) return <p class="warn">No task {props.taskId} of framework {props.frameworkId} in the master's state.</p>;
  return (
    <div data-testid="task-detail">
      <h2>
        Task {t.id} <span class={`state ${t.state}`} data-testid="task-state">{t.state}</span>
      </h2>
      <dl class="facts">
        <dt>Name</dt>
        <dd>{t.name}</dd>
        <dt>Framework</dt>
        <dd>
          <a href={`#/frameworks/${encodeURIComponent(t.framework_id)}`}>{frameworkName(props.state, t.framework_id)}</a>
        </dd>
        <dt>Agent</dt>
        <dd>
          <a href={`#/agents/${encodeURIComponent(t.slave_id)}`}>{agentName(props.state, t.slave_id)}</a>
        </dd>
        <dt>Executor</dt>
        <dd class="mono">{t.executor_id || "–"}</dd>
        <dt>Resources</dt>
        <dd>{resourcesText(t.resources)}</dd>
        <dt>Role</dt>
        <dd>{t.role}</dd>
      </dl>
      <h3>Status history</h3>
      <ol class="statuses">
        {t.statuses.map((s, i) => (
          <li key={i}>
            {dateTime(s.timestamp)} <span class={`state ${s.state}`}>{s.state}</span> {s.message ?? ""}
          </li>
        ))}
      </ol>
      <Sandbox frameworkId={t.framework_id} taskId={t.id} />
    </div>
  );
}
