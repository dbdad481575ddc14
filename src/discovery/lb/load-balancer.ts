/**
 * `dcos-node lb` as a component: follows the services API's events, and on each burst of
 * changes (coalesced, at most one reload per `reloadIntervalMs`) reads the apps, renders
 * haproxy.cfg, checks it with `haproxy -c` and reloads haproxy seamlessly when it changed.
 * A configuration haproxy rejects is never used: the apps that make it fail are found by
 * halving (a few more `haproxy -c` runs), reported with their ids and left out, and the
 * rest goes live. If the services API cannot be read, the running configuration stays.
 */
import type { Clock, Timer } from "../../runtime/clock.js";
import { SystemClock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { Metrics, type Counter } from "../../metrics/metrics.js";
import { Coalescer } from "./coalescer.js";
import { Haproxy } from "./haproxy.js";
import { HostAddresses, type Lookup } from "./host-addresses.js";
import type { LabelProblem } from "./labels.js";
import type { MarathonApp } from "./marathon-apps.js";
import { Backoff } from "../../runtime/backoff.js";
import { Random } from "../../runtime/random.js";
import { render, structureOf, type RenderOptions, type Rendered, type RenderedPort } from "./render.js";
import { ServicesApi } from "./services-api.js";


export interface LoadBalancerOptions {
  /** Services API base URLs (`--marathon`). */
  urls: readonly string[];
  /** `--group` (default external). */
  group: string;
  /** Port of the shared HTTP frontend for VHOST apps (80 in production). */
  httpPort: number;
  /** Port of the shared HTTPS frontend for VHOST apps with an SSL_CERT (443 in production; 0 or absent: none). */
  httpsPort?: number;
  bindAddr?: string;
  /** Where haproxy's files and sockets live. */
  dir: string;
  /** At most one reload per this (default 1 s). */
  reloadIntervalMs?: number;
  maxconn?: number;
  haproxyBinary?: string;
  headers?: Record<string, string>;
  logger: Logger;
  metrics?: Metrics;
  clock?: Clock;
  /** Resolves task host names (default the system's resolver, IPv4). */
  lookup?: Lookup;
}

export interface LoadBalancerStatus {
  group: string;
  haproxyPid: number | undefined;
  reloads: number;
  /** Server changes applied without a reload. */
  runtimeUpdates: number;
  changesSeen: number;
  refreshes: number;
  lastReloadAt: string | undefined;
  lastReloadMs: number | undefined;
  lastError: string | undefined;
  problems: LabelProblem[];
  ports: RenderedPort[];
}

export class LoadBalancer {
  readonly haproxy: Haproxy;
  readonly api: ServicesApi;
  private readonly coalescer: Coalescer;
  private readonly renderOptions: RenderOptions;
  private readonly log: Logger;
  private readonly counters: { reloads: Counter; runtimeUpdates: Counter; failedValidations: Counter; refreshes: Counter; changes: Counter };
  /** Per backend, the servers the running worker has and whether each takes traffic. */
  private live = new Map<string, Map<string, { address: string; ready: boolean }>>();
  private current = "";
  private problems: LabelProblem[] = [];
  private ports: RenderedPort[] = [];
  private lastError: string | undefined;
  private lastReloadAt: Date | undefined;
  private lastReloadMs: number | undefined;
  private changeListeners: (() => void)[] = [];
  private readonly hosts: HostAddresses;
  private readonly clock: Clock;
  /** A refresh that failed is tried again after a jittered backoff (250 ms doubling up to 5 s; reset by a success). */
  private readonly retry = new Backoff({ initialMs: 250, maxMs: 5000 }, Random.fromOs());
  private retryTimer: Timer | undefined;
  private stopped = false;

  constructor(private readonly o: LoadBalancerOptions) {
    this.log = o.logger;
    this.haproxy = new Haproxy({ dir: o.dir, binary: o.haproxyBinary, logger: o.logger });
    this.api = new ServicesApi({ urls: o.urls, logger: o.logger, headers: o.headers });
    this.hosts = new HostAddresses(o.lookup);
    this.clock = o.clock ?? new SystemClock();
    this.coalescer = new Coalescer(this.clock, o.reloadIntervalMs ?? 1000, () => this.refresh());
    this.renderOptions = {
      group: o.group,
      httpPort: o.httpPort,
      httpsPort: o.httpsPort,
      bindAddr: o.bindAddr,
      adminSocket: this.haproxy.adminSocket,
      statsBind: `unix@${this.haproxy.statsSocket}`,
      maxconn: o.maxconn,
    };
    const m = o.metrics ?? new Metrics();
    this.counters = {
      reloads: m.counter("lb/reloads", "Seamless haproxy reloads with a new configuration"),
      runtimeUpdates: m.counter("lb/runtime_updates", "Changes of servers only, applied through haproxy's runtime API without a reload"),
      failedValidations: m.counter("lb/failed_validations", "Configurations haproxy -c rejected (the apps at fault are left out)"),
      refreshes: m.counter("lb/refreshes", "Reads of the services API's apps"),
      changes: m.counter("lb/changes", "Events that asked for a refresh"),
    };
  }

  /** Starts haproxy (with no apps if the API is not answering yet) and follows the events. */
  async start(): Promise<void> {
    await this.haproxy.version();
    const empty = render([], this.renderOptions);
    const ok = await this.haproxy.validate(empty.config);
    if (!ok.ok) throw new Error(`haproxy rejects even an empty configuration: ${ok.error}`);
    await this.haproxy.start(empty.config);
    this.current = empty.config;
    this.api.follow((why) => {
      this.counters.changes.inc();
      this.log.debug(`Refresh requested: ${why}`);
      this.coalescer.request();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retryTimer?.cancel();
    this.api.stop();
    this.coalescer.stop();
    await this.haproxy.stop();
  }

  /** The configuration haproxy runs now. */
  get config(): string {
    return this.current;
  }

  get healthy(): boolean {
    return this.haproxy.running;
  }

  /** Called after every refresh (tests, the benchmark). */
  onRefresh(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  status(): LoadBalancerStatus {
    return {
      group: this.o.group,
      haproxyPid: this.haproxy.pid,
      reloads: this.haproxy.reloads,
      runtimeUpdates: this.counters.runtimeUpdates.value,
      changesSeen: this.coalescer.requests,
      refreshes: this.coalescer.runs,
      lastReloadAt: this.lastReloadAt?.toISOString(),
      lastReloadMs: this.lastReloadMs,
      lastError: this.lastError,
      problems: this.problems,
      ports: this.ports,
    };
  }

  /** One refresh: read, render, check, reload if changed. Errors are kept for /_lb/status. */
  async refresh(): Promise<void> {
    this.counters.refreshes.inc();
    try {
      const apps = await this.api.apps();
      const unresolved = await this.apply(apps);
      this.lastError = undefined;
      // A task host that did not resolve (for now) keeps its task out: look again soon.
      if (unresolved > 0) this.retrySoon();
      else this.retry.reset();
    } catch (err) {
      this.lastError = (err as Error).message;
      // The change that asked for this refresh is not applied yet, and no event may come to
      // ask again (the event stream can be fine while GET /v2/apps fails): try again.
      const wait = this.retrySoon();
      this.log.warn(`Load balancer refresh failed, the running configuration stays; trying again in ${wait} ms: ${this.lastError}`);
    } finally {
      for (const fn of this.changeListeners) fn();
    }
  }

  /** Another refresh after the backoff (doubling up to 5 s, jittered); returns the wait. */
  private retrySoon(): number {
    this.retryTimer?.cancel();
    const wait = this.retry.next();
    if (!this.stopped) {
      this.retryTimer = this.clock.setTimer(wait, () => {
        this.retryTimer = undefined;
        this.coalescer.request();
      });
    }
    return wait;
  }

  /** Renders the apps and makes haproxy run it (public for the benchmark); resolves with the number of task hosts that did not resolve. */
  async apply(given: readonly MarathonApp[]): Promise<number> {
    const started = Date.now();
    const { apps, problems: unresolved } = await this.hosts.apply(given);
    let rendered = render(apps, this.renderOptions);
    let problems = [...unresolved, ...rendered.problems];
    if (rendered.config === this.current) {
      this.problems = problems;
      this.ports = rendered.ports;
      return unresolved.length;
    }
    let how: "runtime API" | "reload";
    if (structureOf(rendered.config) === structureOf(this.current) && (await this.updateServers(rendered.ports))) {
      // The running worker has the new servers. The file waits for the next reload, which
      // checks its own configuration with haproxy -c first: haproxy loads nothing unchecked.
      await this.haproxy.install(rendered.config);
      this.counters.runtimeUpdates.inc();
      how = "runtime API";
    } else {
      const checked = await this.checked(apps, rendered);
      rendered = checked.rendered;
      problems = [...unresolved, ...rendered.problems, ...checked.rejected];
      if (rendered.config !== this.current) {
        await this.haproxy.reload(rendered.config);
        this.live = new Map(rendered.ports.map((p) => [p.backend, new Map(p.named.map((s) => [s.name, { address: s.address, ready: true }]))]));
        this.counters.reloads.inc();
      }
      how = "reload";
    }
    for (const p of problems) if (p.severity === "error") this.log.warn(`App ${p.appId}: ${p.label} ${p.message}`);
    // What the status shows changes together, once haproxy runs it.
    this.current = rendered.config;
    this.problems = problems;
    this.ports = rendered.ports;
    this.lastReloadAt = new Date();
    this.lastReloadMs = Date.now() - started;
    this.log.info(`haproxy updated by ${how}: ${rendered.ports.length} service ports, ${rendered.ports.reduce((n, p) => n + p.servers.length, 0)} backends (${this.lastReloadMs} ms)`);
    return unresolved.length;
  }

  /**
   * The rendering checked with haproxy -c; when haproxy rejects it, the apps at fault are
   * left out (and reported) and the rest is checked again.
   */
  private async checked(apps: readonly MarathonApp[], rendered: Rendered): Promise<{ rendered: Rendered; rejected: LabelProblem[] }> {
    const check = await this.haproxy.validate(rendered.config);
    if (check.ok) return { rendered, rejected: [] };
    this.counters.failedValidations.inc();
    const bad = await this.faulty(apps);
    const rejected: LabelProblem[] = bad.map((a) => ({ appId: a.app.id, label: "(haproxy -c)", message: a.error, severity: "error" }));
    const badIds = new Set(bad.map((b) => b.app.id));
    const rest = render(apps.filter((a) => !badIds.has(a.id)), this.renderOptions);
    const again = await this.haproxy.validate(rest.config);
    if (!again.ok) throw new Error(`haproxy rejects the configuration even without ${[...badIds].join(", ") || "any app"}: ${again.error}`);
    return { rendered: rest, rejected };
  }


  /**
   * Only servers changed: the running worker gets them through the runtime API, no reload.
   * A server that leaves is put in maintenance (its connections finish; the next reload
   * drops it), one that comes back is made ready again, a new one is added. False (and a
   * full reload follows) when haproxy refuses any command.
   */
  private async updateServers(ports: readonly RenderedPort[]): Promise<boolean> {
    try {
      for (const p of ports) {
        const live = this.live.get(p.backend);
        if (!live) return false;
        const wanted = new Map(p.named.map((s) => [s.name, s.address]));
        if (p.customServers) {
          // The app's own server lines (a template) are not what 'add server' would make: reload.
          const ready = [...live].filter(([, s]) => s.ready).map(([name]) => name);
          if (ready.length !== wanted.size || ready.some((name) => !wanted.has(name))) return false;
          continue;
        }
        for (const [name, s] of live) {
          if (s.ready && !wanted.has(name)) {
            await this.runtime(`set server ${p.backend}/${name} state maint`);
            s.ready = false;
          }
        }
        for (const [name, address] of wanted) {
          const s = live.get(name);
          if (!s) {
            await this.runtime(`add server ${p.backend}/${name} ${address}${p.sticky ? ` cookie ${name}` : ""}`, /New server registered|^\s*$/);
            live.set(name, { address, ready: false });
          }
          if (!live.get(name)!.ready) {
            await this.runtime(`set server ${p.backend}/${name} state ready`);
            live.get(name)!.ready = true;
          }
        }
      }
      return true;
    } catch (err) {
      this.log.info(`Applying server changes through the runtime API failed (${(err as Error).message}); reloading instead`);
      return false;
    }
  }

  private async runtime(command: string, ok: RegExp = /^\s*$/): Promise<void> {
    const answer = await this.haproxy.runtimeCommand(command);
    if (!ok.test(answer)) throw new Error(`'${command}': ${answer.trim()}`);
  }

  /** The apps whose configuration haproxy rejects, found by halving. */
  private async faulty(apps: readonly MarathonApp[]): Promise<{ app: MarathonApp; error: string }[]> {
    if (apps.length === 0) return [];
    const check = await this.haproxy.validate(render(apps, this.renderOptions).config);
    if (check.ok) return [];
    if (apps.length === 1) return [{ app: apps[0]!, error: check.error }];
    const mid = Math.ceil(apps.length / 2);
    return [...(await this.faulty(apps.slice(0, mid))), ...(await this.faulty(apps.slice(mid)))];
  }
}
