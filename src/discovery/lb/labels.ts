/**
 * marathon-lb's app labels, read per service port: `HAPROXY_GROUP` (app) and
 * `HAPROXY_{n}_GROUP` (port n), `_VHOST`, `_PATH`, `_BALANCE`, `_STICKY`,
 * `_REDIRECT_TO_HTTPS`, `_BACKEND_WEIGHT`, `_MODE`, `_PORT`, `_BIND_ADDR`, `_SSL_CERT`,
 * `_BIND_OPTIONS`, and the per-port templates (`_BACKEND_HEAD`, `_FRONTEND_HEAD`, …,
 * templates.ts). Every value is checked before it reaches haproxy.cfg (a value can never
 * inject configuration; a template is configuration by design, checked for its fields here
 * and by `haproxy -c`); a bad one is reported with the app id and its port is left out, so
 * one app's mistake never takes the balancer down. Labels we do not implement
 * (HTTPS-frontend and app-id templates, auth…) are reported as ignored.
 */
import { isIP } from "node:net";
import type { MarathonApp } from "./marathon-apps.js";
import { servicePorts } from "./marathon-apps.js";
import { isTemplateName, templateProblem, type TemplateName } from "./templates.js";

export interface PortConfig {
  appId: string;
  /** Index n of the port in the app. */
  index: number;
  servicePort: number;
  groups: string[];
  vhosts: string[];
  path: string | undefined;
  balance: string;
  sticky: boolean;
  redirectToHttps: boolean;
  /** Orders the use_backend rules of the shared HTTP frontend, largest first. */
  backendWeight: number;
  mode: "http" | "tcp";
  bindAddr: string;
  /** `HAPROXY_{n}_SSL_CERT`: a PEM file (certificate and key) on this host; the frontend terminates TLS with it. */
  sslCert: string | undefined;
  /** `HAPROXY_{n}_BIND_OPTIONS`: more options of the frontend's bind line. */
  bindOptions: string | undefined;
  /** marathon-lb's templates this port overrides (`HAPROXY_{n}_BACKEND_HEAD`, …). */
  templates: Partial<Record<TemplateName, string>>;
}

export interface LabelProblem {
  appId: string;
  label: string;
  message: string;
  /** error: the port is left out; ignored: the label has no effect. */
  severity: "error" | "ignored";
}

const BALANCE = new Set(["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random"]);
const BALANCE_WITH_ARG = /^(hdr|rdp-cookie)\([A-Za-z0-9_-]{1,64}\)$|^url_param [A-Za-z0-9_-]{1,64}$|^random\([0-9]{1,2}\)$/;
const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1023}$/;
const GROUP = /^[A-Za-z0-9_.*-]{1,64}$/;
const KNOWN_PER_PORT = new Set(["GROUP", "VHOST", "PATH", "BALANCE", "STICKY", "REDIRECT_TO_HTTPS", "BACKEND_WEIGHT", "MODE", "PORT", "BIND_ADDR", "SSL_CERT", "BIND_OPTIONS"]);
/** An absolute path without spaces or anything else that would end the bind line's word. */
const CERT_PATH = /^\/[A-Za-z0-9._+@=,:\/-]{1,4095}$/;
/** Bind options: one line of words, no comment. */
const BIND_OPTIONS = /^[A-Za-z0-9 _.:,+=@\/!-]{1,1024}$/;

function bool(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no" || v === "") return false;
  return undefined;
}

