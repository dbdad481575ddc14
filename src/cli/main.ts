#!/usr/bin/env node
/**
 * The dcos-node entry point. `dcos-node run …` first tries the thin client of the run
 * service (run-thin.ts: node:http(s) only); when that does not apply (--framework, no run
 * service known, --help, …) it runs the bundled `run` command when the build made one
 * (cli-bundle.ts: one file, compiled from V8's code cache); everything else, and `run`
 * without a usable bundle, the whole command line of program.ts.
 */
import { runTiming } from "./run-timing.js";

const argv = process.argv;
const mark = argv[2] === "run" ? runTiming() : undefined;
mark?.("main");
const thin = argv[2] === "run" ? await (await import("./run-thin.js")).runThin(argv, mark) : undefined;
if (thin !== undefined) {
  process.exitCode = thin;
} else {
  const bundled = argv[2] === "run" ? (await import("./cli-bundle.js")).loadCliBundle("run", mark) : undefined;
  if (bundled) {
    await bundled.main(argv);
  } else {
    const cli = await import("./program.js");
    mark?.("cli:modules");
    await cli.main(argv);
  }
}
