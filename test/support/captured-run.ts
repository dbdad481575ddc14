import { runCommand, type RunOptions } from "../../src/cli/run.js";
import type { Clock } from "../../src/runtime/clock.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { waitFor } from "./wait.js";

/** A `dcos-node run` in this process with its output captured, subscribed to `master`. */
export interface CapturedRun {
  out: string[];
  err: string[];
  abort: AbortController;
  exit: Promise<number>;
}

/** Starts `dcos-node run -- "echo hello"` (0.5 cpus, 64 MB) and waits until it has subscribed. */
export async function startCapturedRun(master: string, clock: Clock, seed: number, options: Partial<RunOptions> = {}): Promise<CapturedRun> {
  const out: string[] = [];
  const err: string[] = [];
  const abort = new AbortController();
  const exit = runCommand({
    master,
    name: "hello",
    command: ["echo hello"],
    cpus: 0.5,
    mem: 64,
    user: "nobody",
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    signal: abort.signal,
    clock,
    logger: testLogger(),
    random: new Random(seed),
    ...options,
  });
  await waitFor(() => out.some((l) => l.startsWith("Subscribed")), `the run to subscribe to ${master}`);
  return { out, err, abort, exit };
}
