/**
 * `dcos-node services --master=a:5050,b:5050,c:5050 --http-port=8080`: a services
 * (Marathon-compatible) scheduler instance; run several, one leads.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import { parseDuration, parsePort } from "./duration.js";
import { runUntilSignal } from "./until-signal.js";
import { VERSION } from "./version.js";

/** Marathon's port (also src/node/services-role.ts; not imported here so --help stays fast). */
const DEFAULT_SERVICES_HTTP_PORT = 8080;

interface ServicesFlags {
  master: string;
  ip: string;
  httpPort: number;
  advertise?: string;
  frameworkName: string;
  mesosRole: string;
  leaseTtl: number;
  redirect?: boolean;
  logLevel: "info";
  principal?: string;
  secret?: string;
  credentialFile?: string;
  credentials?: string;
  acls?: string;
  authenticate?: boolean;
  localPortMin: number;
  localPortMax: number;
}

export function servicesSubcommand(): Command {
  return withCredentialOptions(new Command("services"))
    .description("run a services scheduler (Marathon's REST API v2): long-running apps, deployments, health checks")
    .requiredOption("--master <list>", "the masters' gRPC addresses, comma-separated host:port")
    .option("--ip <ip>", "HTTP address to listen on", "127.0.0.1")
    .addOption(new Option("--http-port <port>", "HTTP port of the API (0 picks one)").argParser(parsePort).default(DEFAULT_SERVICES_HTTP_PORT))
    .option("--advertise <host:port>", "where other instances reach this one's API (default: ip:http-port)")
    .option("--framework-name <name>", "the framework's name", "marathon")
    .option("--credentials <file>", "API callers' principals and secrets (Mesos's credentials JSON, mode 0600); with it, anonymous calls get 401")
    .option("--acls <file>", "ACLs in Mesos's JSON shape: view_apps, create_apps, update_apps, delete_apps by app id prefix; get_endpoints for /metrics")
    .option("--authenticate", "refuse unauthenticated API callers (default: when --credentials is given)")
    .option("--no-authenticate", "serve unauthenticated API callers even with --credentials")
    .option("--mesos-role <role>", "the role the framework subscribes with", "*")
    .addOption(new Option("--lease-ttl <duration>", "how long the leader lease lasts without renewal").argParser(parseDuration).default(10_000, "10secs"))
    .option("--redirect", "non-leaders answer 307 to the leader instead of proxying")
    .addOption(new Option("--local-port-min <port>", "first service port assigned to apps (Marathon's local_port_min)").argParser(parsePort).default(10000))
    .addOption(new Option("--local-port-max <port>", "service ports are assigned below this one (Marathon's local_port_max)").argParser(parsePort).default(20000))
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"))
    .action(async (flags: ServicesFlags) => {
      // Loaded only when it runs: --help and --version stay fast.
      const [{ createLogger }, { startServicesRole }, { resolveClientCredential }, { loadSecurityConfig }] = await Promise.all([
        import("../runtime/log.js"),
        import("../node/services-role.js"),
        import("../security/auth/client-credential.js"),
        import("../security/auth/security-config.js"),
      ]);
      const credential = await resolveClientCredential(flags);
      const security = await loadSecurityConfig(flags);
      const logger = createLogger({ level: flags.logLevel });
      if (flags.localPortMax <= flags.localPortMin) throw new InvalidArgumentError(`--local-port-max (${flags.localPortMax}) must be greater than --local-port-min (${flags.localPortMin})`);
      const masters = flags.master.split(",").map((m) => m.trim()).filter(Boolean);
      await runUntilSignal(logger, async () => {
        const s = await startServicesRole({
          masters,
          host: flags.ip,
          httpPort: flags.httpPort,
          advertise: flags.advertise,
          frameworkName: flags.frameworkName,
          principal: credential?.principal ?? "marathon",
          credential,
          security,
          role: flags.mesosRole,
          leaseTtlMs: flags.leaseTtl,
          redirect: flags.redirect,
          servicePortRange: { min: flags.localPortMin, max: flags.localPortMax },
          logger,
          version: VERSION,
        });
        logger.info(`Services API listening on http://${s.address}`);
        return s;
      });
    });
}
