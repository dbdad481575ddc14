/**
 * The installed `dcos-node` command (package.json bin: dist/cli/dcos-node.cjs, built by
 * `npm run build:cli` from this file). A CommonJS file starts faster than an ES module
 * (Node's ESM loader costs 20-70 ms more before the first line runs on this VM), so `run`'s
 * thin client (run-thin.ts, bundled in here) starts as fast as Node itself; everything else,
 * and `run` when the thin path does not apply, loads the ES modules (cli-main.ts).
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { runThin } from "./run-thin.js";
import { runTiming } from "./run-timing.js";

const argv = process.argv;
const mark = argv[2] === "run" ? runTiming() : undefined;
mark?.("main");

async function main(): Promise<void> {
  const thin = argv[2] === "run" ? await runThin(argv, mark) : undefined;
  if (thin !== undefined) {
    process.exitCode = thin;
    return;
  }
  // dist/cli/dcos-node.cjs → dist/src/cli/cli-main.js (not bundled: loaded as the ES module it is).
  const modules = pathToFileURL(join(__dirname, "..", "src", "cli", "cli-main.js")).href;
  const { fullMain } = (await import(modules)) as typeof import("./cli-main.js");
  await fullMain(argv, mark);
}

void main();
