/**
 * `npm run bench -- run-output [-- --lines=40 --gap=100]`: how soon a task's output reaches
 * the reader (src/frameworks/common/sandbox-output.ts), ms from the write to the sink.
 * - In process: a writer appends a line to a sandbox's stdout every `gap` ms (plus a
 *   seeded jitter, so the writes fall anywhere in a poll interval) while TaskOutput follows
 *   it through the real /files/read routes, on an agent whose reads wait (the long poll)
 *   and, as the baseline in the same run, on one that does not (the 250 ms poll, as before).
 * - End to end: `dcos-node run` on a dev cluster of a task that prints its clock every
 *   `gap` ms (`date +%s%3N`), ms from the task's clock to the line on the CLI's stdout
 *   (same machine, same clock).
 * p50 and p90 each; `uptime` load before and after.
 */
import { spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskOutput } from "../../../src/frameworks/common/sandbox-output.js";
import { Metrics } from "../../../src/metrics/metrics.js";
import { addSandboxFileRoutes } from "../../../src/operator/agent-http.js";
import { createHttpServer, listen } from "../../../src/operator/http-server.js";
import { SystemClock } from "../../../src/runtime/clock.js";
import { Random } from "../../../src/runtime/random.js";
import { BIN, killProcessesUnder, NodeProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";
import { median, percentile, reportLoad, type Reporter } from "../report.js";

function arg(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
}

/** ms from each write to its arrival at the sink, through an agent that waits (maxWaiting > 0) or not. */
async function inProcess(work: string, name: string, maxWaiting: number, lines: number, gapMs: number, random: Random): Promise<number[]> {
  const app = createHttpServer({ host: "127.0.0.1", port: 0, version: "bench", flags: {}, metrics: new Metrics() });
  addSandboxFileRoutes(app, work, undefined, maxWaiting);
  const http = await listen(app, "127.0.0.1", 0);
  const dir = join(work, "agents", "a1", "frameworks", "f1", "executors", name, "runs", "c1");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "stdout"), "");
  await writeFile(join(dir, "stderr"), "");
  const written = new Map<number, number>();
  const delays: number[] = [];
  let partial = "";
  const output = new TaskOutput({
    agentHttp: http.address,
    sandbox: dir,
    clock: new SystemClock(),
    warn: (m) => process.stderr.write(`${m}\n`),
    sinks: {
      stdout: (chunk) => {
        const now = performance.now();
        const parts = (partial + chunk).split("\n");
        partial = parts.pop() ?? "";
        for (const p of parts) delays.push(now - written.get(Number(p))!);
      },
      stderr: () => undefined,
    },
  });
  output.start();
  try {
    for (let i = 0; i < lines; i++) {
      await new Promise((r) => setTimeout(r, gapMs + random.int(gapMs)));
      written.set(i, performance.now());
      await appendFile(join(dir, "stdout"), `${i}\n`);
    }
    await waitFor(() => delays.length === lines, "every line to arrive", 30_000, 5);
  } finally {
    await output.finish();
    await http.close();
  }
  return delays;
}

/** ms from the task's clock to the line on the CLI's stdout, through a dev cluster's run service. */
async function endToEnd(work: string, lines: number, gapMs: number): Promise<number[]> {
  const dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--no-jobs", "--services-port=-1", `--work-dir=${join(work, "dev")}`]);
  try {
    const master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    const script = `for i in $(seq ${lines}); do date +%s%3N; sleep ${gapMs / 1000}; done`;
    const child = spawn(process.execPath, [BIN, "run", `--master=${master}`, "--", script], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
    const delays: number[] = [];
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const now = Date.now();
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) if (/^\d{13}$/.test(p.trim())) delays.push(now - Number(p.trim()));
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    if (code !== 0 || delays.length !== lines) throw new Error(`dcos-node run exited ${code} with ${delays.length} of ${lines} lines:\n${stderr}`);
    return delays;
  } finally {
    await dev.stop();
    await killProcessesUnder(work);
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const lines = arg(args, "lines", 40);
  const gap = arg(args, "gap", 100);
  const work = await mkdtemp(join(tmpdir(), "dcos-bench-output-"));
  reportLoad(report, "start");
  try {
    const random = new Random(15);
    const polled = await inProcess(work, "polled", 0, lines, gap, random);
    const waited = await inProcess(work, "waited", 256, lines, gap, random);
    report.compare("output_write_to_reader_ms_p50", median(waited), "output_write_to_reader_polled_ms_p50", median(polled), "ms", "lower");
    report.compare("output_write_to_reader_ms_p90", percentile(waited, 90), "output_write_to_reader_polled_ms_p90", percentile(polled, 90), "ms", "lower");
    const e2e = await endToEnd(work, Math.min(lines, 20), gap);
    report.figure("run_output_task_write_to_cli_print_ms_p50", median(e2e), "ms", "lower", { lines: e2e.length });
    report.figure("run_output_task_write_to_cli_print_ms_p90", percentile(e2e, 90), "ms", "lower", { lines: e2e.length });
  } finally {
    reportLoad(report, "end");
    await rm(work, { recursive: true, force: true });
  }
}
