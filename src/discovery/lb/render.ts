/**
 * haproxy.cfg from the apps: a pure function of (apps with their tasks, options) → the
 * configuration text, the problems found, and what it serves. For each service port of
 * each app in our group: a frontend on the service port (tcp or http) and a backend with
 * one server per ready task (running, and healthy when the app has health checks). Ports
 * with `HAPROXY_{n}_VHOST` are also routed by Host header (and `_PATH`) from one shared
 * HTTP frontend on `httpPort` (80 in production), rules ordered by `_BACKEND_WEIGHT`.
 * Backend names are marathon-lb's: the app id with `/` as `_`, then `_<servicePort>`.
 */
import { inGroup, portConfigs, type LabelProblem, type PortConfig } from "./labels.js";
import { isReady, type MarathonApp } from "./marathon-apps.js";

export interface RenderOptions {
  /** Only ports of this group (`--group`, default external; `*` for all). */
  group: string;
  /** The shared HTTP frontend's port for VHOST routing (80 in production). */
  httpPort: number;
  /** Address frontends bind (default every address). */
  bindAddr?: string;
  /** Where haproxy's admin socket is (seamless reloads take the listeners from it). */
  adminSocket: string;
  /** Where the stats page listens: `unix@/path` or `127.0.0.1:9091`. */
  statsBind: string;
  /** haproxy's global maxconn (default 4096; each connection takes two descriptors of the process's limit). */
  maxconn?: number;
  /** Old workers are ended after this long during reloads (default 30 s). */
  hardStopAfterMs?: number;
}

export interface RenderedPort {
  appId: string;
  servicePort: number;
  backend: string;
  /** host:port of each server. */
  servers: string[];
  /** The servers as the configuration names them (what the runtime API changes). */
  named: { name: string; address: string }[];
  sticky: boolean;
}

/** The configuration without its server lines: equal structures differ only in servers. */
export function structureOf(config: string): string {
  return config
    .split("\n")
    .filter((l) => !l.startsWith("  server "))
    .join("\n");
}

export interface Rendered {
  config: string;
  problems: LabelProblem[];
  ports: RenderedPort[];
}

/** marathon-lb's backend name: `/shop/web` port 10000 → `shop_web_10000`. */
export function backendName(appId: string, servicePort: number): string {
  const base = appId.replace(/^\/+/, "").replace(/\//g, "_").replace(/[^A-Za-z0-9_.-]/g, "_");
  return `${base}_${servicePort}`;
}

function serverName(host: string, port: number): string {
  return `${host.replace(/[^A-Za-z0-9_.-]/g, "_")}_${port}`;
}

/** Host names usable in a server line: IPs and DNS names, nothing that could break the line. */
const SERVER_HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[?[0-9a-fA-F:.]+\]?$/;

interface Planned {
  cfg: PortConfig;
  backend: string;
  servers: { name: string; address: string }[];
}

export function render(apps: readonly MarathonApp[], o: RenderOptions): Rendered {
  const problems: LabelProblem[] = [];
  const planned: Planned[] = [];
  const takenPorts = new Map<number, string>();
  if (o.httpPort > 0) takenPorts.set(o.httpPort, "the HTTP frontend for virtual hosts");
  const sorted = [...apps].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const app of sorted) {
    const { ports, problems: p } = portConfigs(app, o.bindAddr ?? "*");
    problems.push(...p);
    for (const cfg of ports) {
      if (!inGroup(cfg, o.group)) continue;
      const owner = takenPorts.get(cfg.servicePort);
      if (owner) {
        problems.push({ appId: app.id, label: `servicePort ${cfg.index}`, message: `port ${cfg.servicePort} is already served for ${owner}`, severity: "error" });
        continue;
      }
      takenPorts.set(cfg.servicePort, app.id);
      const servers: Planned["servers"] = [];
      const seen = new Set<string>();
      for (const task of app.tasks ?? []) {
        if (!isReady(app, task)) continue;
        const port = task.ports?.[cfg.index];
        if (typeof task.host !== "string" || !SERVER_HOST.test(task.host) || !Number.isInteger(port) || port! < 1 || port! > 65535) continue;
        const name = serverName(task.host, port!);
        if (seen.has(name)) continue;
        seen.add(name);
        servers.push({ name, address: `${task.host.includes(":") && !task.host.startsWith("[") ? `[${task.host}]` : task.host}:${port}` });
      }
      planned.push({ cfg, backend: backendName(app.id, cfg.servicePort), servers });
    }
  }
  return { config: configText(planned, o), problems, ports: planned.map((p) => ({
      appId: p.cfg.appId,
      servicePort: p.cfg.servicePort,
      backend: p.backend,
      servers: p.servers.map((s) => s.address),
      named: p.servers,
      sticky: p.cfg.sticky,
    })),
  };
}

function configText(planned: readonly Planned[], o: RenderOptions): string {
  const lines: string[] = [];
  const add = (...l: string[]): void => void lines.push(...l);
  add(
    "# Written by dcos-node lb from the services API; every change replaces this file.",
    "global",
    `  maxconn ${o.maxconn ?? 4096}`,
    `  stats socket ${o.adminSocket} mode 600 level admin expose-fd listeners`,
    "  stats timeout 2m",
    `  hard-stop-after ${Math.round((o.hardStopAfterMs ?? 30_000) / 1000)}s`,
    "",
    "defaults",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-request 15s",
    "  timeout http-keep-alive 5s",
    "  retries 3",
    "  option redispatch",
    "  option dontlognull",
    "",
    "listen stats",
    `  bind ${o.statsBind}`,
    "  mode http",
    "  stats enable",
    "  stats uri /haproxy?stats",
    "  stats refresh 10s",
    "",
  );
  const vhostPorts = planned.filter((p) => p.cfg.vhosts.length > 0);
  if (vhostPorts.length > 0 && o.httpPort > 0) {
    add("frontend marathon_http_in", `  bind ${o.bindAddr ?? "*"}:${o.httpPort}`, "  mode http");
    const ordered = [...vhostPorts].sort((a, b) => b.cfg.backendWeight - a.cfg.backendWeight || (a.backend < b.backend ? -1 : 1));
    for (const p of ordered) {
      const acl = `host_${p.backend}`;
      add(`  acl ${acl} hdr(host),field(1,:) -i ${p.cfg.vhosts.join(" ")}`);
      const conditions = [acl];
      if (p.cfg.path !== undefined) {
        add(`  acl path_${p.backend} path_beg ${p.cfg.path}`);
        conditions.push(`path_${p.backend}`);
      }
      if (p.cfg.redirectToHttps) add(`  redirect scheme https code 301 if !{ ssl_fc } ${conditions.join(" ")}`);
      add(`  use_backend ${p.backend} if ${conditions.join(" ")}`);
    }
    add("");
  }
  for (const p of planned) {
    const c = p.cfg;
    add(`frontend ${p.backend}`, `  bind ${c.bindAddr}:${c.servicePort}`, `  mode ${c.mode}`);
    if (c.mode === "http" && c.redirectToHttps) add("  redirect scheme https code 301 if !{ ssl_fc }");
    add(`  use_backend ${p.backend}`, "");
    add(`backend ${p.backend}`, `  balance ${c.balance}`, `  mode ${c.mode}`);
    if (c.mode === "http") add("  option forwardfor", "  http-request set-header X-Forwarded-Port %[dst_port]");
    if (c.sticky) add("  cookie mesosphere_server_id insert indirect nocache");
    for (const s of p.servers) add(`  server ${s.name} ${s.address}${c.sticky ? ` cookie ${s.name}` : ""}`);
    add("");
  }
  return lines.join("\n");
}
