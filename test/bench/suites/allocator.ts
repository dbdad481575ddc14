/**
 * `npm run bench -- allocator`: one allocation round of the allocator actor (snapshot,
 * policy, applying the offers to the books, protocol resources for the master) on a
 * cluster where every agent is free, for two shapes: 10,000 agents / 1,000 frameworks
 * (Mesos 1.7 needed ≈ 1.06 s; target ≤ 250 ms) and 1,000 agents / 100 frameworks.
 * Between rounds every offer is declined so each round allocates the whole cluster.
 * Each shape reports the median wall time of a round and, since this machine is shared and
 * noisy, the median CPU time too. Then the same DRF round at 10,000 agents / 1,000 frameworks
 * with quota — 50 of the 100 roles have guarantees and limits — against the round without
 * quota, measured interleaved in the same run, and the ratio (goal ≤ 1.5×).
 * First, the round that follows one agent's resources coming back (a decline, what an
 * accept left over) at 10,000 agents / 50 frameworks with everything else offered: it visits
 * that agent only, against a round over every agent in the same state (the ratio).
 * Options: --rounds=N (default 9); --quota-only runs just the quota comparison, --recovery-only
 * just the recovery round.
 */
import type { OfferDecision } from "../../../src/actors/allocator/allocator.js";
import { AllocatorActor } from "../../../src/actors/allocator/allocator-actor.js";
import { createPolicy } from "../../../src/actors/allocator/policies.js";
import type { RoleQuota } from "../../../src/actors/allocator/snapshot.js";
import { parseResources } from "../../../src/resources/parse.js";
import { ManualClock } from "../../../src/runtime/clock.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import { median, percentile, type Reporter } from "../report.js";

interface Shape {
  agents: number;
  frameworks: number;
  roles: number;
}

const SHAPES: Shape[] = [
  { agents: 10_000, frameworks: 1_000, roles: 100 },
  { agents: 1_000, frameworks: 100, roles: 10 },
];

interface Measured {
  /** Wall-clock milliseconds of each round (what allocator/allocation_run_ms reports). */
  ms: number[];
  /** CPU milliseconds of each round (user + system of the process; steadier on a busy machine). */
  cpuMs: number[];
  offers: number;
}

/** 50 of the 100 roles: a guarantee of 400 cpus and 800 GB, a limit of 2,000 cpus (below a fair share of 2,400) and 4 TB. */
function benchQuotas(shape: Shape): Map<string, RoleQuota> {
  const quotas = new Map<string, RoleQuota>();
  for (let i = 0; i < shape.roles; i += 2) {
    quotas.set(`role-${i}`, { guarantees: new Map([["cpus", 400], ["mem", 800_000]]), limits: new Map([["cpus", 2000], ["mem", 4_000_000]]) });
  }
  return quotas;
}

async function measure(policy: string, shape: Shape, rounds: number, quotas?: Map<string, RoleQuota>): Promise<Measured> {
  const clock = new ManualClock();
  const system = new ActorSystem({ clock, address: "bench" });
  // A long interval: the benchmark runs rounds by hand.
  const actor = system.spawn(new AllocatorActor("allocator", createPolicy(policy), 3_600_000, undefined));
  const plain = parseResources("cpus:24;mem:65536;disk:409600;ports:[31000-32000]").toProto();
  const reserved = parseResources("cpus:16;mem:32768;disk:409600;ports:[31000-32000];cpus(role-0):8;mem(role-0):32768").toProto();
  let last: OfferDecision[] = [];
  await system.dispatch(actor, (a) => {
    a.setOfferCallback((d) => {
      last = d;
    });
    for (let i = 0; i < shape.agents; i++) {
      a.addAgent(`agent-${i}`, { hostname: `host-${i}`, total: i % 10 === 0 ? reserved : plain, active: true }, new Map());
    }
    for (let i = 0; i < shape.frameworks; i++) a.addFramework(`fw-${i}`, { roles: [`role-${i % shape.roles}`], active: true }, new Map());
    if (quotas) a.updateQuota(quotas);
  });
  const ms: number[] = [];
  const cpuMs: number[] = [];
  let offers = 0;
  for (let r = 0; r < rounds; r++) {
    await system.dispatch(actor, (a) => {
      const cpu = process.cpuUsage();
      a.allocate();
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      ms.push(a.metrics().lastAllocationRunMs);
      offers = last.length;
      for (const d of last) a.recoverResources(d.frameworkId, d.agentId, d.resources);
    });
  }
  await system.stop();
  return { ms, cpuMs, offers };
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const roundsArg = args.find((a) => a.startsWith("--rounds="));
  const rounds = roundsArg ? Number(roundsArg.slice("--rounds=".length)) : 9;
  if (args.includes("--quota-only")) return quotaVersusPlain(report, rounds);
  await recoveryRound(report, rounds);
  if (args.includes("--recovery-only")) return;
  for (const policy of ["hierarchical-drf", "strict-priority"]) {
    for (const shape of SHAPES) {
      const { ms, cpuMs, offers } = await measure(policy, shape, rounds);
      const name = `${policy === "hierarchical-drf" ? "drf" : "strict_priority"}_round_ms_${shape.agents}_agents_${shape.frameworks}_frameworks`;
      report.figure(name, median(ms), "ms", "lower", { ...shape, rounds, offers, p90: percentile(ms, 90), first: ms[0] });
      report.figure(`${name}_cpu`, median(cpuMs), "ms", "lower", { ...shape, rounds, p90: percentile(cpuMs, 90) });
    }
  }
  await quotaVersusPlain(report, rounds);
}

