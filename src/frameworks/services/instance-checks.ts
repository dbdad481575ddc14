/**
 * The checks the services scheduler runs itself, against an instance's host and ports
 * (as Marathon runs them from its own process):
 *
 * - readiness checks (`readinessChecks`): during a deployment, a new instance counts as
 *   ready (may replace an old one, ends the deployment) only once every readiness check
 *   answered one of its `httpStatusCodesForReady`; checked every `intervalSeconds` until
 *   then, the last answer kept with `preserveLastResponse`;
 * - the health checks the executor does not run (an app's HTTP, HTTPS and TCP checks
 *   beyond the one in the TaskInfo, see AppSpec.executorCheck): every `intervalSeconds`,
 *   failures inside `gracePeriodSeconds` of the start not counted, `maxConsecutiveFailures`
 *   in a row → the scheduler kills the instance.
 *
 * Results live in memory (a new leader probes again). The network is behind `Prober`, so
 * tests on the manual clock answer probes themselves.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AppSpec, HealthCheckSpec, ReadinessCheckSpec } from "./app-definition.js";
import type { Instance } from "./services-state.js";

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

export interface Prober {
  /** GET url (redirects not followed, certificates not verified); rejects on a connection error or timeout. */
  http(url: string, timeoutMs: number): Promise<HttpAnswer>;
  /** Resolves once a TCP connection to host:port is accepted. */
  tcp(host: string, port: number, timeoutMs: number): Promise<void>;
}

/** Bodies kept for `preserveLastResponse` are cut to this many bytes. */
const MAX_BODY = 16 * 1024;

/** The real network. */
export const networkProber: Prober = {
  http: (url, timeoutMs) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString("utf8") }));
        res.on("error", reject);
      };
      const options = { timeout: timeoutMs, agent: false as const };
      const req = url.startsWith("https:") ? https.get(url, { ...options, rejectUnauthorized: false }, onResponse) : http.get(url, options, onResponse);
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (err) => reject(new Error(`GET ${url} failed: ${err.message}`)));
    }),
  tcp: (host, port, timeoutMs) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host, port, timeout: timeoutMs });
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("timeout", () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)));
      socket.once("error", (err) => reject(new Error(`TCP connection to ${host}:${port} failed: ${err.message}`)));
    }),
};

/** One readiness check's state for one instance (Marathon's ReadinessCheckResult). */
export interface ReadinessResult {
  name: string;
  taskId: string;
  ready: boolean;
  lastResponse?: HttpAnswer;
}

/** One scheduler-run health check's state for one instance (Marathon's health check result). */
export interface CheckResult {
  alive?: boolean;
  consecutiveFailures: number;
  firstSuccess?: number;
  lastSuccess?: number;
  lastFailure?: number;
  lastFailureCause?: string;
}

interface Due {
  nextAt: number;
  inFlight: boolean;
}

/** Where an instance's port named `name` (or at `index`) is: its host port. */
function portOf(spec: AppSpec, i: Instance, by: { name?: string; index?: number; port?: number }): number | undefined {
  if (by.port !== undefined) return by.port;
  const index = by.name !== undefined ? spec.ports.findIndex((p) => p.name === by.name) : (by.index ?? 0);
  return index >= 0 ? i.ports[index] : undefined;
}

export class InstanceChecks {
  private readonly readiness = new Map<string, Map<string, ReadinessResult & Due>>();
  private readonly health = new Map<string, Map<number, CheckResult & Due>>();

  /** `changed(instanceId)` is called after each probe result. */
  constructor(
    private readonly prober: Prober,
    private readonly changed: (instanceId: string) => void,
  ) {}

  /** Whether every readiness check of the instance has passed. */
  isReady(i: Instance, spec: AppSpec): boolean {
    const m = this.readiness.get(i.id);
    return spec.readinessChecks.every((r) => m?.get(r.name)?.ready === true);
  }

  readinessResults(instanceId: string): ReadinessResult[] {
    return [...(this.readiness.get(instanceId)?.values() ?? [])].map(({ name, taskId, ready, lastResponse }) => ({ name, taskId, ready, ...(lastResponse ? { lastResponse } : {}) }));
  }

  /** The scheduler-run check at `index` of the app's healthChecks for the instance (undefined: not probed yet). */
  healthResult(instanceId: string, index: number): CheckResult | undefined {
    return this.health.get(instanceId)?.get(index);
  }

  /** Whether all the scheduler-run checks of the instance are alive (undefined: one has no result yet). */
  checksAlive(i: Instance, spec: AppSpec): boolean | undefined {
    let all: boolean | undefined = true;
    spec.healthChecks.forEach((_, k) => {
      if (k === spec.executorCheck) return;
      const r = this.health.get(i.id)?.get(k);
      if (r?.alive === false) all = false;
      else if (r?.alive === undefined && all) all = undefined;
    });
    return all;
  }

