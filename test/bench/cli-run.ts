/**
 * `dcos-node run -- true` against an embedded dev cluster (`--role=dev`, one agent, ephemeral
 * ports, no DNS/jobs/services), as a user types it: a new CLI process each time, timed from
 * its spawn to the lines it prints (subscribed, launching, TASK_RUNNING) and to its exit.
 * Baselines in the same run: a bare `node -e 0` (Node's own start-up, the floor of any CLI)
 * and `dcos-node --version` (the CLI's module loading).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, killProcessesUnder, NodeProcess } from "../support/processes.js";

export interface CliRunTimes {
  /** ms from spawn to each line matched (undefined: never printed), and to the exit. */
  subscribed: number[];
  launching: number[];
  running: number[];
  exited: number[];
  nodeBare: number[];
  version: number[];
}

/** Spawns `node args…`, resolving with the ms from spawn to the first line matching each pattern and to the exit. */
function timed(args: string[], patterns: RegExp[]): Promise<{ at: (number | undefined)[]; exit: number; code: number | null; output: string }> {
  const t0 = performance.now();
  const at: (number | undefined)[] = patterns.map(() => undefined);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
  let output = "";
  let partial = "";
  const onData = (chunk: Buffer): void => {
    const now = performance.now() - t0;
    const text = partial + chunk.toString("utf8");
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      output += line + "\n";
      patterns.forEach((p, i) => {
        if (at[i] === undefined && p.test(line)) at[i] = now;
      });
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((resolve) => child.on("exit", (code) => resolve({ at, exit: performance.now() - t0, code, output })));
}

/**
 * Starts a dev cluster, runs `dcos-node run -- true` `runs` times (one at a time), stops the
 * cluster. `cli` is the main.js of the CLI to time (default this build's; another build's
 * compares CLIs against the same cluster).
 */
export async function cliRuns(runs: number, cli = CLI): Promise<CliRunTimes> {
  const workDir = await mkdtemp(join(tmpdir(), "dcos-bench-run-"));
  const dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--no-jobs", "--services-port=-1", `--work-dir=${workDir}`]);
  const out: CliRunTimes = { subscribed: [], launching: [], running: [], exited: [], nodeBare: [], version: [] };
  try {
    const master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    for (let i = 0; i < runs; i++) {
      out.nodeBare.push((await timed(["-e", "0"], [])).exit);
      out.version.push((await timed([cli, "--version"], [])).exit);
      const r = await timed([cli, "run", `--master=${master}`, "--no-output", "--", "true"], [/^Subscribed to master/, /^Launching task/, /TASK_RUNNING/]);
      if (r.code !== 0 || r.at[2] === undefined) throw new Error(`dcos-node run exited with ${r.code} without TASK_RUNNING:\n${r.output}`);
      out.subscribed.push(r.at[0]!);
      out.launching.push(r.at[1]!);
      out.running.push(r.at[2]);
      out.exited.push(r.exit);
    }
    return out;
  } finally {
    await dev.stop();
    await killProcessesUnder(workDir);
    await rm(workDir, { recursive: true, force: true });
  }
}