/** The DRF round with and without quota, alternating so that both see the same load. */
async function quotaVersusPlain(report: Reporter, rounds: number): Promise<void> {
  const shape = SHAPES[0]!;
  const plain: number[] = [];
  const withQuota: number[] = [];
  const plainCpu: number[] = [];
  const quotaCpu: number[] = [];
  let offers = { plain: 0, quota: 0 };
  for (let i = 0; i < 3; i++) {
    const p = await measure("hierarchical-drf", shape, rounds);
    const q = await measure("hierarchical-drf", shape, rounds, benchQuotas(shape));
    plain.push(...p.ms);
    plainCpu.push(...p.cpuMs);
    withQuota.push(...q.ms);
    quotaCpu.push(...q.cpuMs);
    offers = { plain: p.offers, quota: q.offers };
  }
  const extra = { ...shape, quotaRoles: benchQuotas(shape).size, rounds: rounds * 3 };
  report.figure("drf_round_ms_10000_agents_no_quota", median(plain), "ms", "lower", { ...extra, offers: offers.plain, p90: percentile(plain, 90) });
  report.figure("drf_round_ms_10000_agents_quota", median(withQuota), "ms", "lower", { ...extra, offers: offers.quota, p90: percentile(withQuota, 90) });
  report.figure("quota_round_ratio", median(withQuota) / median(plain), "x", "lower", { goal: 1.5, cpuRatio: median(quotaCpu) / median(plainCpu) });
}

/** The round soon after one agent's resources come back, against a full round, at 10,000 agents / 50 frameworks. */
async function recoveryRound(report: Reporter, rounds: number): Promise<void> {
  const clock = new ManualClock();
  const system = new ActorSystem({ clock, address: "bench" });
  const actor = system.spawn(new AllocatorActor("allocator", createPolicy("hierarchical-drf"), 3_600_000, undefined));
  const total = parseResources("cpus:8;mem:16384;disk:100000").toProto();
  let last: OfferDecision[] = [];
  const agents = 10_000;
  await system.dispatch(actor, (a) => {
    a.setOfferCallback((d) => {
      last = d;
    });
    for (let i = 0; i < agents; i++) a.addAgent(`agent-${i}`, { hostname: `host-${i}`, total, active: true }, new Map());
    for (let i = 0; i < 50; i++) a.addFramework(`fw-${i}`, { roles: ["*"], active: true }, new Map());
    a.allocate();
  });
  await clock.settle();
  const partial: number[] = [];
  const full: number[] = [];
  const summing: number[] = [];
  const policy = createPolicy("hierarchical-drf");
  for (let r = 0; r < rounds * 5; r++) {
    // One agent back: the soon round runs over it alone.
    const d = last[r % last.length]!;
    await system.dispatch(actor, (a) => a.recoverResources(d.frameworkId, d.agentId, d.resources));
    await clock.settle();
    await system.dispatch(actor, (a) => partial.push(a.metrics().lastAllocationRunMs));
    // The same, then a round over every agent.
    const e = last[0]!;
    await system.dispatch(actor, (a) => {
      a.recoverResources(e.frameworkId, e.agentId, e.resources);
      // As before the allocator kept the totals: the same round summing every agent's total itself (policy only, nothing applied).
      const snapshot = { ...a.snapshot(), totals: undefined };
      const t0 = performance.now();
      policy.allocate(snapshot);
      summing.push(performance.now() - t0);
      a.allocate();
      full.push(a.metrics().lastAllocationRunMs);
    });
    await clock.settle();
  }
  await system.stop();
  const shape = { agents, frameworks: 50, rounds: rounds * 5 };
  report.figure("drf_recovery_round_ms_10000_agents_50_frameworks", median(partial), "ms", "lower", { ...shape, p90: percentile(partial, 90) });
  report.figure("drf_full_round_ms_10000_agents_50_frameworks", median(full), "ms", "lower", { ...shape, p90: percentile(full, 90) });
  report.figure("drf_full_round_summing_totals_ms_10000_agents_50_frameworks", median(summing), "ms", "lower", { ...shape, p90: percentile(summing, 90), note: "the round as before: totals summed over every agent each round" });
  report.figure("recovery_round_ratio", median(partial) / median(full), "x", "lower", { note: "a round over the agent that came back / a round over every agent, same books" });
}
