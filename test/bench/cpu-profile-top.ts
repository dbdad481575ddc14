/**
 * `node dist/test/bench/cpu-profile-top.js <file.cpuprofile> [top=25] [filter]`: the
 * functions with the most self time in a V8 CPU profile (`node --cpu-prof`), as
 * "self % · ms · function · file:line", the same summed by file, and the functions by total
 * time (self and callees). A filter (substring of "function · file") keeps only those
 * functions in the first and last lists. LAST_MS=N keeps only the samples of the profile's
 * last N ms (the failover at the end of a scale run: the new leader's own work, without the
 * minutes it followed). FROM_MS=A TO_MS=B keeps the samples between A and B ms from the
 * profile's start (a phase of a run, e.g. the fill). WITHIN=<regex> keeps only the samples
 * inside the bursts (gaps under 300 ms) of samples whose stack has a function matching it, up
 * to 200 ms after each burst's last (`WITHIN=actors/agent/launch` : the agent's launch phases
 * of a `containers` run); EXCLUDE=<regex> drops the samples whose stack has a match (the
 * bench's bare-spawn baseline: `EXCLUDE=plainSpawn|suites/containers.js:16`).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg, filter] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node dist/test/bench/cpu-profile-top.js <file.cpuprofile> [top] [file filter]\n");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node: each sample's delta goes to the node it landed in.
const selfUs = new Map<number, number>();
const lastMs = Number(process.env["LAST_MS"] ?? 0);
const sampledAt: number[] = [];
profile.timeDeltas.reduce((t, d, i) => (sampledAt[i] = t + d), profile.startTime);
const fromMs = process.env["FROM_MS"];
const toMs = process.env["TO_MS"];
const fromUs = lastMs > 0 ? profile.endTime - lastMs * 1000 : fromMs !== undefined ? profile.startTime + Number(fromMs) * 1000 : -Infinity;
const toUs = toMs !== undefined ? profile.startTime + Number(toMs) * 1000 : Infinity;
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
/** Whether a sample's stack (from node `id` up) has a function matching `re` ("name · file:line"). */
function stackMatches(id: number, re: RegExp, memo: Map<number, boolean>): boolean {
  const known = memo.get(id);
  if (known !== undefined) return known;
  const parent = parentOf.get(id);
  const hit = re.test(keyOf(byId.get(id)!.callFrame)) || (parent !== undefined && stackMatches(parent, re, memo));
  memo.set(id, hit);
  return hit;
}
const within = process.env["WITHIN"] ? new RegExp(process.env["WITHIN"]) : undefined;
const exclude = process.env["EXCLUDE"] ? new RegExp(process.env["EXCLUDE"]) : undefined;
const bursts: [number, number][] = [];
if (within) {
  const memo = new Map<number, boolean>();
  profile.samples.forEach((id, i) => {
    if (!stackMatches(id, within, memo)) return;
    const last = bursts.at(-1);
    if (last && sampledAt[i]! - last[1] < 300_000) last[1] = sampledAt[i]!;
    else bursts.push([sampledAt[i]!, sampledAt[i]!]);
  });
  for (const b of bursts) b[1] += 200_000;
}
const excluded = new Map<number, boolean>();
profile.samples.forEach((id, i) => {
  const at = sampledAt[i]!;
  if (at < fromUs || at >= toUs) return;
  if (within && !bursts.some(([a, b]) => at >= a && at < b)) return;
  if (exclude && stackMatches(id, exclude, excluded)) return;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

function whereOf(f: ProfileNode["callFrame"]): string {
  return f.url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "node_modules/").replace(/.*\/dist\//, "");
}

function keyOf(f: ProfileNode["callFrame"]): string {
  return `${f.functionName || "(anonymous)"} · ${whereOf(f) || "(native)"}:${f.lineNumber + 1}`;
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const where = whereOf(f);
  const key = keyOf(f);
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byFile.set(where || f.functionName, (byFile.get(where || f.functionName) ?? 0) + us);
  total += us;
}

function print(title: string, m: Map<string, number>, keep: (k: string) => boolean): void {
  process.stdout.write(`${title}\n`);
  for (const [k, us] of [...m].filter(([k]) => keep(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}% ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
}

// Total (inclusive) time per function: each sample counts once for every function on its stack.
const parent = parentOf;
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    const k = keyOf(byId.get(n)!.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

const span = within ? bursts.reduce((t, [a, b]) => t + (b - a), 0) : lastMs > 0 ? Math.min(lastMs * 1000, profile.endTime - profile.startTime) : profile.endTime - profile.startTime;
const idleUs = [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === "(idle)").reduce((t, [, us]) => t + us, 0);
process.stdout.write(`profile: ${(total / 1000).toFixed(0)} ms sampled over ${(span / 1000).toFixed(0)} ms${lastMs > 0 ? " (the last ones)" : ""}${within ? ` (${bursts.length} bursts)` : ""}, ${((total - idleUs) / 1000).toFixed(0)} ms busy\n`);
print("self time by function:", byFunction, (k) => !filter || k.includes(filter));
print("self time by file:", byFile, () => true);
print("total time (self + callees) by function:", inclusive, (k) => !k.startsWith("(root)") && (!filter || k.includes(filter)));
