/**
 * `node dist/test/bench/thread-trace-report.js DIR [minMb=800]`: what the scale bench's
 * `--thread-trace=DIR` recorded, per major collection of a leader (old generation of at least
 * `minMb` before it): how long its marking lasted, the main thread's incremental steps in it
 * (from `--trace-gc`), the main thread's on-CPU and runnable-but-waiting time and the other
 * threads' CPU over the marking (from `threads.jsonl`), and the longest stall line of the
 * leader's loop ("Event loop held") overlapping it. Then every stall line with the same
 * per-thread split. docs/scale.md, "Session 12".
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface Sample {
  t: number;
  pid: number;
  mark: number;
  threads: Record<string, [number, number]>;
}

interface Stall {
  from: number;
  to: number;
  held: number;
  msg: string;
}

const MARK_COMPACT = /Mark-Compact ([\d.]+) \(([\d.]+)\) -> ([\d.]+).*?, ([\d.]+) \/ [\d.]+ ms\s+\(\+ ([\d.]+) ms in (\d+) steps.*?biggest step ([\d.]+) ms, walltime since start of marking (\d+) ms/;
/** The stall logger's delay between a stall's end and its line (loop-stalls.ts SETTLE_MS). */
const SETTLE_MS = 300;

const r = Math.round;

function split(samples: Sample[], pid: string, from: number, to: number): { main: [number, number]; others: number } {
  const near = (t: number) => samples.reduce((b, s) => (Math.abs(s.t - t) < Math.abs(b.t - t) ? s : b));
  const a = near(from);
  const z = near(to);
  const main: [number, number] = [0, 0];
  let others = 0;
  for (const [tid, [cpu, wait]] of Object.entries(z.threads)) {
    const [cpu0, wait0] = a.threads[tid] ?? [0, 0];
    if (tid === pid) {
      main[0] += cpu - cpu0;
      main[1] += wait - wait0;
    } else others += cpu - cpu0;
  }
  return { main, others };
}

export function report(dir: string, minMb = 800): string[] {
  const out: string[] = [];
  const samples = readFileSync(join(dir, "threads.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Sample);
  let majors = 0;
  let withStall = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".log")).sort()) {
    const lines = readFileSync(join(dir, file), "utf8").split("\n");
    const pid = lines.map((l) => /^\[(\d+):0x/.exec(l)?.[1]).find((p) => p !== undefined);
    const own = samples.filter((s) => String(s.pid) === pid);
    if (!pid || own.length === 0) continue;
    out.push(`${file} (pid ${pid}, leader in ${own.length} samples):`);
    const stalls: Stall[] = lines
      .filter((l) => l.includes("Event loop held"))
      .map((l) => {
        const j = JSON.parse(l.slice(l.indexOf("{"))) as { time: number; heldMs: number; msg: string };
        return { to: j.time - SETTLE_MS, from: j.time - SETTLE_MS - j.heldMs - 100, held: j.heldMs, msg: j.msg };
      });
    lines.forEach((line, i) => {
      const m = MARK_COMPACT.exec(line);
      if (!m || Number(m[1]) < minMb) return;
      // The line was printed before the first sample that counted past it.
      const end = own.find((s) => s.mark > i)?.t;
      if (end === undefined) return;
      const start = end - Number(m[8]);
      const { main, others } = split(own, pid, start, end);
      const held = Math.max(0, ...stalls.filter((s) => s.to >= start - 200 && s.from <= end + 500).map((s) => s.held));
      majors++;
      if (held >= 1000) withStall++;
      out.push(
        `  ${new Date(end).toISOString().slice(11, 19)} Mark-Compact of ${m[1]} MB: marking ${m[8]} ms, main thread's steps ${r(Number(m[5]))} ms (biggest ${m[7]}), pause ${r(Number(m[4]))} ms; main thread on CPU ${r(main[0])} ms, waiting ${r(main[1])} ms; other threads ${r(others)} ms; loop held ${held || "-"}`,
      );
    });
    for (const s of stalls) {
      const { main, others } = split(own, pid, s.from, s.to);
      out.push(`  ${new Date(s.to).toISOString().slice(11, 19)} ${s.msg}: main thread on CPU ${r(main[0])} ms, waiting ${r(main[1])} ms; other threads ${r(others)} ms`);
    }
  }
  out.push(`${majors} major collections of ${minMb} MB or more while leading, ${withStall} with the loop held 1 s or more`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, min] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write("usage: thread-trace-report.js DIR [minMb]\n");
    process.exit(2);
  }
  process.stdout.write(`${report(dir, min ? Number(min) : undefined).join("\n")}\n`);
}
