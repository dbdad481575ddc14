/**
 * Master failover at scale: three `dcos-node --role=master` processes in one Raft group,
 * `--agents` simulated agents in their own process (sim-agents-process.ts: one gRPC transport,
 * each agent its own pid and id, following leadership), and `--tasks` running tasks launched
 * by a partition-aware framework on the real SchedulerDriver in this process. Each trial
 * kill -9s the leading master and measures, from the kill: a new leader (its log says it
 * leads), every agent reregistered with it (its log), and the framework resubscribed with
 * every task reconciled RUNNING. Medians over `--trials`.
 *
 *   npm run bench -- failover [--trials=3] [--agents=100] [--tasks=1000]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MasterProcesses } from "../../support/master-processes.js";
import { waitFor } from "../../support/wait.js";
import { FailoverFramework } from "../failover-framework.js";
import { median, type Reporter } from "../report.js";

const SIM_AGENTS = fileURLToPath(new URL("../sim-agents-process.js", import.meta.url));

interface Trial {
  leaderMs: number;
  agentsMs: number;
  frameworkMs: number;
  reconciledMs: number;
}

/** The simulated agents' process; `registered` once it printed that all registered. `extra`: e.g. --resources, --task-ms. */
export function simAgents(masters: string, agents: number, extra: readonly string[] = []): { registered: () => boolean; output: string[]; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [SIM_AGENTS, `--masters=${masters}`, `--agents=${agents}`, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout.on("data", (b: Buffer) => output.push(b.toString()));
  child.stderr.on("data", (b: Buffer) => output.push(b.toString()));
  const exited = new Promise((r) => child.on("exit", r));
  return {
    registered: () => output.some((o) => o.includes(`registered ${agents}`)),
    output,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A wait's timeout with what was seen by then. */
async function explained(wait: Promise<unknown>, seen: () => string): Promise<void> {
  try {
    await wait;
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${seen()}`);
  }
}

async function trial(index: number, agentCount: number, taskCount: number): Promise<Trial> {
  const dir = mkdtempSync(join(tmpdir(), `failover-bench-${index}-`));
  const masters = await MasterProcesses.start(3, dir, ["--log-level=info"]);
  const agents = simAgents(masters.list, agentCount);
  const framework = new FailoverFramework(masters.list, taskCount);
  try {
    await waitFor(() => masters.leader() >= 0, "a leading master", 20_000);
    await explained(waitFor(() => agents.registered(), "every simulated agent registered", 60_000), () => agents.output.join("").slice(-2000));
    await framework.driver.start();
    await explained(waitFor(() => framework.running >= taskCount, `${taskCount} tasks running`, 120_000), () => `${framework.running} running`);
    await framework.driver.suppress();

    const old = masters.leader();
    framework.mark();
    const killedAt = performance.now();
    await masters.kill9(old);
    const at = { leader: 0, agents: 0, framework: 0, reconciled: 0 };
    const measured = waitFor(
      () => {
        const now = performance.now() - killedAt;
        const l = masters.leader();
        if (!at.leader && l >= 0 && l !== old) at.leader = now;
        const leader = at.leader ? masters.processes[l] : undefined;
        if (!at.agents && leader && leader.count(/Every agent the registry held when this term began has reregistered/) >= 1) at.agents = now;
        if (!at.framework && framework.resubscribedAt > 0) at.framework = framework.resubscribedAt - killedAt;
        if (!at.reconciled && framework.running >= taskCount) at.reconciled = now;
        return at.leader > 0 && at.agents > 0 && at.framework > 0 && at.reconciled > 0;
      },
      `the new leader, every agent reregistered, the framework resubscribed and ${taskCount} tasks reconciled`,
      60_000,
      5,
    );
    await explained(measured, () => `${JSON.stringify(at)}, ${framework.running} RUNNING`);
    return { leaderMs: at.leader, agentsMs: at.agents, frameworkMs: at.framework, reconciledMs: at.reconciled };
  } finally {
    await framework.stop().catch(() => undefined);
    await agents.stop();
    await masters.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const trials = opt("trials", 3);
  const agents = opt("agents", 100);
  const tasks = opt("tasks", 1000);
  const results: Trial[] = [];
  const loads: number[] = [];
  for (let i = 0; i < trials; i++) {
    loads.push(loadavg()[0]!);
    results.push(await trial(i, agents, tasks));
  }
  const shape = { trials, agents, masters: 3, tasks, load1: loads.map((l) => Math.round(l * 10) / 10) };
  const fig = (name: string, pick: (t: Trial) => number, extra: Record<string, unknown> = shape) => report.figure(name, Math.round(median(results.map(pick))), "ms", "lower", extra);
  fig("failover_new_leader_ms", (r) => r.leaderMs, { ...shape, all: results.map((r) => Object.values(r).map(Math.round)) });
  fig("failover_agents_reregistered_ms", (r) => r.agentsMs);
  fig("failover_framework_resubscribed_ms", (r) => r.frameworkMs);
  fig("failover_tasks_reconciled_ms", (r) => r.reconciledMs);
}
