/** The live event feed: newest first, each line linking to what it is about. */
import type { EventJson } from "../api.js";
import { describeEvent } from "../describe-event.js";
import { clockTime } from "../format.js";

export function EventFeed(props: { events: EventJson[]; limit: number; hideOffers?: boolean }) {
  const shown = (props.hideOffers ? props.events.filter((e) => !e.type.startsWith("OFFER")) : props.events).slice(0, props.limit);
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
