/**
 * What `dcos-node jobs` and `dcos-node services` share: the flags of one instance of a
 * first-party framework (where the masters are, where its API listens and is reached,
 * the lease, who may call the API, how to authenticate to the masters, the log level) and
 * the start of its action (the masters list, the logger, the credential, the API's security).
 */
import { Command, Option } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import { parseDuration, parsePort } from "./duration.js";
import type { ClientCredential } from "../security/auth/client-credential.js";
import type { SecurityConfig } from "../security/auth/security-config.js";
import type { Logger } from "../runtime/log.js";

export interface FrameworkInstanceFlags {
  master: string;
  ip: string;
  httpPort: number;
  advertise?: string;
  leaseTtl: number;
  logLevel: "info";
  principal?: string;
  secret?: string;
  credentialFile?: string;
  credentials?: string;
  acls?: string;
  authenticate?: boolean;
}

/** The shared flags on a framework instance's subcommand; `aclsHelp` names the ACLs its API checks. */
export function frameworkInstanceCommand(name: string, description: string, o: { httpPort: number; httpPortHelp: string; aclsHelp: string }): Command {
  return withCredentialOptions(
    new Command(name)
      .description(description)
      .requiredOption("--master <list>", "the masters' gRPC addresses, comma-separated host:port")
      .option("--ip <ip>", "address the API listens on", "127.0.0.1")
      .addOption(new Option("--http-port <port>", o.httpPortHelp).argParser(parsePort).default(o.httpPort))
      .option("--advertise <host:port>", "the address other instances and the web UI reach this API at (default --ip and the port)")
      .addOption(new Option("--lease-ttl <duration>", "how long a silent leader keeps the lease").argParser(parseDuration).default(10_000, "10secs"))
      .option("--credentials <file>", "API callers' principals and secrets (Mesos's credentials JSON, mode 0600); with it, anonymous calls get 401")
      .option("--acls <file>", o.aclsHelp)
      .option("--authenticate", "refuse unauthenticated API callers (default: when --credentials is given)")
      .option("--no-authenticate", "serve unauthenticated API callers even with --credentials")
      .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info")),
  );
}

/** The start of an instance's action: loaded only when it runs, so --help and --version stay fast. */
export async function frameworkInstanceSetup(flags: FrameworkInstanceFlags): Promise<{ masters: string[]; logger: Logger; credential: ClientCredential | undefined; security: SecurityConfig }> {
  const [{ createLogger }, { resolveClientCredential }, { loadSecurityConfig }] = await Promise.all([
    import("../runtime/log.js"),
    import("../security/auth/client-credential.js"),
    import("../security/auth/security-config.js"),
  ]);
  return {
    masters: flags.master.split(",").map((m) => m.trim()).filter((m) => m !== ""),
    logger: createLogger({ level: flags.logLevel }),
    credential: await resolveClientCredential(flags),
    security: await loadSecurityConfig(flags),
  };
}
