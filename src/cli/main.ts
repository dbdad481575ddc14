#!/usr/bin/env node
/**
 * dcos-node as ES modules (dist/src/cli/main.js; the installed command is bin.ts's bundle,
 * which does the same from one CommonJS file). `dcos-node run …` first tries the thin client
 * of the run service (run-thin.ts: node:net/node:tls only); when that does not apply
 * (--framework, no run service known, --help, …) cli-main.ts runs the bundled `run`
 * command or the whole command line of program.ts.
 */
import { runTiming } from "./run-timing.js";

const argv = process.argv;
const mark = argv[2] === "run" ? runTiming() : undefined;
mark?.("main");
const thin = argv[2] === "run" ? await (await import("./run-thin.js")).runThin(argv, mark) : undefined;
if (thin !== undefined) process.exitCode = thin;
else await (await import("./cli-main.js")).fullMain(argv, mark);
