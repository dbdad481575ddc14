/**
 * `dcos-node job add FILE.json | list | run NAME | history NAME | remove NAME [--url=…]`:
 * a client of the jobs framework's Chronos API (default http://127.0.0.1:4400).
 */
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { withCredentialOptions } from "./credential-options.js";

const DEFAULT_URL = "http://127.0.0.1:4400";

interface JobFlags {
  url: string;
  principal?: string;
  secret?: string;
  credentialFile?: string;
}

/** The Authorization header for --principal/--secret or --credential-file (or $DCOS_NODE_CREDENTIAL_FILE), if any. */
async function authorization(flags: JobFlags): Promise<Record<string, string>> {
  const { resolveClientCredential, authorizationHeader } = await import("../security/auth/client-credential.js");
  const c = await resolveClientCredential(flags);
  return c ? { authorization: authorizationHeader(c) } : {};
}

async function api(flags: JobFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = flags.url;
  let r: Response;
  try {
    r = await fetch(`${url.replace(/\/$/, "")}${path}`, {
      method,
      headers: { ...(await authorization(flags)), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new Error(`Cannot reach the jobs API at ${url}: ${(err as Error).message}`);
  }
  const text = await r.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${(json as { message?: string } | undefined)?.message ?? text}`);
  return json;
}

const fail = (err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
};

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

export function jobSubcommand(): Command {
  const job = withCredentialOptions(new Command("job").description("Manage jobs on the jobs framework (Chronos's API)").option("--url <url>", "the jobs API", DEFAULT_URL));
  const url = () => job.opts() as JobFlags;
  job
    .command("add <file>")
    .description("Post the Chronos job JSON in FILE (one job or a list) unchanged: dependent jobs (with parents) to /dependency, others to /iso8601")
    .action(async (file: string) => {
      try {
        const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
        for (const j of Array.isArray(parsed) ? parsed : [parsed]) {
          const dependent = Array.isArray((j as { parents?: unknown }).parents) && ((j as { parents: unknown[] }).parents.length > 0);
          await api(url(), "POST", dependent ? "/v1/scheduler/dependency" : "/v1/scheduler/iso8601", j);
          process.stdout.write(`Added job ${(j as { name?: string }).name}\n`);
        }
      } catch (err) {
        fail(err);
      }
    });
  job
    .command("list")
    .description("The jobs with their state, last outcome and next run")
    .option("--json", "print the API's JSON")
    .action(async (o: { json?: boolean }) => {
      try {
        const { jobs } = (await api(url(), "GET", "/v1/scheduler/jobs/summary")) as { jobs: Record<string, unknown>[] };
        if (o.json) return void process.stdout.write(JSON.stringify(jobs, null, 2) + "\n");
        const rows = [["NAME", "STATE", "LAST", "NEXT RUN", "SCHEDULE", "OK", "ERR"]];
        for (const j of jobs) {
          const parents = j["parents"] as string[];
          rows.push([
            String(j["name"]),
            j["disabled"] ? "disabled" : String(j["state"]),
            String(j["status"]),
            String(j["nextRun"] || "-"),
            parents.length ? `after ${parents.join(",")}` : String(j["schedule"]),
            String(j["successCount"]),
            String(j["errorCount"]),
          ]);
        }
        process.stdout.write(table(rows));
      } catch (err) {
        fail(err);
      }
    });
  job
    .command("run <name>")
    .description("Run the job now (PUT /v1/scheduler/job/NAME)")
    .action(async (name: string) => {
      try {
        await api(url(), "PUT", `/v1/scheduler/job/${encodeURIComponent(name)}`);
        process.stdout.write(`Started a run of ${name}\n`);
      } catch (err) {
        fail(err);
      }
    });
  job
    .command("history <name>")
    .description("The job's recent runs: due instant, trigger, outcome, attempts with exit codes")
    .option("--json", "print the API's JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      try {
        const r = (await api(url(), "GET", `/v1/scheduler/job/${encodeURIComponent(name)}/runs`)) as { active: Record<string, unknown>[]; history: Record<string, unknown>[] };
        if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + "\n");
        const rows = [["DUE", "TRIGGER", "STATE", "ATTEMPTS", "REASON"]];
        for (const run of [...r.active, ...r.history]) {
          const attempts = (run["attempts"] as { taskId: string; end: string; exitCode: number | null }[]).map((a) => `${a.end || "running"}${a.exitCode !== null ? `(${a.exitCode})` : ""}`);
          rows.push([String(run["instant"]), String(run["trigger"]), String(run["state"]), attempts.join(",") || "-", String(run["reason"] || "")]);
        }
        process.stdout.write(table(rows));
      } catch (err) {
        fail(err);
      }
    });
  job
    .command("remove <name>")
    .description("Delete the job (its running task is killed)")
    .action(async (name: string) => {
      try {
        await api(url(), "DELETE", `/v1/scheduler/job/${encodeURIComponent(name)}`);
        process.stdout.write(`Removed job ${name}\n`);
      } catch (err) {
        fail(err);
      }
    });
  return job;
}
