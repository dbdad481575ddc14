/**
 * `dcos-node dns --master=a,b,c [--domain=dcos] [--dns-port=53] [--ip=0.0.0.0] [--resolvers=…]`:
 * the cluster's DNS server (Mesos-DNS names), driven by the leading master's events.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseResolver } from "../discovery/dns/forwarder.js";
import { normalizeDomain } from "../discovery/dns/names.js";
import { parsePort } from "./duration.js";
import { withCredentialOptions } from "./credential-options.js";
import type { ClientCredentialFlags } from "../security/auth/client-credential.js";

export const DEFAULT_DNS_PORT = 53;
export const DEFAULT_DEV_DNS_PORT = 5353;

export function parseResolvers(text: string): string[] {
  const list = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  try {
    list.forEach(parseResolver);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return list;
}

function parseDomain(text: string): string {
  try {
    return normalizeDomain(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function dnsSubcommand(): Command {
  return withCredentialOptions(new Command("dns"))
    .description("Serve DNS names for the cluster's tasks, masters and agents (A and SRV, Mesos-DNS names), from the leading master's events")
    .requiredOption("--master <list>", "the masters, comma-separated host:port")
    .addOption(new Option("--domain <domain>", "the domain served").argParser(parseDomain).default("dcos"))
    .option("--ip <ip>", "address to listen on", "127.0.0.1")
    .addOption(new Option("--dns-port <port>", "UDP and TCP port (0 picks one)").argParser(parsePort).default(DEFAULT_DNS_PORT))
    .addOption(new Option("--resolvers <list>", "forward names outside the domain to these resolvers (ip[:port], comma-separated); without: REFUSED").argParser(parseResolvers))
    .addOption(new Option("--ttl <seconds>", "TTL of the answers").argParser((v) => Number(v)).default(5))
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"))
    .action(async (o: { master: string; domain: string; ip: string; dnsPort: number; resolvers?: string[]; ttl: number; logLevel: "info" } & ClientCredentialFlags) => {
      // Loaded when the command runs, not for --help/--version.
      const [{ startDnsService }, { Metrics }, { createLogger }, { resolveClientCredential }] = await Promise.all([
        import("../discovery/dns/dns-service.js"),
        import("../metrics/metrics.js"),
        import("../runtime/log.js"),
        import("../security/auth/client-credential.js"),
      ]);
      const logger = createLogger({ level: o.logLevel });
      const credential = await resolveClientCredential(o);
      const masters = o.master.split(",").map((m) => m.trim()).filter((m) => m !== "");
      const dns = await startDnsService({ masters, domain: o.domain, host: o.ip, port: o.dnsPort, resolvers: o.resolvers, ttl: o.ttl, metrics: new Metrics(), logger, credential });
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve).once("SIGTERM", resolve);
      });
      await dns.stop();
    });
}