/** The port configs of an app, and what is wrong with its labels. */
export function portConfigs(app: MarathonApp, defaultBindAddr = "*"): { ports: PortConfig[]; problems: LabelProblem[] } {
  const labels = app.labels ?? {};
  const problems: LabelProblem[] = [];
  const problem = (label: string, message: string, severity: LabelProblem["severity"] = "error"): void => {
    problems.push({ appId: app.id, label, message, severity });
  };
  const perPort = new Map<number, Map<string, string>>();
  let appGroups: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith("HAPROXY_")) continue;
    if (typeof value !== "string") {
      problem(key, "must be a string");
      continue;
    }
    if (key === "HAPROXY_GROUP") {
      appGroups = splitList(value);
      if (appGroups.some((g) => !GROUP.test(g))) {
        problem(key, `'${value}' is not a list of group names (letters, digits, '_', '-', '.')`);
        appGroups = [];
      }
      continue;
    }
    const m = /^HAPROXY_(\d{1,3})_([A-Z_]+)$/.exec(key);
    if (!m) {
      problem(key, "is not a label this load balancer implements", "ignored");
      continue;
    }
    const [, n, name] = m;
    if (!KNOWN_PER_PORT.has(name!) && !isTemplateName(name!)) {
      problem(key, "is not a label this load balancer implements", "ignored");
      continue;
    }
    let map = perPort.get(Number(n));
    if (!map) perPort.set(Number(n), (map = new Map()));
    map.set(name!, value);
  }
  const ports = servicePorts(app);
  for (const n of perPort.keys()) {
    if (n >= ports.length) problem(`HAPROXY_${n}_*`, `names port ${n} but the app has ${ports.length} service port(s)`, "ignored");
  }
  const out: PortConfig[] = [];
  ports.forEach((declared, index) => {
    const l = perPort.get(index) ?? new Map<string, string>();
    const before = problems.filter((p) => p.severity === "error").length;
    const label = (name: string): string => `HAPROXY_${index}_${name}`;
    let servicePort = declared;
    const portLabel = l.get("PORT");
    if (portLabel !== undefined) {
      const p = Number(portLabel);
      if (!Number.isInteger(p) || p < 1 || p > 65535) problem(label("PORT"), `'${portLabel}' is not a port number (1-65535)`);
      else servicePort = p;
    }
    if (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535) {
      problem(`servicePort ${index}`, `has no service port assigned (${servicePort})`);
    }
    let groups = appGroups;
    const g = l.get("GROUP");
    if (g !== undefined) {
      groups = splitList(g);
      if (groups.some((x) => !GROUP.test(x))) problem(label("GROUP"), `'${g}' is not a list of group names`);
    }
    const vhostText = l.get("VHOST");
    const vhosts = vhostText === undefined ? [] : splitList(vhostText).map((h) => h.toLowerCase());
    if (vhostText !== undefined && (vhosts.length === 0 || vhosts.some((h) => !HOSTNAME.test(h)))) {
      problem(label("VHOST"), `'${vhostText}' is not a comma-separated list of host names`);
    }
    const path = l.get("PATH");
    if (path !== undefined && !PATH.test(path)) problem(label("PATH"), `'${path}' is not a URL path starting with '/'`);
    const balance = l.get("BALANCE") ?? "roundrobin";
    if (!BALANCE.has(balance) && !BALANCE_WITH_ARG.test(balance)) {
      problem(label("BALANCE"), `'${balance}' is not a balance algorithm (roundrobin, static-rr, leastconn, first, source, uri, random, random(n), url_param x, hdr(x), rdp-cookie(x))`);
    }
    const sticky = bool(l.get("STICKY") ?? "false");
    if (sticky === undefined) problem(label("STICKY"), `'${l.get("STICKY")}' is not true or false`);
    const redirect = bool(l.get("REDIRECT_TO_HTTPS") ?? "false");
    if (redirect === undefined) problem(label("REDIRECT_TO_HTTPS"), `'${l.get("REDIRECT_TO_HTTPS")}' is not true or false`);
    const weightText = l.get("BACKEND_WEIGHT");
    let backendWeight = path !== undefined ? 1 : 0;
    if (weightText !== undefined) {
      const w = Number(weightText);
      if (!Number.isInteger(w) || Math.abs(w) > 1_000_000) problem(label("BACKEND_WEIGHT"), `'${weightText}' is not a whole number`);
      else if (w !== 0) backendWeight = w;
    }
    const modeText = l.get("MODE");
    const mode = modeText === undefined ? (vhosts.length > 0 || path !== undefined ? "http" : "tcp") : modeText.toLowerCase();
    if (mode !== "http" && mode !== "tcp") problem(label("MODE"), `'${modeText}' is not http or tcp`);
    if (mode === "tcp" && (vhosts.length > 0 || path !== undefined || sticky || redirect)) {
      problem(label("MODE"), "tcp cannot route by VHOST or PATH, stick by cookie or redirect to HTTPS");
    }
    const bindAddr = l.get("BIND_ADDR") ?? defaultBindAddr;
    if (bindAddr !== "*" && isIP(bindAddr) === 0) problem(label("BIND_ADDR"), `'${bindAddr}' is not an IP address`);
    const sslCert = l.get("SSL_CERT")?.trim() || undefined;
    if (sslCert !== undefined && !CERT_PATH.test(sslCert)) problem(label("SSL_CERT"), `'${sslCert}' is not an absolute path of a PEM file (letters, digits, '._+@=,:/-')`);
    const bindOptions = l.get("BIND_OPTIONS")?.trim() || undefined;
    if (bindOptions !== undefined && !BIND_OPTIONS.test(bindOptions)) problem(label("BIND_OPTIONS"), `'${bindOptions}' is not one line of bind options (letters, digits, spaces, '_.:,+=@/!-')`);
    const templates: Partial<Record<TemplateName, string>> = {};
    for (const [name, text] of l) {
      if (!isTemplateName(name)) continue;
      const wrong = templateProblem(name, text);
      if (wrong) problem(label(name), wrong);
      else templates[name] = text;
    }
    if (problems.filter((p) => p.severity === "error").length > before) return;
    out.push({
      appId: app.id,
      index,
      servicePort,
      groups,
      vhosts,
      path,
      balance,
      sticky: sticky === true,
      redirectToHttps: redirect === true,
      backendWeight,
      mode: mode as "http" | "tcp",
      bindAddr,
      sslCert,
      bindOptions,
      templates,
    });
  });
  return { ports: out, problems };
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Whether a port is served by a balancer of `group` (`*` serves every group; ports without a group are served by none). */
export function inGroup(port: PortConfig, group: string): boolean {
  if (group === "*") return true;
  return port.groups.includes(group) || port.groups.includes("*");
}
