/** The page frame: the cluster's name, navigation and the connection to the master. */
import type { ComponentChildren } from "preact";
import type { Store } from "../store.js";

const LINKS: Array<[string, string, string]> = [
  ["", "#/", "Overview"],
  ["agents", "#/agents", "Agents"],
  ["frameworks", "#/frameworks", "Frameworks"],
  ["quota", "#/quota", "Quota"],
  ["jobs", "#/jobs", "Jobs"],
  ["services", "#/services", "Services"],
  ["events", "#/events", "Events"],
];

export function Layout(props: { store: Store; section: string; children: ComponentChildren }) {
  const { state, connection, error } = props.store;
  return (
    <div class="layout">
      <header>
        <a class="brand" href="#/">
          dcos-node
        </a>
        <span class="cluster" data-testid="cluster-name">
          {state ? `${state.cluster} · master ${state.hostname} · v${state.version}` : ""}
        </span>
        <nav>
          {LINKS.map(([section, href, label]) => (
            <a key={href} href={href} class={section === props.section ? "current" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`connection ${connection}`} data-testid="connection" title="The /events stream from the master">
          {connection}
        </span>
      </header>
      {error && <div class="banner warn">{error}</div>}
      <main>{props.children}</main>
    </div>
  );
}
