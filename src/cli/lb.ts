/**
 * `dcos-node lb --marathon=http://127.0.0.1:8080 [--group=external] [--http-port=9090]
 * [--vhost-port=80] [--vhost-tls-port=443] [--reload-interval=1secs] [--work-dir=DIR]`: HAProxy driven by the
 * services API (marathon-lb's labels and endpoints).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import { parseDuration, parsePort } from "./duration.js";
import { VERSION } from "./version.js";
import { withCredentialOptions } from "./credential-options.js";
import type { ClientCredentialFlags } from "../security/auth/client-credential.js";

interface LbFlags extends ClientCredentialFlags {
  marathon: string;
  group: string;
  ip: string;
  httpPort: number;
  vhostPort: number;
  vhostTlsPort: number;
  bindAddr?: string;
  reloadInterval: number;
  workDir?: string;
  haproxy: string;
  maxconn: number;
  logLevel: "info";
}

export function lbSubcommand(): Command {
  return withCredentialOptions(new Command("lb"))
    .description("Run HAProxy as the cluster's load balancer, configured from the services API (marathon-lb labels: HAPROXY_GROUP, HAPROXY_{n}_VHOST, …)")
    .requiredOption("--marathon <urls>", "the services API, comma-separated base URLs, e.g. http://127.0.0.1:8080")
    .option("--group <group>", "serve apps whose HAPROXY_GROUP is this ('*': every app)", "external")
    .option("--ip <ip>", "address of the load balancer's own HTTP endpoints", "127.0.0.1")
    .addOption(new Option("--http-port <port>", "port of /haproxy?stats, /_haproxy_getconfig, /_haproxy_health_check, /_lb/status").argParser(parsePort).default(9090))
    .addOption(new Option("--vhost-port <port>", "port of the shared HTTP frontend routing HAPROXY_{n}_VHOST apps by Host header").argParser(parsePort).default(80))
    .addOption(new Option("--vhost-tls-port <port>", "port of the shared HTTPS frontend routing VHOST apps with HAPROXY_{n}_SSL_CERT by SNI (0: none)").argParser(parsePort).default(443))
    .option("--bind-addr <ip>", "address haproxy's frontends bind (default every address)")
    .addOption(new Option("--reload-interval <duration>", "at most one reload per this; bursts of changes coalesce").argParser(parseDuration).default(1000, "1secs"))
    .option("--work-dir <dir>", "where haproxy.cfg and haproxy's sockets live (default a new temporary directory)")
    .option("--haproxy <path>", "the haproxy binary", "haproxy")
    .addOption(new Option("--maxconn <n>", "haproxy's global maxconn").argParser((v) => Number(v)).default(4096))
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"))
    .action(async (o: LbFlags) => {
      // Loaded when the command runs, not for --help/--version.
      const [{ LoadBalancer }, { startLbHttp }, { Metrics }, { createLogger }, { authorizationHeader, resolveClientCredential }] = await Promise.all([
        import("../discovery/lb/load-balancer.js"),
        import("../operator/lb-http.js"),
        import("../metrics/metrics.js"),
        import("../runtime/log.js"),
        import("../security/auth/client-credential.js"),
      ]);
      const logger = createLogger({ level: o.logLevel });
      const credential = await resolveClientCredential(o);
      const headers = credential ? { authorization: authorizationHeader(credential) } : undefined;
      const metrics = new Metrics();
      const dir = o.workDir ?? (await mkdtemp(join(tmpdir(), "dcos-lb-")));
      const urls = o.marathon.split(",").map((u) => u.trim()).filter((u) => u !== "");
      const lb = new LoadBalancer({ urls, group: o.group, httpPort: o.vhostPort, httpsPort: o.vhostTlsPort, bindAddr: o.bindAddr, dir, reloadIntervalMs: o.reloadInterval, haproxyBinary: o.haproxy, maxconn: o.maxconn, headers, logger, metrics });
      await lb.start();
      const http = await startLbHttp({ host: o.ip, port: o.httpPort, lb, metrics, version: VERSION, flags: { ...o, secret: o.secret && "(set)" }, logger });
      logger.info(`Load balancer for group ${o.group} following ${urls.join(",")}; endpoints on http://${http.address} (/haproxy?stats, /_haproxy_getconfig, /_haproxy_health_check, /_lb/status); haproxy files in ${dir}`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve).once("SIGTERM", resolve);
      });
      await http.close();
      await lb.stop();
    });
}
