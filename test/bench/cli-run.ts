/**
 * `dcos-node run -- true` against an embedded dev cluster (`--role=dev`, one agent, ephemeral
 * ports, no DNS/jobs/services, its run service holding offers 1 s after a run), as a user
 * types it: a new CLI process each time, timed from
 * its spawn to the lines it prints (subscribed, launching, TASK_RUNNING) and to its exit,
 * and with DCOS_NODE_RUN_TIMING=1 (src/cli/run-timing.ts) each phase the CLI marks (main,
 * cli:<path>, tls, modules, subscribe, subscribed, offer, accept, TASK_STARTING, TASK_RUNNING)
 * as ms since the process's start and the CPU it used by then.
 *
 * Variants (cliVariants), run in turn within each round so that load drifts hit them alike:
 * through the run service with a warm offer (`thin`, and `thin-https` over TLS) and after
 * it released its offers (`thin-revive`); the one-off framework (--framework) as `bundle`
 * (dist/cli/run.cjs with its code cache, warmed by one untimed run) and `modules`
 * (DCOS_NODE_BUNDLE=0), each on this Node and on every other Node binary given. Before each
 * run the bench waits, on the service's /metrics, for the offers the variant needs (held,
 * or released: the framework variants also need the agent's resources free). Baselines in the same rounds: a bare `node -e 0` per Node
 * binary (Node's own start-up, the floor of any CLI) and `dcos-node --version` (the whole
 * command line's module loading).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devClientTlsDir } from "../../src/cli/dev-client-tls.js";
import { readDevRunService } from "../../src/cli/dev-run-service.js";
import { parseTimingLine } from "../../src/cli/run-timing.js";
import { waitFor } from "../support/wait.js";
import { BIN, killProcessesUnder, NodeProcess } from "../support/processes.js";
import { median, percentile, type Reporter } from "./report.js";

/** One way of running the CLI: which Node, which environment, which path. */
export interface CliVariant {
  name: string;
  node: string;
  env: Record<string, string>;
  /** Extra `run` flags (--framework, --tls-dir=…). */
  args?: string[];
  /**
   * The run service's offers before each timed run: "held" (a warm offer is there), or
   * "released" (suppressed: the run revives; also what a one-off framework needs, so the
   * service does not hold the agent's resources).
   */
  offers: "held" | "released";
}

export interface VariantTimes {
  /** ms from spawn to each line matched, and to the exit. */
  subscribed: number[];
  launching: number[];
  running: number[];
  exited: number[];
  /** Per phase the CLI marked: ms since its process started, and its CPU ms by then. */
  phases: Map<string, { ms: number[]; cpuMs: number[] }>;
}

export interface CliRunTimes {
  variants: Map<string, VariantTimes>;
  /** `node -e 0` per Node binary (by its version). */
  nodeBare: Map<string, number[]>;
  version: number[];
  nodeVersions: Map<string, string>;
}

