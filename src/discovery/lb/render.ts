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
import { fill, TEMPLATES, type TemplateName } from "./templates.js";

export interface RenderOptions {
  /** Only ports of this group (`--group`, default external; `*` for all). */
  group: string;
  /** The shared HTTP frontend's port for VHOST routing (80 in production). */
  httpPort: number;
  /** The shared HTTPS frontend's port for VHOST apps with an SSL_CERT, routed by SNI (443 in production; 0 or absent: none). */
  httpsPort?: number;
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
  /** The app overrides how server lines look: the runtime API cannot add servers like them. */
  customServers: boolean;
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
  app: MarathonApp;
  backend: string;
  servers: { name: string; address: string; host: string; port: number }[];
}

export function render(apps: readonly MarathonApp[], o: RenderOptions): Rendered {
  const problems: LabelProblem[] = [];
  const planned: Planned[] = [];
  const takenPorts = new Map<number, string>();
  if (o.httpPort > 0) takenPorts.set(o.httpPort, "the HTTP frontend for virtual hosts");
  if ((o.httpsPort ?? 0) > 0) takenPorts.set(o.httpsPort!, "the HTTPS frontend for virtual hosts");
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
        const host = task.host.includes(":") && !task.host.startsWith("[") ? `[${task.host}]` : task.host;
        servers.push({ name, address: `${host}:${port}`, host, port: port! });
      }
      planned.push({ cfg, app, backend: backendName(app.id, cfg.servicePort), servers });
    }
  }
  // A template field without a value here (checked labels cannot have one) leaves that app out.
  const texts = new Map<Planned, PortText>();
  for (const p of planned) {
    try {
      texts.set(p, portText(p));
    } catch (err) {
      problems.push({ appId: p.cfg.appId, label: "(template)", message: (err as Error).message, severity: "error" });
    }
  }
  const kept = planned.filter((p) => texts.has(p));
  return {
    config: configText(kept, texts, o),
    problems,
    ports: kept.map((p) => ({
      appId: p.cfg.appId,
      servicePort: p.cfg.servicePort,
      backend: p.backend,
      servers: p.servers.map((s) => s.address),
      named: p.servers.map((s) => ({ name: s.name, address: s.address })),
      sticky: p.cfg.sticky,
      customServers: ["BACKEND_SERVER_OPTIONS", "BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS", "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS"].some((t) => t in p.cfg.templates),
    })),
  };
}

/** The app's first health check in marathon-lb's template fields, and whether it is HTTP or TCP. */
function healthFields(app: MarathonApp): { kind: "http" | "tcp" | undefined; fields: Record<string, string | number> } {
  const hc = (app.healthChecks?.[0] ?? undefined) as Record<string, unknown> | undefined;
  const protocol = typeof hc?.["protocol"] === "string" ? (hc["protocol"] as string).toUpperCase() : "";
  const kind = /HTTP/.test(protocol) ? "http" : /TCP/.test(protocol) ? "tcp" : undefined;
  const num = (k: string, d: number): number => (typeof hc?.[k] === "number" ? (hc[k] as number) : d);
  const port = typeof hc?.["port"] === "number" ? (hc["port"] as number) : undefined;
  const path = typeof hc?.["path"] === "string" && /^\/[^\s]*$/.test(hc["path"] as string) ? (hc["path"] as string) : "/";
  const failures = num("maxConsecutiveFailures", 3);
  return {
    kind,
    fields: {
      healthCheckPortIndex: num("portIndex", 0),
      healthCheckPort: port ?? "",
      healthCheckProtocol: protocol,
      healthCheckPath: path,
      healthCheckTimeoutSeconds: num("timeoutSeconds", 20),
      healthCheckIntervalSeconds: num("intervalSeconds", 60),
      healthCheckIgnoreHttp1xx: hc?.["ignoreHttp1xx"] === true ? "true" : "false",
      healthCheckGracePeriodSeconds: num("gracePeriodSeconds", 300),
      healthCheckMaxConsecutiveFailures: failures,
      healthCheckFalls: failures + 1,
      healthCheckPortOptions: port === undefined ? "" : ` port ${port}`,
    },
  };
}

/** One service port's frontend, backend and shared-HTTP-frontend rules, from its templates. */
interface PortText {
  frontend: string;
  backend: string;
  /** Rules of the shared HTTP frontend (by Host header). */
  acls: string;
  /** Rules of the shared HTTPS frontend (by SNI); empty without an SSL_CERT. */
  tlsAcls: string;
}

