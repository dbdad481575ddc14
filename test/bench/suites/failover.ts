/**
 * Master failover with real processes: three `dcos-node --role=master` in one Raft group,
 * `--agents` agent processes given all three, and a `dcos-node run` framework with a
 * running task. Each trial kill -9s the leading master and measures, from the kill: a new
 * leader (its log says it leads), every agent reregistered with it, and the framework
 * resubscribed at it (its driver followed the leader hint). Medians over `--trials`.
 *
 *   npm run bench -- failover [--trials=3] [--agents=3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MasterProcesses } from "../../support/master-processes.js";
import { NodeProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";
import { median, type Reporter } from "../report.js";

interface Trial {
  leaderMs: number;
  agentsMs: number;
  frameworkMs: number;
}

async function trial(index: number, agentCount: number): Promise<Trial> {
  const dir = mkdtempSync(join(tmpdir(), `failover-bench-${index}-`));
  const others: NodeProcess[] = [];
  const masters = await MasterProcesses.start(3, dir);
  try {
    await waitFor(() => masters.leader() >= 0, "a leading master", 20_000);
    for (let i = 1; i <= agentCount; i++) {
      const agent = new NodeProcess(`agent-${i}`, [
        "--role=agent",
        "--port=0",
        "--http-port=0",
        `--master=${masters.list}`,
        `--work-dir=${join(dir, `agent-${i}`)}`,
        "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
        "--log-level=warn",
      ]);
      others.push(agent);
    }
    const first = masters.processes[masters.leader()]!;
    await waitFor(() => first.count(/ADMITTING -> ACTIVE/) >= agentCount, "every agent registered", 30_000);
    const run = new NodeProcess("run", ["run", `--master=${masters.list}`, "--name=bench", "--cpus=0.1", "--mem=32", "--", "sleep 600"]);
    others.push(run);
    await run.waitForLine(/(TASK_RUNNING)/, "the task to run", 30_000);

    const old = masters.leader();
    const killedAt = performance.now();
    await masters.kill9(old);
    const at = { leader: 0, agents: 0, framework: 0 };
    await waitFor(
      () => {
        const now = performance.now() - killedAt;
        const l = masters.leader();
        if (!at.leader && l >= 0 && l !== old) at.leader = now;
        const leader = at.leader ? masters.processes[masters.leader()] : undefined;
        if (!at.agents && leader && leader.count(/-> ACTIVE: reregistered/) >= agentCount) at.agents = now;
        if (!at.framework && run.count(/Resubscribed to master/) > 0) at.framework = now;
        return at.leader > 0 && at.agents > 0 && at.framework > 0;
      },
      "the new leader, every agent reregistered and the framework resubscribed",
      60_000,
      5,
    );
    return { leaderMs: at.leader, agentsMs: at.agents, frameworkMs: at.framework };
  } finally {
    await Promise.all(others.map((p) => p.stop()));
    await masters.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const trials = opt("trials", 3);
  const agents = opt("agents", 3);
  const results: Trial[] = [];
  for (let i = 0; i < trials; i++) results.push(await trial(i, agents));
  const extra = { trials, agents, masters: 3, tasks: 1, all: results };
  report.figure("failover_new_leader_ms", Math.round(median(results.map((r) => r.leaderMs))), "ms", "lower", extra);
  report.figure("failover_agents_reregistered_ms", Math.round(median(results.map((r) => r.agentsMs))), "ms", "lower", { trials, agents });
  report.figure("failover_framework_resubscribed_ms", Math.round(median(results.map((r) => r.frameworkMs))), "ms", "lower", { trials, agents });
}
