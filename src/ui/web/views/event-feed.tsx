/**
 * The live event feed: newest first, each line linking to what it is about. `compact`
 * leaves out offers and raw status updates (TASK_UPDATED says the same, once).
 */
import type { EventJson } from "../api.js";
import { describeEvent } from "../describe-event.js";
import { clockTime } from "../format.js";

const NOISY = /^(OFFERS?_|STATUS_UPDATE$)/;

export function EventFeed(props: { events: EventJson[]; limit: number; compact?: boolean }) {
  const shown = (props.compact ? props.events.filter((e) => !NOISY.test(e.type)) : props.events).slice(0, props.limit);
  if (shown.length === 0) return <p class="muted">No events yet: they appear here as they happen.</p>;
  return (
    <ol class="events" data-testid="event-feed">
      {shown.map((e) => {
        const line = describeEvent(e);
        return (
          <li key={e.sequence} data-type={e.type}>
            <time>{clockTime(e.timestamp)}</time> <span class="type">{e.type}</span> {line.href ? <a href={line.href}>{line.text}</a> : line.text}
          </li>
        );
      })}
    </ol>
  );
}
