/**
 * `npm run bench -- cli-run [-- --runs=10 --nodes=<node>,<node> --cli=<entry>]`: `dcos-node
 * run -- true` against an embedded dev cluster, spawn of the CLI to TASK_RUNNING, `runs`
 * rounds of every variant (cli-run.ts): through the run service (thin: a warm offer,
 * thin-revive, thin-https) and as a one-off framework (the bundled CLI with its code cache,
 * and the ES modules: DCOS_NODE_BUNDLE=0), on this Node and on each Node binary in --nodes (e.g. Node 22
 * and 24 from `npm exec --package=node@22 -- node -p process.execPath`); the phases the CLI
 * marks; `node -e 0` per Node as the floor; `uptime` load before and after. The containers
 * suite runs the same with its --runs (this Node only).
 */
import { cliRuns, cliVariants, reportCliRuns } from "../cli-run.js";
import { reportLoad, type Reporter } from "../report.js";

export async function run(report: Reporter, args: string[]): Promise<void> {
  const value = (name: string) => args.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);
  const runs = Number(value("runs") ?? 10);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number >= 1, not '${value("runs")}'`);
  const nodes = (value("nodes") ?? "").split(",").filter((n) => n !== "");
  const cli = value("cli");
  reportLoad(report, "start");
  const r = await cliRuns(runs, cli, await cliVariants(nodes));
  reportCliRuns(report, r, { runs, ...(cli ? { cli } : {}) });
  reportLoad(report, "end");
}