  /** The scheduler-run checks of the instance that failed maxConsecutiveFailures times in a row (after the grace period). */
  exhausted(i: Instance, spec: AppSpec): HealthCheckSpec[] {
    const out: HealthCheckSpec[] = [];
    spec.healthChecks.forEach((h, k) => {
      const r = this.health.get(i.id)?.get(k);
      if (k !== spec.executorCheck && h.maxConsecutiveFailures > 0 && r && r.consecutiveFailures >= h.maxConsecutiveFailures) out.push(h);
    });
    return out;
  }

  /** Drops what is kept for instances not in `keep`. */
  retain(keep: (instanceId: string) => boolean): void {
    for (const id of this.readiness.keys()) if (!keep(id)) this.readiness.delete(id);
    for (const id of this.health.keys()) if (!keep(id)) this.health.delete(id);
  }

  /** Forgets the readiness results of an instance (a deployment ended: they matter no more). */
  forgetReadiness(instanceId: string): void {
    this.readiness.delete(instanceId);
  }

  /** Starts the readiness probes of a running instance that are due. */
  probeReadiness(i: Instance, spec: AppSpec, now: number): void {
    let m = this.readiness.get(i.id);
    if (!m) this.readiness.set(i.id, (m = new Map()));
    for (const check of spec.readinessChecks) {
      let r = m.get(check.name);
      if (!r) m.set(check.name, (r = { name: check.name, taskId: i.id, ready: false, nextAt: now, inFlight: false }));
      if (r.ready || r.inFlight || now < r.nextAt) continue;
      this.startReadiness(r, check, i, spec, now);
    }
  }

  private startReadiness(r: ReadinessResult & Due, check: ReadinessCheckSpec, i: Instance, spec: AppSpec, now: number): void {
    r.inFlight = true;
    r.nextAt = now + check.intervalSeconds * 1000;
    const port = portOf(spec, i, { name: check.portName });
    const url = `${check.protocol.toLowerCase()}://${i.host}:${port}${check.path}`;
    const done = (answer: HttpAnswer | undefined): void => {
      r.inFlight = false;
      r.ready = answer !== undefined && check.httpStatusCodesForReady.includes(answer.status);
      if (check.preserveLastResponse) r.lastResponse = answer;
      this.changed(i.id);
    };
    if (port === undefined) return done(undefined);
    this.prober.http(url, check.timeoutSeconds * 1000).then(done, () => done(undefined));
  }

  /** Starts the scheduler-run health probes of a running instance that are due. */
  probeHealth(i: Instance, spec: AppSpec, now: number): void {
    let m = this.health.get(i.id);
    spec.healthChecks.forEach((h, k) => {
      if (k === spec.executorCheck) return;
      if (!m) this.health.set(i.id, (m = new Map()));
      let r = m.get(k);
      if (!r) m.set(k, (r = { consecutiveFailures: 0, nextAt: now, inFlight: false }));
      if (r.inFlight || now < r.nextAt) return;
      r.inFlight = true;
      r.nextAt = now + h.intervalSeconds * 1000;
      const port = portOf(spec, i, { index: h.portIndex, port: h.port });
      const inGrace = i.startedAt !== undefined && now - i.startedAt < h.gracePeriodSeconds * 1000;
      const result = r;
      const done = (failure: string | undefined): void => {
        result.inFlight = false;
        if (failure === undefined) {
          result.alive = true;
          result.consecutiveFailures = 0;
          result.firstSuccess ??= now;
          result.lastSuccess = now;
        } else {
          result.lastFailure = now;
          result.lastFailureCause = failure;
          // Failures inside the grace period before any success do not count (Marathon's gracePeriodSeconds).
          if (!(inGrace && result.firstSuccess === undefined)) {
            result.alive = false;
            result.consecutiveFailures++;
          }
        }
        this.changed(i.id);
      };
      if (port === undefined) return done(`the instance has no port ${h.port ?? `at index ${h.portIndex}`}`);
      const timeoutMs = h.timeoutSeconds * 1000;
      const probe =
        h.protocol === "TCP"
          ? this.prober.tcp(i.host, port, timeoutMs)
          : this.prober.http(`${h.protocol === "HTTPS" ? "https" : "http"}://${i.host}:${port}${h.path}`, timeoutMs).then((a) => {
              // Marathon's HTTP checks: 2xx and 3xx are healthy.
              if (a.status < 200 || a.status >= 400) throw new Error(`GET ${h.path} answered ${a.status}`);
            });
      probe.then(
        () => done(undefined),
        (err: unknown) => done(err instanceof Error ? err.message : String(err)),
      );
    });
  }
}
