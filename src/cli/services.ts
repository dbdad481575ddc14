/**
 * `dcos-node services --master=a:5050,b:5050,c:5050 --http-port=8080`: a services
 * (Marathon-compatible) scheduler instance; run several, one leads.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parsePort } from "./duration.js";
import { frameworkInstanceCommand, frameworkInstanceSetup, type FrameworkInstanceFlags } from "./framework-instance.js";
import { runUntilSignal } from "./until-signal.js";
import { VERSION } from "./version.js";

/** Marathon's port (also src/node/services-role.ts; not imported here so --help stays fast). */
const DEFAULT_SERVICES_HTTP_PORT = 8080;

interface ServicesFlags extends FrameworkInstanceFlags {
  frameworkName: string;
  mesosRole: string;
  redirect?: boolean;
  localPortMin: number;
  localPortMax: number;
}

export function servicesSubcommand(): Command {
  return frameworkInstanceCommand("services", "run a services scheduler (Marathon's REST API v2): long-running apps, deployments, health checks", {
    httpPort: DEFAULT_SERVICES_HTTP_PORT,
    httpPortHelp: "HTTP port of the API (0 picks one)",
    aclsHelp: "ACLs in Mesos's JSON shape: view_apps, create_apps, update_apps, delete_apps by app id prefix; get_endpoints for /metrics",
  })
    .option("--framework-name <name>", "the framework's name", "marathon")
    .option("--mesos-role <role>", "the role the framework subscribes with", "*")
    .option("--redirect", "non-leaders answer 307 to the leader instead of proxying")
    .addOption(new Option("--local-port-min <port>", "first service port assigned to apps (Marathon's local_port_min)").argParser(parsePort).default(10000))
    .addOption(new Option("--local-port-max <port>", "service ports are assigned below this one (Marathon's local_port_max)").argParser(parsePort).default(20000))
    .action(async (flags: ServicesFlags) => {
      if (flags.localPortMax <= flags.localPortMin) throw new InvalidArgumentError(`--local-port-max (${flags.localPortMax}) must be greater than --local-port-min (${flags.localPortMin})`);
      const { startServicesRole } = await import("../node/services-role.js");
      const { masters, logger, credential, security } = await frameworkInstanceSetup(flags);
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
