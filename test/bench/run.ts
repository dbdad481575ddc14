/**
 * `npm run bench -- <suite> [<suite>…]`: runs benchmark suites from test/bench/suites,
 * each printing one JSON line per figure. Log lines go to stderr.
 */
import { readdirSync } from "node:fs";
import { Reporter } from "./report.js";

export type Suite = (report: Reporter, args: string[]) => Promise<void>;

const dir = new URL("./suites/", import.meta.url);
const available = readdirSync(dir)
  .filter((f) => f.endsWith(".js"))
  .map((f) => f.slice(0, -3))
  .sort();

const [names, args] = splitArgs(process.argv.slice(2));
if (names.length === 0) {
  process.stderr.write(`usage: npm run bench -- <suite> [...]\nsuites: ${available.join(", ")}\n`);
  process.exit(2);
}
for (const name of names) {
  if (!available.includes(name)) {
    process.stderr.write(`unknown benchmark suite '${name}'; available: ${available.join(", ")}\n`);
    process.exit(2);
  }
}
for (const name of names) {
  const mod = (await import(new URL(`${name}.js`, dir).href)) as { run: Suite };
  await mod.run(new Reporter(name), args);
}
process.exit(0);

function splitArgs(argv: string[]): [string[], string[]] {
  const i = argv.indexOf("--");
  return i === -1 ? [argv.filter((a) => !a.startsWith("-")), argv.filter((a) => a.startsWith("-"))] : [argv.slice(0, i), argv.slice(i + 1)];
}
