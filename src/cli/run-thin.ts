/**
 * `dcos-node run`'s fast path: a thin HTTP(S) client of the run service
 * (src/frameworks/run/run-server.ts), which is already subscribed and holds offers. It
 * loads node:net (node:tls for https; thin-http.ts) and nothing of gRPC, protobuf or
 * commander; it prints the
 * same lines and exits with the same codes (RunExit) as the one-off framework path.
 *
 * Which service: `--run-url`, else $DCOS_NODE_RUN_URL, else the one a dev cluster recorded
 * for the `--master` given (dev-run-service.ts): its plaintext loopback port when it has
 * one and no TLS flag is given (a TLS handshake costs this process 25-40 ms of CPU, and a
 * loopback dev master serves plaintext tools the same way), else its HTTPS port. TLS as
 * the rest of `run`: --tls-dir or --tls-ca/--tls-cert/--tls-key, else the dev cluster's
 * client directory for that master; credentials from --principal/--secret,
 * --credential-file or $DCOS_NODE_CREDENTIAL_FILE, sent either way.
 *
 * runThin() resolves undefined when this path does not apply and the whole command line
 * should run instead (main.ts): `--framework`, --help, a flag it does not know or cannot
 * parse (commander then reports it exactly), no run service known, a service found by
 * discovery that does not answer, or one that does not take resources as the --role given. Ctrl-C asks the service to kill the task and waits for
 * its end (exit 130); a second one exits at once. A client that just goes away gets its
 * task killed by the service.
 */
import { readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { RunExit } from "../frameworks/run/run-exit.js";
import { devClientTlsDir } from "./dev-client-tls.js";
import { readDevRunService } from "./dev-run-service.js";
import type { RunMark } from "./run-timing.js";
import { thinRequest, type ThinTls } from "./thin-http.js";

export const RUN_URL_ENV = "DCOS_NODE_RUN_URL";
const CREDENTIAL_FILE_ENV = "DCOS_NODE_CREDENTIAL_FILE";

const VALUE_FLAGS = new Set(["master", "name", "cpus", "mem", "disk", "role", "user", "env", "timeout", "tls-dir", "tls-ca", "tls-cert", "tls-key", "principal", "secret", "credential-file", "run-url"]);
const BOOLEAN_FLAGS = new Set(["no-output", "framework"]);
const NUMBER_FLAGS = new Set(["cpus", "mem", "disk", "timeout"]);
/** Longest error body read from the service. */
const MAX_ERROR_BODY = 64 * 1024;

export interface ThinArgs {
  flags: Map<string, string>;
  env: Record<string, string>;
  command: string[];
}

/** `run`'s arguments (after `run`) when this path understands all of them, else undefined. */
export function parseThinArgs(args: readonly string[]): ThinArgs | undefined {
  const flags = new Map<string, string>();
  const env: Record<string, string> = {};
  let command: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      command = args.slice(i + 1);
      break;
    }
    if (!a.startsWith("--")) {
      if (a.startsWith("-")) return undefined;
      command = args.slice(i);
      // commander would read options among these words; let it.
      if (command.some((c) => c.startsWith("-"))) return undefined;
      break;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (BOOLEAN_FLAGS.has(name) && eq < 0) {
      flags.set(name, "true");
      continue;
    }
    if (!VALUE_FLAGS.has(name)) return undefined;
    const value = eq < 0 ? args[++i] : a.slice(eq + 1);
    if (value === undefined || (eq < 0 && value.startsWith("-"))) return undefined;
    if (NUMBER_FLAGS.has(name) && (value.trim() === "" || !Number.isFinite(Number(value)))) return undefined;
    if (name === "env") {
      const at = value.indexOf("=");
      if (at <= 0) return undefined;
      env[value.slice(0, at)] = value.slice(at + 1);
    } else {
      flags.set(name, value);
    }
  }
  if (!command || command.length === 0 || !flags.has("master")) return undefined;
  return { flags, env, command };
}

function credential(flags: Map<string, string>, environment: NodeJS.ProcessEnv): string | undefined | null {
  const principal = flags.get("principal");
  const secret = flags.get("secret");
  const basic = (p: string, s: string) => `Basic ${Buffer.from(`${p}:${s}`).toString("base64")}`;
  if (principal !== undefined || secret !== undefined) {
    if (!principal || !secret || flags.has("credential-file")) return null;
    return basic(principal, secret);
  }
  const file = flags.get("credential-file") ?? environment[CREDENTIAL_FILE_ENV];
  if (!file) return undefined;
  try {
    const o = JSON.parse(readFileSync(file, "utf8")) as { principal?: unknown; secret?: unknown };
    return typeof o.principal === "string" && typeof o.secret === "string" ? basic(o.principal, o.secret) : null;
  } catch {
    return null; // the whole command line reads it again and says what is wrong
  }
}

