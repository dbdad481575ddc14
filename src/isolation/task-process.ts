/**
 * One task's command, run by a built-in executor as a child in its own process group
 * (so a kill reaches everything the command started). Node can only make a new session
 * (setsid), which would take the task out of its container's session, so the child first
 * runs a line of perl (perl-base is part of every Debian system) that calls setpgid(0, 0)
 * and then execs the command in place
 * (after `prefix`, Containerizer.enter, when it must run inside a container). Kill is SIGTERM to the group, then
 * SIGKILL after the grace period; once the command has ended, what is left of its group
 * is killed too, except during a kill's grace: then what the command started (the
 * children of a `sh -c` whose shell died first) keeps the rest of the grace, and the
 * exit is known once the group is empty or the grace is over. stdout/stderr are the
 * executor's (the sandbox's files).
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { CommandInfo } from "../gen/dcos/v1/tasks_pb.js";
import { shellExitStatus } from "./containerizer.js";
import { Code, DcosError } from "../runtime/error.js";

export interface TaskExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** As a shell reports it: the exit code, or 128 + the signal's number; undefined when it never ran. */
  status?: number;
  /** "Command exited with status 3", "Command terminated by signal SIGKILL", or why it did not start. */
  message: string;
  /** It could not be started at all. */
  spawnError?: boolean;
}

function argv(command: CommandInfo): [string, string[]] {
  if (command.shell === false) {
    if (command.arguments.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "A command with shell=false needs arguments (argv[0] included)");
    const [file, ...args] = command.arguments;
    return [file!, args];
  }
  if (!command.value.trim()) throw new DcosError(Code.INVALID_ARGUMENT, "The task's command is empty");
  return ["/bin/sh", ["-c", command.value]];
}

/** setpgid(0, 0), then exec argv in place (same pid, so the group id is the pid). */
const NEW_GROUP = 'setpgrp(0, 0) or die "setpgid: $!\\n"; exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\\n"';
const PERL = "/usr/bin/perl";

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** How often a group that outlives its command during a kill's grace is looked at. */
const GROUP_POLL_MS = 50;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export class TaskProcess {
  readonly exited: Promise<TaskExit>;
  private readonly child: ChildProcess;
  private killTimer: NodeJS.Timeout | undefined;
  private done = false;
  killSignalSent: NodeJS.Signals | undefined;

  /**
   * Starts the command; `started` resolves when it runs (or the exit tells why it did not).
   * Output goes to the executor's stdout/stderr (the sandbox's files) unless "ignore"d.
   */
  constructor(command: CommandInfo, env: NodeJS.ProcessEnv, cwd: string, output: "inherit" | "ignore" = "inherit", prefix: readonly string[] = []) {
    const [file, args] = argv(command);
    const vars: NodeJS.ProcessEnv = { ...env };
    for (const v of command.environment?.variables ?? []) vars[v.name] = v.value;
    this.child = spawn(PERL, ["-e", NEW_GROUP, "--", ...prefix, file, ...args], { cwd, env: vars, stdio: ["ignore", output, output] });
    this.exited = new Promise<TaskExit>((resolve) => {
      this.child.once("error", (err) => {
        this.finish();
        resolve({ exitCode: null, signal: null, message: `Command could not be started: ${err.message}`, spawnError: true });
      });
      this.child.once("exit", (code, signal) => {
        void this.afterGrace().then(() => {
          this.finish();
          resolve({
          exitCode: code,
          signal,
          status: shellExitStatus(code, signal),
          message: signal ? `Command terminated by signal ${signal}` : `Command exited with status ${code}`,
          });
        });
      });
    });
  }

  /** Resolves when the process is running, rejects if it could not start. */
  started(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.child.pid !== undefined) {
        resolve();
        return;
      }
      this.child.once("spawn", () => resolve());
      this.child.once("error", reject);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGTERM to the group now, SIGKILL after graceMs if it still runs. Idempotent-ish: a shorter grace wins. */
  kill(graceMs: number): void {
    const pid = this.child.pid;
    if (this.done || pid === undefined) return;
    if (!this.killSignalSent) {
      this.killSignalSent = "SIGTERM";
      signalGroup(pid, "SIGTERM");
    }
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      this.killSignalSent = "SIGKILL";
      signalGroup(pid, "SIGKILL");
    }, Math.max(0, graceMs));
  }

  /** During a kill's grace: resolves once the group is empty or the grace is over (its SIGKILL sent). */
  private async afterGrace(): Promise<void> {
    const pid = this.child.pid;
    while (pid !== undefined && this.killTimer !== undefined && this.killSignalSent === "SIGTERM" && groupAlive(pid)) {
      await new Promise((r) => setTimeout(r, GROUP_POLL_MS));
    }
  }

  private finish(): void {
    this.done = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    if (this.child.pid !== undefined) signalGroup(this.child.pid, "SIGKILL");
  }
}

