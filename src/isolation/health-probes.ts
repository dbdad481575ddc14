/**
 * The three kinds of probe a HealthCheck names, as HealthProbe functions:
 * - COMMAND: the check's command in the task's environment and sandbox, in its own
 *   process group (task-process.ts), healthy when it exits 0; aborted → the group is killed.
 *   An executor runs it inside the task's container already; the agent, for a task it runs
 *   itself, puts it there with the containerizer's enter prefix (its cgroups, namespaces, user);
 * - HTTP: GET <scheme>://127.0.0.1:<port><path>, healthy on 2xx/3xx (or one of `statuses`),
 *   redirects not followed, certificates not verified (as Mesos's curl -k);
 * - TCP: a connection to 127.0.0.1:<port> is accepted.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { HealthCheck_Type, type CommandInfo, type HealthCheck, type HealthCheck_HttpCheckInfo } from "../gen/dcos/v1/tasks_pb.js";
import type { Clock } from "../runtime/clock.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";
import { healthPolicy } from "../protocol/health-check.js";
import { HealthChecker, type HealthCallbacks, type HealthProbe } from "../protocol/health-checker.js";
import { TaskProcess } from "./task-process.js";

const LOOPBACK = "127.0.0.1";

/** Where the task runs: the check's command gets the task's environment and sandbox. */
export interface TaskSurroundings {
  /** The environment the task started from, with its command's variables applied. */
  env: NodeJS.ProcessEnv;
  sandbox: string;
  /** The argv prefix that runs a command inside the task's container (Containerizer.enter); none: where the caller runs. */
  enter?: () => Promise<readonly string[]>;
}

/** The environment of a task: the executor's task environment plus its command's variables. */
export function taskEnvironment(base: NodeJS.ProcessEnv, command: CommandInfo | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const v of command?.environment?.variables ?? []) env[v.name] = v.value;
  return env;
}

function commandProbe(command: CommandInfo, where: TaskSurroundings): HealthProbe {
  return async (signal) => {
    const prefix = where.enter ? await where.enter() : [];
    if (signal.aborted) throw new Error("the check was aborted before its command started");
    const proc = new TaskProcess(command, where.env, where.sandbox, "ignore", prefix);
    const onAbort = (): void => proc.kill(0);
    signal.addEventListener("abort", onAbort, { once: true });
    return proc.exited.then((exit) => {
      signal.removeEventListener("abort", onAbort);
      if (exit.exitCode !== 0) throw new Error(`the check's command failed: ${exit.message}`);
    });
  };
}

function httpProbe(check: HealthCheck_HttpCheckInfo): HealthProbe {
  const scheme = check.scheme || "http";
  const url = `${scheme}://${LOOPBACK}:${check.port}${check.path || "/"}`;
  const ok = (status: number): boolean => (check.statuses.length > 0 ? check.statuses.includes(status) : status >= 200 && status < 400);
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage): void => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (ok(status)) resolve();
        else reject(new Error(`GET ${url} answered ${status}`));
      };
      const req =
        scheme === "https" ? https.get(url, { signal, rejectUnauthorized: false }, onResponse) : http.get(url, { signal, agent: false }, onResponse);
      req.on("error", (err) => reject(new Error(`GET ${url} failed: ${err.message}`)));
    });
}

function tcpProbe(port: number): HealthProbe {
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: LOOPBACK, port });
      const onAbort = (): void => {
        socket.destroy();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const done = (): void => signal.removeEventListener("abort", onAbort);
      socket.once("connect", () => {
        done();
        socket.destroy();
        resolve();
      });
      socket.once("error", (err) => {
        done();
        reject(new Error(`TCP connection to ${LOOPBACK}:${port} failed: ${err.message}`));
      });
    });
}

/** The probe of a (validated) health check; INVALID_ARGUMENT for one the master should have refused. */
export function healthProbe(check: HealthCheck, where: TaskSurroundings): HealthProbe {
  switch (check.type) {
    case HealthCheck_Type.COMMAND:
      if (check.command) return commandProbe(check.command, where);
      break;
    case HealthCheck_Type.HTTP:
      if (check.http) return httpProbe(check.http);
      break;
    case HealthCheck_Type.TCP:
      if (check.tcp) return tcpProbe(check.tcp.port);
      break;
  }
  throw new DcosError(Code.INVALID_ARGUMENT, `Health check of type ${HealthCheck_Type[check.type] ?? check.type} has no ${HealthCheck_Type[check.type]?.toLowerCase() ?? "probe"} to run`);
}

/** The checker of a task's health check (defaults applied), not yet started. */
export function taskHealthChecker(check: HealthCheck, taskId: string, where: TaskSurroundings, clock: Clock, log: Logger, callbacks: HealthCallbacks): HealthChecker {
  return new HealthChecker(taskId, healthPolicy(check), healthProbe(check, where), clock, log, callbacks);
}
