/**
 * Large clusters: a text filter over a list and a cap on the rows drawn (10,000 agents or
 * 100,000 tasks would make the page unusable), saying how many are not shown.
 */
import { useState } from "preact/hooks";

export const MAX_ROWS = 500;

/** The filter's current text and an input to edit it. */
export function useFilter(placeholder: string): { text: string; input: preact.JSX.Element } {
  const [text, setText] = useState("");
  const input = (
    <input class="filter" type="search" placeholder={placeholder} value={text} onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} />
  );
  return { text: text.trim().toLowerCase(), input };
}

export function Capped(props: { shown: number; total: number }) {
  if (props.shown >= props.total) return null;
  return (
    <p class="muted">
      Showing the first {props.shown} of {props.total}; filter to find others.
    </p>
  );
}