function portText(p: Planned): PortText {
  const c = p.cfg;
  const t = (name: TemplateName): string => c.templates[name] ?? TEMPLATES[name].default;
  const base: Record<string, string | number> = {
    backend: p.backend,
    servicePort: c.servicePort,
    bindAddr: c.bindAddr,
    sslCert: c.sslCert ? ` ssl crt ${c.sslCert}` : "",
    bindOptions: c.bindOptions ? ` ${c.bindOptions}` : "",
    mode: c.mode,
    balance: c.balance,
    appId: c.appId,
    cleanedUpAppId: c.appId.replace(/[^A-Za-z0-9]/g, "_"),
  };
  let frontend = fill(t("FRONTEND_HEAD"), base);
  if (c.mode === "http" && c.redirectToHttps) frontend += "  redirect scheme https code 301 if !{ ssl_fc }\n";
  frontend += fill(t("FRONTEND_BACKEND_GLUE"), base);

  const health = healthFields(p.app);
  const withHealth = { ...base, ...health.fields };
  let backend = fill(t("BACKEND_HEAD"), base);
  if (c.mode === "http") backend += fill(t("BACKEND_HTTP_OPTIONS"), base);
  if (health.kind === "http") backend += fill(t("BACKEND_HTTP_HEALTHCHECK_OPTIONS"), withHealth);
  if (health.kind === "tcp") backend += fill(t("BACKEND_TCP_HEALTHCHECK_OPTIONS"), withHealth);
  if (c.sticky) backend += fill(t("BACKEND_STICKY_OPTIONS"), base);
  for (const s of p.servers) {
    const serverHealth =
      health.kind === "http"
        ? fill(t("BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS"), { ...withHealth, serverName: s.name }, true)
        : health.kind === "tcp"
          ? fill(t("BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS"), { ...withHealth, serverName: s.name }, true)
          : "";
    backend += fill(t("BACKEND_SERVER_OPTIONS"), {
      ...base,
      serverName: s.name,
      host_ipv4: s.host,
      port: s.port,
      cookieOptions: c.sticky ? ` cookie ${s.name}` : "",
      healthCheckOptions: serverHealth === "" ? "" : ` ${serverHealth.trim()}`,
      otherOptions: "",
    });
  }

  let acls = "";
  let tlsAcls = "";
  for (const hostname of c.vhosts) {
    const sni = { ...base, hostname, cleanedUpHostname: hostname.replace(/[^a-z0-9]/g, "_"), path: c.path ?? "" };
    if (c.sslCert && c.mode === "http") {
      tlsAcls += c.path === undefined ? fill(t("HTTPS_FRONTEND_ACL"), sni) : fill(t("HTTPS_FRONTEND_ACL_ONLY_WITH_PATH"), sni) + fill(t("HTTPS_FRONTEND_ACL_WITH_PATH"), sni);
    }
    const v = { ...base, hostname, cleanedUpHostname: hostname.replace(/[^a-z0-9]/g, "_"), path: c.path ?? "" };
    if (!c.redirectToHttps) acls += fill(t(c.path === undefined ? "HTTP_FRONTEND_ACL" : "HTTP_FRONTEND_ACL_WITH_PATH"), v);
    else if (c.path === undefined) acls += fill(t("HTTP_FRONTEND_ACL_ONLY"), v) + fill(t("BACKEND_REDIRECT_HTTP_TO_HTTPS"), v) + fill(t("HTTP_FRONTEND_ROUTING_ONLY"), v);
    else {
      acls +=
        fill(t("HTTP_FRONTEND_ACL_ONLY"), v) +
        fill(t("HTTP_FRONTEND_ACL_ONLY_WITH_PATH"), v) +
        fill(t("BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH"), v) +
        fill(t("HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH"), v);
    }
  }
  return { frontend, backend, acls, tlsAcls };
}

function configText(planned: readonly Planned[], texts: ReadonlyMap<Planned, PortText>, o: RenderOptions): string {
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
    for (const p of ordered) add(texts.get(p)!.acls.replace(/\n$/, ""));
    add("");
  }
  const tlsPorts = planned.filter((p) => texts.get(p)!.tlsAcls !== "");
  if (tlsPorts.length > 0 && (o.httpsPort ?? 0) > 0) {
    const certs = [...new Set(tlsPorts.map((p) => p.cfg.sslCert!))].sort();
    add("frontend marathon_https_in", `  bind ${o.bindAddr ?? "*"}:${o.httpsPort} ssl${certs.map((c) => ` crt ${c}`).join("")}`, "  mode http");
    const ordered = [...tlsPorts].sort((a, b) => b.cfg.backendWeight - a.cfg.backendWeight || (a.backend < b.backend ? -1 : 1));
    for (const p of ordered) add(texts.get(p)!.tlsAcls.replace(/\n$/, ""));
    add("");
  }
  for (const p of planned) {
    const { frontend, backend } = texts.get(p)!;
    add(frontend.replace(/\n$/, ""), "", backend.replace(/\n$/, ""), "");
  }
  return lines.join("\n");
}
