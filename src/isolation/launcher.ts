/**
 * The launch wrapper: a few lines of /bin/sh that stand between the containerizer and the
 * command, so that a container outlives the agent and its exit status is not lost.
 *
 * Why a wrapper. The agent spawns the wrapper detached (its own session and process group),
 * with stdout/stderr opened on the sandbox's files, so an agent killed with -9 takes nothing
 * with it. But once the agent is gone the command is no longer its child: a restarted
 * agent can see that the process ended (/proc) but not how. The wrapper runs the command as
 * its child, then writes the command's status (the shell's `$?`) to a file in the
 * container's runtime directory, and finally ends the same way the command ended (it
 * re-raises the signal), so a containerizer that is still the parent reads the exact
 * status from the wrapper's own exit.
 *
 * The handshake. The launcher is two small shells: the gate first reads one line ("go")
 * from stdin, a pipe from the agent, and only then execs the rest (an isolator's prefix,
 * then the recorder that runs the command). Between spawn and "go", isolators place the
 * gate in their cgroups, so the command and everything it forks start inside them. If the
 * agent dies before saying "go", the gate reads end-of-file and exits 125 without running
 * the command. After "go", stdin is /dev/null.
 *
 * Signals. The recorder traps TERM, INT, HUP and QUIT with a no-op handler: a signal to the
 * whole process group (destroy) must end the command, not the wrapper that records how the
 * command ended. A handler (unlike an ignored signal) is reset to the default in the
 * command by exec, so the command sees SIGTERM normally. SIGKILL ends the wrapper too; then
 * no status is written and the parent's view (SIGKILL) is what is known.
 *
 * Kill grace. A destroy with a grace period writes `<status file>.destroying` (the
 * deadline) before its SIGTERMs. When the command ends while that file exists, the
 * recorder records the status and then lingers, blocked on a FIFO it makes
 * (`<status file>.linger`), instead of exiting: what the command started (the children of a
 * `sh -c` whose shell died first) keeps its grace. The containerizer ends the grace as soon
 * as nothing but the launcher is left, or at the deadline, with SIGKILL to everything.
 * Under a PID namespace this matters twice: the recorder is the namespace's init, and the
 * kernel kills the whole namespace when init exits.
 *
 * The one ambiguity: the shell reports "killed by signal N" as status 128+N, so a command
 * that itself calls `exit 143` is reported as killed by SIGTERM. Mesos's shell-wrapped
 * command tasks have the same ambiguity.
 */
import { constants } from "node:os";
import { readFileSync } from "node:fs";

/**
 * The gate: waits for "go" on stdin, then execs the rest of its argv (an isolator's prefix
 * such as `unshare …`, then the recorder). Exit 125 when the agent went away first.
 */
export const GATE_SCRIPT = [
  "IFS= read -r go || exit 125",
  '[ "$go" = go ] || exit 125',
  "exec </dev/null",
  'exec "$@"',
].join("\n");

/**
 * A pre-forked gate (launcher-gates.ts): the warm launcher forks it before any container
 * needs it, with an empty environment and its output on /dev/null. It reads the path of
 * the container's gate file (GATE_FILE: its environment, working directory, output files
 * and the rest of the wrapper's argv, as `set --`), sources it, and from there is the gate
 * above: "go", then the isolators' prefix and the recorder. Exit 125 when the launcher
 * went away before giving it a container (end of file) or the file failed.
 */
export const POOLED_GATE_SCRIPT = [
  "IFS= read -r dcos_gate_file || exit 125",
  'case $dcos_gate_file in /*) ;; *) exit 125 ;; esac',
  '. "$dcos_gate_file" || exit 125',
  "IFS= read -r dcos_gate_go || exit 125",
  '[ "$dcos_gate_go" = go ] || exit 125',
  "exec </dev/null",
  // The gate file set the recorder's script here when no isolator's prefix comes before it:
  // the gate becomes the recorder itself instead of exec'ing a second /bin/sh (the script ends with exit).
  'if [ -n "$dcos_gate_recorder" ]; then eval "$dcos_gate_recorder"; exit; fi',
  'exec "$@"',
].join("\n");

/** The recorder's $0 (its name in the wrapper's argv): what a gate file looks for to run the recorder in the gate itself. */
export const RECORDER_NAME = "dcos-launch";