function readIf(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** CA and client certificate for an https URL, as the rest of `run` finds them; a file named but unreadable is an error. */
function tlsOptions(flags: Map<string, string>, devDir: string, named: boolean): ThinTls {
  const dir = flags.get("tls-dir") ?? (named ? undefined : devDir);
  const need = (file: string | undefined, what: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`Cannot read ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const ca = need(flags.get("tls-ca"), "--tls-ca") ?? (dir ? (named ? need(join(dir, "ca.crt"), "the CA certificate") : readIf(join(dir, "ca.crt"))) : undefined);
  const cert = need(flags.get("tls-cert"), "--tls-cert") ?? (dir ? readIf(join(dir, "node.crt")) : undefined);
  const key = need(flags.get("tls-key"), "--tls-key") ?? (dir ? readIf(join(dir, "node.key")) : undefined);
  return { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}), sessionDir: join(homedir(), ".dcos-node", "tls-sessions") };
}

interface Io {
  out(line: string): void;
  err(line: string): void;
  stdout(chunk: string): void;
  stderr(chunk: string): void;
}

/**
 * Runs `dcos-node run` (argv as process.argv, argv[2] === "run") through the run service
 * and resolves with the exit code, or undefined when the whole command line should run it
 * instead (see the file's comment).
 */
export async function runThin(argv: readonly string[], mark?: RunMark, environment: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const parsed = parseThinArgs(argv.slice(3));
  if (!parsed || parsed.flags.has("framework")) return undefined;
  const { flags } = parsed;
  const master = flags.get("master")!.split(",")[0]!.trim();
  const devDir = devClientTlsDir(master);
  const explicit = flags.get("run-url") ?? environment[RUN_URL_ENV];
  const tlsNamed = ["tls-dir", "tls-ca", "tls-cert", "tls-key"].some((f) => flags.has(f));
  const dev = explicit === undefined ? readDevRunService(devDir) : undefined;
  // A dev cluster on this machine: its plaintext loopback port unless TLS flags ask for TLS (as its master's port serves plaintext tools).
  const url = explicit ?? (dev && !tlsNamed ? dev.loopback ?? dev.url : dev?.url);
  if (!url) return undefined;
  const authorization = credential(flags, environment);
  if (authorization === null) return undefined;
  const output = !flags.has("no-output");
  const own = output ? process.stderr : process.stdout;
  const io: Io = {
    out: (line) => own.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stdout: (chunk) => process.stdout.write(chunk),
    stderr: (chunk) => process.stderr.write(chunk),
  };
  let target: URL;
  // TLS material is read once, for the first https URL (the service's, or its leader's after a redirect).
  let tls: ThinTls | undefined;
  const tlsFor = (u: URL): ThinTls => (u.protocol === "https:" ? (tls ??= tlsOptions(flags, devDir, tlsNamed)) : {});
  try {
    target = new URL("/v1/runs", url);
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new Error(`The run service URL ${url} is not http(s)`);
    tlsFor(target);
  } catch (err) {
    io.err((err as Error).message);
    return RunExit.USAGE;
  }
  const num = (name: string) => (flags.has(name) ? Number(flags.get(name)) : undefined);
  const body = JSON.stringify({
    command: parsed.command.length === 1 ? parsed.command[0] : parsed.command,
    ...(flags.has("name") ? { name: flags.get("name") } : {}),
    cpus: num("cpus") ?? 0.1,
    mem: num("mem") ?? 32,
    ...(flags.has("disk") ? { disk: num("disk") } : {}),
    role: flags.get("role") ?? "*",
    user: flags.get("user") ?? userInfo().username,
    env: parsed.env,
    ...(flags.has("timeout") ? { timeoutSeconds: num("timeout") } : {}),
    output,
  });
  const headers: Record<string, string> = { "content-type": "application/json", ...(authorization ? { authorization } : {}) };
  mark?.("thin");
  return new ThinRun(target, tlsFor, headers, io, mark).start(body, explicit !== undefined);
}

class ThinRun {
  private taskId: string | undefined;
  private launched = false;
  private exit: number | undefined;
  private interrupted = 0;
  private close: (() => void) | undefined;
  /** The URL the run's stream came from (the leader's after a redirect): kills go there. */
  private streaming: URL | undefined;
  private resolve: (code: number | undefined) => void = () => undefined;

  constructor(
    private readonly target: URL,
    private readonly tls: (url: URL) => ThinTls,
    private readonly headers: Record<string, string>,
    private readonly io: Io,
    private readonly mark?: RunMark,
  ) {}

  start(body: string, explicit: boolean): Promise<number | undefined> {
    const done = new Promise<number | undefined>((resolve) => (this.resolve = resolve));
    const onSignal = (): void => this.onSignal();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    this.post(this.target, body, explicit, 0);
    return done.finally(() => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    });
  }

  private post(target: URL, body: string, explicit: boolean, redirects: number): void {
    let status = 0;
    let text = "";
    let partial = "";
    const fail = (err: Error, answered: boolean): void => {
      if (answered && status === 200) return this.streamEnded();
      // A service only discovered may be gone (a stale record): the whole command line runs the framework path.
      if (!explicit && !answered && (err as NodeJS.ErrnoException).code === "ECONNREFUSED") return this.resolve(undefined);
      this.io.err(`Cannot reach the run service at ${target.origin}: ${err.message}`);
      this.resolve(RunExit.NOT_LAUNCHED);
    };
    let tls: ThinTls;
    try {
      tls = this.tls(target);
    } catch (err) {
      this.io.err((err as Error).message);
      return this.resolve(RunExit.USAGE);
    }
    thinRequest(target, { method: "POST", headers: this.headers, body, tls, secured: (resumed) => this.mark?.(resumed ? "tls-resumed" : "tls-full") }, {
      head: (code, headers) => {
        status = code;
        if (code === 200) this.streaming = target;
        if (code === 307 && headers.location && redirects < 2) {
          this.close?.();
          this.post(new URL(headers.location, target), body, true, redirects + 1);
          status = -1;
        }
      },
      data: (chunk) => {
        if (status === 200) {
          const lines = (partial + chunk).split("\n");
          partial = lines.pop() ?? "";
          for (const line of lines) if (line.trim() !== "") this.event(JSON.parse(line) as Record<string, unknown>);
        } else if (status > 0 && text.length < MAX_ERROR_BODY) {
          text += chunk;
        }
      },
      end: () => {
        if (status === 200) this.streamEnded();
        else if (status > 0) this.refused(status, text);
      },
      error: (err, answered) => {
        if (status !== -1) fail(err, answered);
      },
    }).then(
      (close) => (this.close = close),
      (err: Error) => fail(err, false),
    );
    this.mark?.("request");
  }

  private refused(status: number, text: string): void {
    let message = text.trim();
    let reason: string | undefined;
    try {
      ({ message = message, reason } = JSON.parse(text) as { message?: string; reason?: string });
    } catch {
      // not JSON: shown as it came
    }
    // A role the service does not take resources as: a one-off framework of that role runs it.
    if (status === 400 && reason === "ROLE_NOT_SERVED") return this.resolve(undefined);
    const usage = status === 400 || status === 413 || status === 415;
    this.io.err(usage ? message : `The run service refused the run (HTTP ${status}): ${message}`);
    this.resolve(usage ? RunExit.USAGE : RunExit.NOT_LAUNCHED);
  }

  private streamEnded(): void {
    if (this.exit !== undefined) return this.resolve(this.exit);
    // The service instance went away (stopped, killed, its leadership lost) or the connection broke.
    this.io.err(
      this.launched
        ? `The run service closed the stream before the run ended; its next leader kills task ${this.taskId} (the master does if none is back within 5 minutes)`
        : "The run service closed the stream before the run ended; nothing was launched",
    );
    this.resolve(this.launched ? RunExit.TASK_FAILED : RunExit.NOT_LAUNCHED);
  }

  private event(e: Record<string, unknown>): void {
    const s = (k: string) => String(e[k] ?? "");
    switch (e.event) {
      case "subscribed":
        this.taskId = s("taskId");
        this.mark?.("subscribed");
        this.io.out(`Subscribed to master ${s("master")} as framework ${s("frameworkId")}`);
        if (this.interrupted > 0) this.kill();
        break;
      case "launching":
        this.launched = true;
        this.mark?.("accept");
        this.io.out(`Launching task ${s("taskId")} on agent ${s("agentId")} (${s("hostname")}) with ${s("resources")}`);
        break;
      case "status":
        this.mark?.(s("state"));
        this.io.out(`${new Date(Number(e.timestamp)).toISOString()} ${s("text")}`);
        if (e.sandbox) this.io.out(`Sandbox: ${e.hostname ? `${s("hostname")}:` : ""}${s("sandbox")} (stdout, stderr)`);
        break;
      case "stdout":
        this.io.stdout(s("data"));
        break;
      case "stderr":
        this.io.stderr(s("data"));
        break;
      case "error":
        this.io.err(s("message"));
        break;
      case "end":
        this.exit = Number(e.exit);
        break;
    }
  }

  /** Ctrl-C: the service kills the task and the stream ends with 130; a second one gives up at once. */
  private onSignal(): void {
    this.interrupted++;
    if (this.interrupted > 1) {
      this.close?.();
      process.exit(RunExit.INTERRUPTED);
    }
    if (this.taskId) this.kill();
  }

  private kill(): void {
    const url = new URL(`/v1/runs/${encodeURIComponent(this.taskId!)}/kill`, this.streaming ?? this.target);
    const { "content-type": _json, ...headers } = this.headers;
    const failed = (err: Error): void => {
      this.io.err(`Cannot ask the run service to kill task ${this.taskId}: ${err.message}`);
      this.close?.();
      this.resolve(RunExit.INTERRUPTED);
    };
    thinRequest(url, { method: "POST", headers, tls: this.tls(url) }, { head: () => undefined, data: () => undefined, end: () => undefined, error: failed }).catch(failed);
  }
}
