/** "used / total" for cpus, mem and disk, with a small bar each. */
import type { Resources } from "../api.js";
import { percent, resourceValue } from "../format.js";

const KINDS = ["cpus", "mem", "disk"] as const;

export function UsageBars(props: { used: Resources | undefined; total: Resources }) {
  return (
    <div class="usage">
      {KINDS.map((k) => {
        const used = Number(props.used?.[k] ?? 0);
        const total = Number(props.total[k] ?? 0);
        return (
          <div key={k} class="usage-row" title={`${k}: ${resourceValue(k, used)} of ${resourceValue(k, total)}`}>
            <span class="usage-kind">{k}</span>
            <span class="bar">
              <span style={{ width: total > 0 ? `${Math.min(100, (used / total) * 100)}%` : "0" }} />
            </span>
            <span class="usage-text">
              {resourceValue(k, used)} / {resourceValue(k, total)} ({percent(used, total)})
            </span>
          </div>
        );
      })}
    </div>
  );
}

/** A task's or an offer's resources on one line. */
export function resourcesText(r: Resources | undefined): string {
  if (!r) return "";
  return KINDS.filter((k) => Number(r[k]) > 0)
    .map((k) => `${k} ${resourceValue(k, Number(r[k]))}`)
    .join(", ");
}
