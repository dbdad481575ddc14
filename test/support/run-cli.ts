/**
 * `dcos-node run …` (or `dcos-node --version`) as a child process of the built CLI, for tests
 * of the thin client: its exit code, its output so far, signals. A client still running after
 * 90 s is killed (the test has failed by then; nothing is left behind).
 */
import { spawn } from "node:child_process";
import { CLI } from "./processes.js";

export interface RunCli {
  /** The exit code; -1 when a signal ended it. */
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  signal(s: NodeJS.Signals): void;
  pid: number;
}

/**
 * Runs `dcos-node run ARGS` (`dcos-node --version` when ARGS is just that) with `entry` (the
 * built CLI by default; BIN for the installed command). The environment is the test's, with
 * no colours, no credential file unless `env` names one, and `env` on top.
 */
export function runCli(args: readonly string[], env: Record<string, string> = {}, entry = CLI): RunCli {
  const child = spawn(process.execPath, [entry, ...(args[0] === "--version" ? [] : ["run"]), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", DCOS_NODE_CREDENTIAL_FILE: "", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return {
    code: new Promise((resolve) => child.on("exit", (code, signal) => (clearTimeout(timer), resolve(signal ? -1 : code)))),
    stdout: () => stdout,
    stderr: () => stderr,
    signal: (s) => void child.kill(s),
    pid: child.pid ?? -1,
  };
}