/** The name of the gate file a pre-forked gate sources, in the container's runtime directory. */
export const GATE_FILE = "gate.sh";

/**
 * The recorder: $1 is the status file, the rest is the command's argv. It runs the command
 * as its child, records its status and ends the way the command ended. Inside a new PID
 * namespace it is the namespace's init: a signal it re-raises to itself is ignored there,
 * so it exits with 128+N instead, and the status file is what tells the truth.
 *
 * The status is written in place by the shell's own redirection (one write of at most four
 * bytes, after the command ended), not to a temporary file then `mv`: that was a fork and an
 * exec of coreutils per task, about a quarter of the CPU of a task's wrapper shells. The file
 * exists only once the command has ended, as before; a recorder SIGKILLed between the
 * create and the write leaves it empty, which readExitStatusFile reads as no status (as the
 * temporary file left behind was before).
 */
export const RECORDER_SCRIPT = [
  "status_file=$1; shift",
  "trap : TERM INT HUP QUIT",
  '"$@"',
  "s=$?",
  'printf "%s\\n" "$s" > "$status_file"',
  'if [ -e "$status_file.destroying" ] && mkfifo -m 600 "$status_file.linger" 2>/dev/null; then while [ -p "$status_file.linger" ]; do : < "$status_file.linger"; done; fi',
  "trap - TERM INT HUP QUIT",
  'if [ "$s" -gt 128 ] && [ "$s" -lt 193 ]; then kill -$((s - 128)) $$; fi',
  'exit "$s"',
].join("\n");

/** Next to the status file: a destroy with a grace period is under way (holds the deadline, ms since the epoch). */
export const DESTROYING_SUFFIX = ".destroying";

/** Exit status of the wrapper when the agent went away before saying "go". */
export const WRAPPER_NOT_STARTED = 125;

/** The line that tells the wrapper to run the command. */
export const GO_LINE = "go\n";

export interface LaunchArgv {
  statusFile: string;
  command: string | readonly string[];
  /** Put before the recorder, after the gate (e.g. `unshare --pid --fork --mount-proc`). */
  isolationPrefix?: readonly string[];
  /** Put before the command, inside the recorder (e.g. `setpriv --reuid=…`). */
  commandPrefix?: readonly string[];
}

/** The argv (after /bin/sh) of the launcher: gate → isolation prefix → recorder → command. */
export function launcherArgs(a: LaunchArgv): string[] {
  const argv = typeof a.command === "string" ? ["/bin/sh", "-c", a.command] : [...a.command];
  return [
    "-c", GATE_SCRIPT, "dcos-gate",
    ...(a.isolationPrefix ?? []),
    "/bin/sh", "-c", RECORDER_SCRIPT, RECORDER_NAME, a.statusFile,
    ...(a.commandPrefix ?? []),
    ...argv,
  ];
}

/** The wrapper's argv after the gate (the isolators' prefix, the recorder, the command), or undefined for another argv. */
export function afterGate(args: readonly string[]): string[] | undefined {
  return args[0] === "-c" && args[1] === GATE_SCRIPT && args[2] === "dcos-gate" ? args.slice(3) : undefined;
}

/** How a process ended: exactly one of the two is non-null. */
export interface ExitStatus {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

export function signalName(num: number): NodeJS.Signals | undefined {
  return SIGNAL_NAMES.get(num);
}

/** Decodes the shell's `$?`: 128+N means "killed by signal N" when N is a known signal. */
export function decodeShellStatus(s: number): ExitStatus {
  if (s > 128) {
    const sig = signalName(s - 128);
    if (sig) return { exitCode: null, signal: sig };
  }
  return { exitCode: s, signal: null };
}

/**
 * Reads the status the wrapper wrote, or undefined if there is none (yet). Synchronous: a
 * few bytes from the page cache, where the thread pool made a container's end wait behind
 * the fsyncs of other tasks' launches (and them behind it).
 */
export function readExitStatusFile(path: string): ExitStatus | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const s = Number(text.trim());
  if (!Number.isInteger(s) || s < 0 || s > 255) return undefined;
  return decodeShellStatus(s);
}

/** "Command exited with status 3" / "Command terminated by signal SIGKILL". */
export function describeExit(status: ExitStatus): string {
  if (status.signal) return `Command terminated by signal ${status.signal}`;
  return `Command exited with status ${status.exitCode ?? "unknown"}`;
}
