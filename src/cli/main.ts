#!/usr/bin/env node
/**
 * The dcos-node entry point. `dcos-node run …` runs the bundled `run` command when the
 * build made one (cli-bundle.ts: one file, compiled from V8's code cache; a one-off task
 * starts in a fraction of the time); everything else, and `run` without a usable bundle,
 * the whole command line of program.ts.
 */
import { runTiming } from "./run-timing.js";

const argv = process.argv;
const mark = argv[2] === "run" ? runTiming() : undefined;
mark?.("main");
const bundled = argv[2] === "run" ? (await import("./cli-bundle.js")).loadCliBundle("run", mark) : undefined;
if (bundled) {
  await bundled.main(argv);
} else {
  const cli = await import("./program.js");
  mark?.("cli:modules");
  await cli.main(argv);
}
