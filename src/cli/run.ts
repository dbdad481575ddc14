import { Command, InvalidArgumentError, Option } from "commander";
import { userInfo } from "node:os";
import { parseMasterAddress } from "../actors/scheduler-driver/masters.js";
import { validateRole } from "../resources/roles.js";
import { SystemClock, type Clock } from "../runtime/clock.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";
import type { Random } from "../runtime/random.js";
import type { OneOffSpec } from "./one-off-framework.js";
import { RunExit } from "./run-exit.js";
import { checkCommand, checkEnvNames, checkPositive, nameFromCommand } from "../frameworks/run/run-request.js";
import type { OutputSinks } from "../frameworks/common/sandbox-output.js";
import { resolveClientCredential, type ClientCredential, type ClientCredentialFlags } from "../security/auth/client-credential.js";
import { withCredentialOptions } from "./credential-options.js";
import type { TlsPaths } from "../security/pki/tls-files.js";
import { findDevClientTls } from "./dev-client-tls.js";
import { runTiming, type RunMark } from "./run-timing.js";

export { RunExit, nameFromCommand };

/** `dcos-node run` as a function: what main.ts (or a test) calls. */
export interface RunOptions {
  /** Master(s): `host:port`, or several comma-separated. */
  master: string;
  /** The framework's and the task's name; default: from the command (its program's name). */
  name?: string;
  /** One element: a shell line (`/bin/sh -c`); several: argv, run without a shell. */
  command: string[];
  cpus: number;
  /** MB. */
  mem: number;
  /** MB; none when absent. */
  disk?: number;
  /** Default "*". */
  role?: string;
  /** Default: the current user. */
  user?: string;
  env?: Record<string, string>;
  /** Seconds for the whole run (no offer: give up; running: kill). None when absent. */
  timeoutSeconds?: number;
  /** Seconds offers that do not fit are refused; default 30. */
  declineSeconds?: number;
  /** Seconds to wait for the end of a killed task before tearing down; default 30. */
  killTimeoutSeconds?: number;
  /** Authenticate as this principal (none: unauthenticated). */
  credential?: ClientCredential;
  /** Ctrl-C. When absent, SIGINT and SIGTERM of this process do it. */
  signal?: AbortSignal;
  /** Default: process.stdout / process.stderr, one line each. */
  out?: (line: string) => void;
  err?: (line: string) => void;
  /**
   * Copy the task's stdout/stderr here as they grow (true: this process's stdout/stderr,
   * and the run's own lines then go to stderr). Default: not shown.
   */
  output?: OutputSinks | boolean;
  clock?: Clock;
  logger?: Logger;
  random?: Random;
  /** TLS to the masters: a principal's TLS directory, or the CA (and certificate) files. */
  tls?: TlsPaths;
  /** Called at each phase (run-timing.ts); default: the lines DCOS_NODE_RUN_TIMING=1 asks for. */
  mark?: RunMark;
}

/** Checks the options and fills defaults; INVALID_ARGUMENT naming the first bad one. */
export function runSpec(options: RunOptions): OneOffSpec {
  for (const m of options.master.split(",")) parseMasterAddress(m);
  checkCommand(options.command);
  const name = options.name ?? nameFromCommand(options.command);
  if (name.trim() === "") throw new DcosError(Code.INVALID_ARGUMENT, "Invalid --name: it is empty");
  checkPositive(options.cpus, "--cpus");
  checkPositive(options.mem, "--mem");
  checkPositive(options.disk, "--disk", true);
  checkPositive(options.timeoutSeconds, "--timeout");
  checkPositive(options.declineSeconds, "decline seconds", true);
  checkPositive(options.killTimeoutSeconds, "kill timeout");
  const role = options.role ?? "*";
  validateRole(role, "--role");
  checkEnvNames(options.env ?? {});
  return {
    masters: options.master,
    name,
    credential: options.credential,
    role,
    user: options.user ?? userInfo().username,
    command: options.command.length === 1 ? options.command[0]! : [...options.command],
    resources: { cpus: options.cpus, mem: options.mem, disk: options.disk },
    env: { ...options.env },
    timeoutSeconds: options.timeoutSeconds ?? 0,
    declineSeconds: options.declineSeconds ?? 30,
    killTimeoutSeconds: options.killTimeoutSeconds ?? 30,
  };
}

/** Ctrl-C (and SIGTERM) as an AbortSignal, until dispose(). */
function processSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(RunExit.INTERRUPTED); // a second Ctrl-C while tearing down
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Runs one command on the cluster like mesos-execute and resolves with the exit code
 * (RunExit): 0 on TASK_FINISHED, 1 when the task ended otherwise, 2 for bad options, 3 when
 * it never ran, 124 after --timeout, 130 after Ctrl-C. The reason goes to `err`.
 */
