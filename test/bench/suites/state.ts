/**
 * `npm run bench -- state`: the operators' view figures the issue names, in one run —
 * `/state` and `/metrics/snapshot` latency with 10,000 agents and 100,000 tasks (the `http`
 * suite), and the events/s the NATS tap publishes with the master's throughput with and
 * without it (the `events` suite).
 */
import type { Reporter } from "../report.js";
import { run as runHttp } from "./http.js";
import { run as runEvents } from "./events.js";

export async function run(report: Reporter, args: string[]): Promise<void> {
  await runHttp(report, Object.fromEntries(args.map((a) => a.replace(/^--/, "").split("=") as [string, string])));
  await runEvents(report, args);
}
