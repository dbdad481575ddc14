/**
 * `npm run bench -- busy-loop [-- --seconds=5 --rounds=2 --item-ms=0.5 --queued=2000]`: how
 * late a Raft-like tick (a 100 ms timer of one actor) runs in a node whose other actor is
 * flooded with work (`--queued` items of `--item-ms` each kept in its mailbox: a saturated
 * master), with the ticking actor urgent (ActorCell.urgent, as the raft actor is) and not,
 * and with no flood (the baseline), interleaved round by round. A heartbeat is only as
 * punctual as this tick: the followers of a leader whose ticks are late by more than their
 * election timeout elect another. Figures: the tick's lateness p50/p99/max per case and the
 * ratios to the baseline; the machine's load is in each figure.
 */
import { loadavg } from "node:os";
import { Actor } from "../../../src/runtime/actor.js";
import { SystemClock } from "../../../src/runtime/clock.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import { percentile, type Reporter } from "../report.js";
import type { Suite } from "../run.js";

const TICK_MS = 100;

class Ticker extends Actor {
  readonly late: number[] = [];
  constructor(readonly urgent: boolean) {
    super("ticker");
  }
  override initialize(): void {
    this.arm();
  }
  private arm(): void {
    const due = performance.now() + TICK_MS;
    this.delay(TICK_MS, () => {
      this.late.push(performance.now() - due);
      this.arm();
    });
  }
}

class Flooded extends Actor {}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* work */
  }
}

/** One case for `ms`: the ticker's lateness samples, and the flooded actor's items handled per second. */
async function measure(kind: "baseline" | "normal" | "urgent", o: { ms: number; itemMs: number; queued: number }): Promise<{ late: number[]; itemsPerSecond: number }> {
  const system = new ActorSystem({ clock: new SystemClock(), address: "busy-loop" });
  await system.start();
  const flooded = system.spawn(new Flooded("flooded"));
  const ticker = system.spawn(new Ticker(kind === "urgent"));
  let handled = 0;
  let queued = 0;
  const work = () => {
    spin(o.itemMs);
    handled++;
    queued--;
  };
  const refill = setInterval(() => {
    if (kind === "baseline") return;
    for (; queued < o.queued; queued++) system.enqueueFunction(flooded, work);
  }, 5);
  const started = performance.now();
  await new Promise((r) => setTimeout(r, o.ms));
  clearInterval(refill);
  const itemsPerSecond = (handled / (performance.now() - started)) * 1000;
  await system.stop();
  return { late: ticker.late, itemsPerSecond };
}

export const run: Suite = async (report: Reporter, args: string[]) => {
  const arg = (name: string, d: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
  const o = { ms: arg("seconds", 5) * 1000, itemMs: arg("item-ms", 0.5), queued: arg("queued", 2000) };
  const rounds = arg("rounds", 2);
  const kinds = ["baseline", "normal", "urgent"] as const;
  const late = { baseline: [] as number[], normal: [] as number[], urgent: [] as number[] };
  const items = { baseline: [] as number[], normal: [] as number[], urgent: [] as number[] };
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const k of kinds) {
      loads.push(loadavg()[0]!);
      const m = await measure(k, o);
      late[k].push(...m.late);
      items[k].push(m.itemsPerSecond);
      process.stderr.write(`busy-loop: round ${r + 1} ${k}: tick late p50 ${percentile(m.late, 50).toFixed(1)} / max ${Math.max(...m.late).toFixed(1)} ms, ${Math.round(m.itemsPerSecond)} items/s (load ${loadavg()[0]!.toFixed(1)})\n`);
    }
  }
  const extra = { tick_ms: TICK_MS, item_ms: o.itemMs, queued: o.queued, load1: Math.round((loads.reduce((a, b) => a + b, 0) / loads.length) * 10) / 10 };
  for (const k of kinds) {
    for (const q of [50, 99]) report.figure(`tick_late_p${q}_ms_${k}`, percentile(late[k], q), "ms", "lower", { ...extra, samples: late[k].length });
    report.figure(`tick_late_max_ms_${k}`, Math.max(...late[k]), "ms", "lower", extra);
    if (k !== "baseline") report.figure(`flooded_items_per_s_${k}`, items[k].reduce((a, b) => a + b, 0) / items[k].length, "item/s", "higher", extra);
  }
  for (const k of ["normal", "urgent"] as const) {
    report.figure(`tick_late_p99_${k}_vs_baseline`, percentile(late[k], 99) / Math.max(0.1, percentile(late.baseline, 99)), "ratio", "lower", extra);
  }
};