/** Spawns `node args…`, resolving with the ms from spawn to the first line matching each pattern and to the exit. */
function timed(
  node: string,
  args: string[],
  patterns: RegExp[],
  env: Record<string, string> = {},
): Promise<{ at: (number | undefined)[]; exit: number; code: number | null; output: string }> {
  const t0 = performance.now();
  const at: (number | undefined)[] = patterns.map(() => undefined);
  const child = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0", ...env } });
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

async function nodeVersion(node: string): Promise<string> {
  const r = await timed(node, ["--version"], []);
  return r.output.trim();
}

/**
 * The variants for this Node and `otherNodes`, named with the Node's major version when
 * there are several (`thin-node22`): through the run service, `thin` (a warm offer held),
 * `thin-revive` (the service suppressed: the run revives) and `thin-https` (warm, over
 * HTTPS with the dev cluster's client certificate instead of the loopback port); the
 * one-off framework (--framework), `bundle` and `modules` (DCOS_NODE_BUNDLE=0).
 */
export async function cliVariants(otherNodes: string[] = []): Promise<CliVariant[]> {
  const nodes = [process.execPath, ...otherNodes];
  const out: CliVariant[] = [];
  for (const node of nodes) {
    const suffix = nodes.length > 1 ? `-node${(await nodeVersion(node)).replace(/^v(\d+).*/, "$1")}` : "";
    out.push({ name: `thin-revive${suffix}`, node, env: {}, offers: "released" });
    out.push({ name: `thin${suffix}`, node, env: {}, offers: "held" });
    out.push({ name: `thin-https${suffix}`, node, env: {}, args: ["--tls-dir=<dev>"], offers: "held" });
    out.push({ name: `bundle${suffix}`, node, env: {}, args: ["--framework"], offers: "released" });
    out.push({ name: `modules${suffix}`, node, env: { DCOS_NODE_BUNDLE: "0" }, args: ["--framework"], offers: "released" });
  }
  return out;
}

/** The run service's offer hold in the bench: short, so that waiting for its release is. */
const BENCH_OFFER_HOLD = "1secs";

/**
 * Starts a dev cluster, runs `dcos-node run -- true` `runs` times per variant (one at a
 * time, the variants in turn), stops the cluster. `cli` is the entry of the CLI to time
 * (default this build's installed command, dist/cli/dcos-node.cjs; another build's compares
 * CLIs against the same cluster). The code
 * caches go to a temporary directory, warmed by one untimed run per variant.
 */
export async function cliRuns(runs: number, cli = BIN, variants?: CliVariant[]): Promise<CliRunTimes> {
  const workDir = await mkdtemp(join(tmpdir(), "dcos-bench-run-"));
  const cacheDir = join(workDir, "compile-cache");
  const chosen = variants ?? (await cliVariants());
  const dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--no-jobs", "--services-port=-1", `--run-offer-hold=${BENCH_OFFER_HOLD}`, `--work-dir=${workDir}`]);
  const out: CliRunTimes = { variants: new Map(), nodeBare: new Map(), version: [], nodeVersions: new Map() };
  const nodes = [...new Set(chosen.map((v) => v.node))];
  for (const node of nodes) out.nodeVersions.set(node, await nodeVersion(node));
  try {
    const master = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    const service = readDevRunService(devClientTlsDir(master));
    if (!service?.loopback) throw new Error(`The dev cluster recorded no run service for ${master}`);
    const runMetrics = async () => (await (await fetch(`${service.loopback}/metrics`)).json()) as Record<string, number>;
    await waitFor(async () => (await runMetrics())["run/elected"] === 1, "the run service to subscribe", 30_000);
    const once = async (v: CliVariant) => {
      if (v.offers === "released") await waitFor(async () => (await runMetrics())["run/suppressed"] === 1, "the run service to release its offers", 30_000, 10);
      else {
        await waitFor(
          async () => {
            const m = await runMetrics();
            if (m["run/offers_held"]! >= 1) return true;
            // Released meanwhile (the hold is short): an untimed run brings offers back.
            if (m["run/suppressed"] === 1) await timed(v.node, [cli, "run", `--master=${master}`, "--no-output", "--", "true"], []);
            return false;
          },
          "the run service to hold an offer",
          30_000,
          5,
        );
      }
      const args = (v.args ?? []).map((a) => a.replace("<dev>", devClientTlsDir(master)));
      const runArgs = [cli, "run", `--master=${master}`, ...args, "--no-output", "--", "true"];
      const r = await timed(v.node, runArgs, [/^Subscribed to master/, /^Launching task/, /TASK_RUNNING/], {
        DCOS_NODE_COMPILE_CACHE: cacheDir,
        DCOS_NODE_RUN_TIMING: "1",
        ...v.env,
      });
      if (r.code !== 0 || r.at[2] === undefined) throw new Error(`dcos-node run (${v.name}) exited with ${r.code} without TASK_RUNNING:\n${r.output}`);
      return r;
    };
    for (const v of chosen) await once(v); // warm-up: writes each variant's code cache
    for (let i = 0; i < runs; i++) {
      for (const node of nodes) {
        const bare = out.nodeBare.get(out.nodeVersions.get(node)!) ?? [];
        bare.push((await timed(node, ["-e", "0"], [])).exit);
        out.nodeBare.set(out.nodeVersions.get(node)!, bare);
      }
      out.version.push((await timed(process.execPath, [cli, "--version"], [])).exit);
      for (const v of chosen) {
        const r = await once(v);
        let t = out.variants.get(v.name);
        if (!t) out.variants.set(v.name, (t = { subscribed: [], launching: [], running: [], exited: [], phases: new Map() }));
        t.subscribed.push(r.at[0]!);
        t.launching.push(r.at[1]!);
        t.running.push(r.at[2]!);
        t.exited.push(r.exit);
        for (const line of r.output.split("\n")) {
          const mark = parseTimingLine(line);
          if (!mark) continue;
          const phase = mark.phase.startsWith("cli:") ? "cli" : mark.phase;
          let p = t.phases.get(phase);
          if (!p) t.phases.set(phase, (p = { ms: [], cpuMs: [] }));
          p.ms.push(mark.ms);
          p.cpuMs.push(mark.cpuMs);
        }
      }
    }
    return out;
  } finally {
    await dev.stop();
    await killProcessesUnder(workDir);
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The figures of cliRuns: per variant the median and p90 of spawn → TASK_RUNNING, its ratio
 * to the same Node's bare start, the spawn → exit median, and per phase the median ms since
 * the process's start (CPU ms by then beside it, and a summary line on stderr); `node -e 0` per Node version; `--version`. The
 * `bundle` variant on this Node also keeps the older names (cli_run_to_running_ms, …).
 */
export function reportCliRuns(report: Reporter, r: CliRunTimes, extra: Record<string, unknown>): void {
  const thisVersion = r.nodeVersions.get(process.execPath) ?? process.version;
  for (const [version, bare] of r.nodeBare) {
    report.figure(version === thisVersion ? "node_bare_start_ms" : `node_bare_start_ms_${version.replace(/\..*/, "")}`, median(bare), "ms", "lower", { ...extra, node: version });
  }
  report.figure("cli_version_ms", median(r.version), "ms", "lower", extra);
  for (const [name, t] of r.variants) {
    const major = /-node(\d+)$/.exec(name)?.[1];
    const version = major ? [...r.nodeBare.keys()].find((v) => v.startsWith(`v${major}.`)) ?? thisVersion : thisVersion;
    const bare = median(r.nodeBare.get(version) ?? []);
    const x = { ...extra, variant: name, node: version };
    if (name === "bundle" || name === `bundle-node${thisVersion.replace(/^v(\d+).*/, "$1")}`) {
      report.figure("cli_run_subscribed_ms", median(t.subscribed), "ms", "lower", x);
      report.figure("cli_run_launching_ms", median(t.launching), "ms", "lower", x);
      report.figure("cli_run_to_running_ms", median(t.running), "ms", "lower", x);
      report.figure("cli_run_to_running_vs_node_bare_start", median(t.running) / bare, "ratio", "lower", x);
      report.figure("cli_run_exit_ms", median(t.exited), "ms", "lower", x);
    }
    const key = name.replace(/-/g, "_");
    report.figure(`cli_run_${key}_to_running_ms`, median(t.running), "ms", "lower", x);
    report.figure(`cli_run_${key}_to_running_p90_ms`, percentile(t.running, 90), "ms", "lower", x);
    report.figure(`cli_run_${key}_to_running_vs_node_bare_start`, median(t.running) / bare, "ratio", "lower", x);
    report.figure(`cli_run_${key}_exit_ms`, median(t.exited), "ms", "lower", x);
    for (const [phase, p] of t.phases) {
      report.figure(`cli_run_${key}_at_${phase}_ms`, median(p.ms), "ms", "lower", { ...x, since: "process start", cpu_ms: Math.round(median(p.cpuMs)) });
    }
    const line = [...t.phases].map(([phase, p]) => `${phase} ${Math.round(median(p.ms))}/${Math.round(median(p.cpuMs))}`).join(", ");
    process.stderr.write(`cli-run ${name} (${version}): spawn->TASK_RUNNING median ${Math.round(median(t.running))} ms, p90 ${Math.round(percentile(t.running, 90))} ms (node -e 0: ${Math.round(bare)} ms); phases, ms since process start / CPU ms: ${line}\n`);
  }
}