export async function runCommand(options: RunOptions): Promise<number> {
  const err = options.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let spec: OneOffSpec;
  try {
    spec = runSpec(options);
  } catch (e) {
    err((e as Error).message);
    return RunExit.USAGE;
  }
  const mark = options.mark ?? runTiming();
  let credentials;
  try {
    const given = (t: TlsPaths | undefined): t is TlsPaths => t !== undefined && Object.values(t).some((v) => v !== undefined);
    // No TLS flags: a dev cluster's own directory for this master, if one is running here.
    const devDir = given(options.tls) ? undefined : await findDevClientTls(spec.masters.split(",")[0]!.trim());
    const tls = devDir !== undefined ? { dir: devDir } : options.tls;
    if (given(tls)) {
      // X.509 and TLS load only when used (--help and --version stay fast).
      const [{ channelCredentials }, { loadClientTls }] = await Promise.all([import("../security/pki/grpc-credentials.js"), import("../security/pki/tls-files.js")]);
      credentials = channelCredentials(await loadClientTls(tls));
      mark?.("tls");
    }
  } catch (e) {
    err((e as Error).message);
    return RunExit.USAGE;
  }
  const own = options.signal ? undefined : processSignal();
  const output: OutputSinks | undefined =
    options.output === true ? { stdout: (c) => process.stdout.write(c), stderr: (c) => process.stderr.write(c) } : options.output || undefined;
  // With the task's output on stdout, the run's own lines go to stderr (as docker run's do).
  const ownStream = output && options.output === true ? process.stderr : process.stdout;
  try {
    // Loaded here, not at the top: `dcos-node --help/--version` need none of the gRPC client.
    const [{ OneOffFramework }, { silentLogger }] = await Promise.all([import("./one-off-framework.js"), import("../runtime/log.js")]);
    mark?.("modules");
    const framework = new OneOffFramework(spec, {
      out: options.out ?? ((line: string) => ownStream.write(`${line}\n`)),
      err,
      output,
      clock: options.clock ?? new SystemClock(),
      logger: options.logger ?? silentLogger(),
      random: options.random,
      mark,
      ...(credentials ? { channelCredentials: credentials } : {}),
    });
    return await framework.run(options.signal ?? own!.signal);
  } finally {
    own?.dispose();
  }
}

function number(what: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number, not '${value}'`);
    return n;
  };
}

function collectEnv(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected NAME=VALUE, not '${value}'`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

interface RunFlags extends ClientCredentialFlags {
  master: string;
  name?: string;
  output: boolean;
  cpus: number;
  mem: number;
  disk?: number;
  role: string;
  user?: string;
  env: Record<string, string>;
  timeout?: number;
  tlsDir?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * The `run` subcommand for commander: `program.addCommand(runSubcommand())`. The parent
 * must call `enablePositionalOptions()` so that `run --role=…` is the framework's role and
 * not the parent's --role.
 */
export function runSubcommand(logger?: Logger, execute: (options: RunOptions) => Promise<number> = runCommand): Command {
  const command = new Command("run")
    .description("Run one command on the cluster (through the run service when there is one, else as a one-off framework like mesos-execute) and show its states")
    .requiredOption("--master <host:port>", "the master (several: comma-separated)")
    .option("--name <name>", "framework and task name (default: the command's program name)")
    .option("--no-output", "do not show the task's stdout and stderr (shown as they grow by default)")
    .addOption(new Option("--cpus <n>", "CPUs for the task").argParser(number("--cpus")).default(0.1))
    .addOption(new Option("--mem <MB>", "memory for the task in MB").argParser(number("--mem")).default(32))
    .addOption(new Option("--disk <MB>", "disk for the task in MB").argParser(number("--disk")))
    .option("--role <role>", "the role to take resources as", "*")
    .option("--user <user>", "the user to run the task as (default: you)")
    .addOption(new Option("--env <NAME=VALUE>", "environment for the task (repeatable)").argParser(collectEnv).default({}))
    .addOption(new Option("--timeout <seconds>", "give up (or kill the task) after this long").argParser(number("--timeout")))
    .option("--tls-dir <dir>", "TLS to the masters with ca.crt (and node.crt, node.key) from this directory (default: a dev cluster's own, found by the master's address)")
    .option("--tls-ca <file>", "the cluster CA certificate to verify the masters with")
    .option("--tls-cert <file>", "a principal's certificate to authenticate with (with --tls-key)")
    .option("--tls-key <file>", "its private key")
    .option("--run-url <url>", "the run service to ask (default: $DCOS_NODE_RUN_URL, else a dev cluster's own, found by the master's address)")
    .option("--framework", "run the task as a one-off framework of its own (subscribes to the master itself; for clusters without a run service)")
    .argument("<command...>", "the command, after --; one word is run by /bin/sh -c");
  return withCredentialOptions(command).action(async (command: string[], flags: RunFlags) => {
      let credential: ClientCredential | undefined;
      try {
        credential = await resolveClientCredential(flags);
      } catch (err) {
        process.stderr.write(`dcos-node run: ${(err as Error).message}\n`);
        process.exitCode = RunExit.USAGE;
        return;
      }
      process.exitCode = await execute({
        credential,
        master: flags.master,
        name: flags.name,
        command,
        cpus: flags.cpus,
        mem: flags.mem,
        disk: flags.disk,
        role: flags.role,
        user: flags.user,
        env: flags.env,
        timeoutSeconds: flags.timeout,
        output: flags.output,
        tls: { dir: flags.tlsDir, ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey },
        logger,
      });
    });
}
