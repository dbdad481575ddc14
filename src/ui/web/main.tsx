/** The web UI's entry point: routes by the URL's hash, all pages read the one live store. */
import { render } from "preact";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { useRoute, useStore } from "./hooks.js";
import { store } from "./store.js";
import { AgentDetail, AgentsList } from "./views/agents.js";
import { EventFeed } from "./views/event-feed.js";
import { FrameworkDetail, FrameworksList } from "./views/frameworks.js";
import { JobDetail, JobsList } from "./views/jobs.js";
import { Layout } from "./views/layout.js";
import { Overview } from "./views/overview.js";
import { QuotaPage } from "./views/quota.js";
import { ServiceDetail, ServicesList } from "./views/services.js";
import { TaskDetail } from "./views/task.js";

function Page(props: { route: string[] }) {
  const s = useStore();
  const [section, id, second] = props.route;
  if (section === undefined || section === "") return <Overview store={s} />;
  if (section === "quota") return <QuotaPage />;
  if (section === "events") {
    return (
      <div>
        <h2>Events (newest first)</h2>
        <EventFeed events={s.events} limit={500} />
      </div>
    );
  }
  if (section === "services") return id ? <ServiceDetail state={s.state} id={id} /> : <ServicesList state={s.state} />;
  const state = s.state;
  if (!state) return <p class="muted">Waiting for the master's state…</p>;
  switch (section) {
    case "agents":
      return id ? <AgentDetail state={state} id={id} /> : <AgentsList state={state} />;
    case "frameworks":
      return id ? <FrameworkDetail state={state} id={id} /> : <FrameworksList state={state} />;
    case "jobs":
      return id ? <JobDetail state={state} name={id} /> : <JobsList state={state} />;
    case "tasks":
      if (id && second) return <TaskDetail state={state} frameworkId={id} taskId={second} />;
      break;
  }
  return <p class="warn">No page at #{props.route.join("/")}.</p>;
}

function App() {
  const route = useRoute();
  const s = useStore();
  return (
    <Layout store={s} section={route[0] ?? ""}>
      <Page route={route} />
    </Layout>
  );
}

store.start();
render(<App />, document.getElementById("app")!);
