/**
 * `npm run bench -- containerizer [-- --count=200 --concurrency=8]`: launches `count`
 * containers (`sleep 60`) on the posix containerizer with each isolation mode and reports
 * launches per second and launch latency (launch() call → command running) p50/p99, then
 * destroys them all. Needs root for cgroups and namespaces (those modes are skipped, with
 * a note on stderr, without it).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rmdir } from "node:fs/promises";
import { isolatorsFor } from "../../../src/isolation/isolation-flag.js";
import { readCgroupMounts } from "../../../src/isolation/cgroup-mounts.js";
import { PosixContainerizer } from "../../../src/isolation/posix.js";
import { percentile, type Reporter } from "../report.js";

function numberArg(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.split("=")[1]) : NaN;
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

async function launchMany(mode: string, count: number, concurrency: number, cgroupRoot: string): Promise<{ perSecond: number; latencies: number[] }> {
  const dir = await mkdtemp(join(tmpdir(), "dcos-bench-containers-"));
  const c = new PosixContainerizer({ runtimeRoot: join(dir, "runtime"), isolators: await isolatorsFor(mode, { root: cgroupRoot }) });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await c.launch({ id: `bench-${i}`, command: ["sleep", "60"], sandbox: dir, resources: { cpus: 0.01, memMb: 32 } });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(c.containers().map((id) => c.destroy(id, 0)));
  await rm(dir, { recursive: true, force: true });
  return { perSecond: count / elapsed, latencies };
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const count = numberArg(args, "count", 200);
  const concurrency = numberArg(args, "concurrency", 8);
  const root = process.getuid?.() === 0;
  const cgroupRoot = `dcos-bench-${process.pid}`;
  for (const mode of ["posix", "cgroups", "cgroups,namespaces"]) {
    if (mode !== "posix" && !root) {
      process.stderr.write(`skipping --isolation=${mode}: it needs root\n`);
      continue;
    }
    const { perSecond, latencies } = await launchMany(mode, count, concurrency, cgroupRoot);
    const name = mode.replace(",", "_");
    const extra = { count, concurrency, isolation: mode };
    report.figure(`${name}_launches_per_s`, perSecond, "launches/s", "higher", extra);
    report.figure(`${name}_launch_p50_ms`, percentile(latencies, 50), "ms", "lower", extra);
    report.figure(`${name}_launch_p99_ms`, percentile(latencies, 99), "ms", "lower", extra);
  }
  const mounts = await readCgroupMounts();
  for (const m of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) await rmdir(join(m, cgroupRoot)).catch(() => undefined);
}
