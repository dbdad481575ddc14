/**
 * The whole command line after the thin `run` path did not apply: the bundled `run`
 * command when the build made one (cli-bundle.ts: one file, compiled from V8's code cache),
 * else program.ts. main.ts and the installed entry (bin.ts) both end here.
 */
import type { RunMark } from "./run-timing.js";

export async function fullMain(argv: string[], mark: RunMark | undefined): Promise<void> {
  const bundled = argv[2] === "run" ? (await import("./cli-bundle.js")).loadCliBundle("run", mark) : undefined;
  if (bundled) {
    await bundled.main(argv);
  } else {
    const cli = await import("./program.js");
    mark?.("cli:modules");
    await cli.main(argv);
  }
}
