/**
 * `dcos-node app add FILE.json | list | show ID | scale ID N | restart ID | remove ID`:
 * the services API (Marathon's /v2/apps) from the command line.
 */
import { readFile } from "node:fs/promises";
import { Command, InvalidArgumentError } from "commander";

const DEFAULT_URL = process.env["DCOS_SERVICES_URL"] ?? "http://127.0.0.1:8080";

interface Globals {
  url: string;
  force?: boolean;
  json?: boolean;
}

async function call(g: Globals, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, g.url), {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(`cannot reach the services API at ${g.url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.text();
  const parsed: unknown = text === "" ? {} : JSON.parse(text);
  if (!res.ok) {
    const p = parsed as { message?: string; details?: { path: string; errors: string[] }[] };
    const details = (p.details ?? []).map((d) => `\n  ${d.path}: ${d.errors.join("; ")}`).join("");
    throw new Error(`${method} ${path} answered ${res.status}: ${p.message ?? text}${details}`);
  }
  return parsed;
}

const appPath = (id: string) => `/v2/apps/${id.replace(/^\/+/, "")}`;
const q = (g: Globals) => (g.force ? "?force=true" : "");

interface AppView {
  id: string;
  instances: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksStaged?: number;
  cpus: number;
  mem: number;
  cmd?: string;
  deployments?: { id: string }[];
  version?: string;
  tasks?: { id: string; host: string; ports: number[]; state: string; healthCheckResults?: { alive: boolean }[] }[];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

export function appSubcommand(): Command {
  const app = new Command("app")
    .description("manage services apps (Marathon app definitions) through the services API")
    .option("--url <url>", "the services API (env DCOS_SERVICES_URL)", DEFAULT_URL)
    .option("--force", "override a deployment in progress")
    .option("--json", "print the API's JSON");
  const globals = (): Globals => app.opts<Globals>();
  const print = (g: Globals, v: unknown, text: () => string) => console.log(g.json ? JSON.stringify(v, null, 2) : text());

  app
    .command("add <file>")
    .description("create an app from a Marathon app definition (JSON file, '-' for stdin)")
    .action(async (file: string) => {
      const g = globals();
      const text = file === "-" ? await new Promise<string>((r) => {
        let s = "";
        process.stdin.on("data", (d) => (s += String(d))).on("end", () => r(s));
      }) : await readFile(file, "utf8");
      let def: unknown;
      try {
        def = JSON.parse(text);
      } catch (err) {
        throw new Error(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      const r = (await call(g, "POST", `/v2/apps${q(g)}`, def)) as AppView;
      print(g, r, () => `Created ${r.id} (version ${r.version}); deployment ${r.deployments?.[0]?.id ?? "-"}`);
    });
  app
    .command("list")
    .description("list apps with their instance counts and health")
    .action(async () => {
      const g = globals();
      const r = (await call(g, "GET", "/v2/apps?embed=apps.counts&embed=apps.deployments")) as { apps: AppView[] };
      print(g, r, () =>
        r.apps.length === 0
          ? "No apps."
          : table([
              ["ID", "INSTANCES", "RUNNING", "HEALTHY", "STAGED", "CPUS", "MEM", "DEPLOYING"],
              ...r.apps.map((a) => [a.id, String(a.instances), String(a.tasksRunning ?? 0), String(a.tasksHealthy ?? 0), String(a.tasksStaged ?? 0), String(a.cpus), String(a.mem), (a.deployments ?? []).length > 0 ? "yes" : "no"]),
            ]),
      );
    });
  app
    .command("show <id>")
    .description("an app's definition and instances")
    .action(async (id: string) => {
      const g = globals();
      const r = (await call(g, "GET", `${appPath(id)}?embed=app.tasks`)) as { app: AppView };
      print(g, r, () => {
        const a = r.app;
        const tasks = a.tasks ?? [];
        return [
          `${a.id}  version ${a.version}  instances ${a.instances}  running ${a.tasksRunning ?? 0}  healthy ${a.tasksHealthy ?? 0}`,
          a.cmd ? `cmd: ${a.cmd}` : "",
          tasks.length === 0 ? "No instances." : table([["INSTANCE", "STATE", "HOST", "PORTS", "HEALTHY"], ...tasks.map((t) => [t.id, t.state, t.host, t.ports.join(","), t.healthCheckResults && t.healthCheckResults.length > 0 ? String(t.healthCheckResults.every((r) => r.alive)) : "-"])]),
        ]
          .filter(Boolean)
          .join("\n");
      });
    });
  app
    .command("scale <id> <instances>")
    .description("set how many instances an app runs")
    .action(async (id: string, n: string) => {
      const g = globals();
      const count = Number(n);
      if (!Number.isInteger(count) || count < 0) throw new InvalidArgumentError(`instances must be a whole number >= 0, not ${n}`);
      const r = (await call(g, "PUT", `${appPath(id)}${q(g)}`, { instances: count })) as { deploymentId: string };
      print(g, r, () => `Scaling ${id} to ${count}; deployment ${r.deploymentId}`);
    });
  app
    .command("restart <id>")
    .description("replace every instance (rolling, within the app's upgrade strategy)")
    .action(async (id: string) => {
      const g = globals();
      const r = (await call(g, "POST", `${appPath(id)}/restart${q(g)}`)) as { deploymentId: string };
      print(g, r, () => `Restarting ${id}; deployment ${r.deploymentId}`);
    });
  app
    .command("remove <id>")
    .description("destroy an app and its instances")
    .action(async (id: string) => {
      const g = globals();
      const r = (await call(g, "DELETE", `${appPath(id)}${q(g)}`)) as { deploymentId: string };
      print(g, r, () => `Removing ${id}; deployment ${r.deploymentId}`);
    });
  return app;
}
