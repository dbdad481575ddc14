/**
 * The whole dcos-node command line: `--role=master|agent|dev` runs a node; subcommands
 * (`run`, …) are tools for operators and framework authors. main.ts loads it for every
 * command but a bundled `run` (see cli-bundle.ts).
 */
import { Command, Option } from "commander";
import { hostname } from "node:os";
import { parseCount, parseDuration, parseNice, parsePort, parseServiceProxyFlag, parseUnreachableRateFlag } from "./duration.js";
import { DEFAULT_SERVICE_PROXY } from "../ui/service-proxy-flag.js";
import { runSubcommand } from "./run.js";
import { eventsSubcommand } from "./events.js";
import { dnsSubcommand } from "./dns.js";
import { lbSubcommand } from "./lb.js";
import { quotaSubcommand } from "./quota.js";
import { jobsSubcommand } from "./jobs.js";
import { runServiceSubcommand } from "./run-service.js";
import { jobSubcommand } from "./job.js";
import { agentSubcommand } from "./agent.js";
import { maintenanceSubcommand } from "./maintenance.js";
import { RAFT_TIMING_DEFAULTS } from "../raft/timing.js";
import type { RoleFlags } from "./roles.js";
import { certsSubcommand } from "./certs.js";
import { addNatsFlags } from "./nats-flags.js";
import { servicesSubcommand } from "./services.js";
import { appSubcommand } from "./app.js";
import { runUntilSignal } from "./until-signal.js";
import { VERSION } from "./version.js";
import { parseArgv } from "./parse-argv.js";

const program = addNatsFlags(new Command())
  .name("dcos-node")
  .description("A datacenter kernel: masters, agents and frameworks sharing a cluster through resource offers.")
  .version(VERSION, "-V, --version", "print the version and exit")
  .enablePositionalOptions()
  .addOption(new Option("--role <role>", "what this process is").choices(["master", "agent", "dev"]))
  .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"))
  .option("--ip <ip>", "address to listen on and advertise", "127.0.0.1")
  .addOption(new Option("--port <port>", "gRPC port (master default 5050, agent 5051; 0 picks one)").argParser(parsePort))
  .option("--hostname <name>", "hostname to report", hostname())
  .option("--work-dir <dir>", "where the node keeps its state (master: the Raft log of the registry; agent: sandboxes and checkpoints)")
  .option("--master <host:port>", "agent: the master to register with, or every master comma-separated (a:5050,b:5050,c:5050)")
  .option("--masters <list>", "master: every master of the replicated group, comma-separated host:port, this one included (default: a group of one)")
  .addOption(new Option("--agent-reregister-timeout <duration>", "master: after a failover, agents not back within this are marked unreachable").argParser(parseDuration).default(600_000, "10mins"))
  .addOption(
    new Option("--agent-reregistration-window <n>", "master: a newly elected leader announces itself to the registry's agents in waves, at most this many announced and not back at once, none while its event loop runs late; 0: no window")
      .argParser(parseCount)
      .default(1000),
  )
  .addOption(
    new Option("--agent-reregistration-rate <n>", "master: the most agents per second a newly elected leader announces itself to; 0: no cap (the window alone paces them)")
      .argParser(parseCount)
      .default(0),
  )
  .addOption(new Option("--raft-tick <duration>", "master: the Raft clock's tick, also the leader's heartbeat interval").argParser(parseDuration).default(RAFT_TIMING_DEFAULTS.tickMs, `${RAFT_TIMING_DEFAULTS.tickMs}ms`))
  .addOption(
    new Option("--raft-election-timeout <duration>", "master: a follower that hears no leader for this long (randomized up to twice) starts an election; a whole number of ticks")
      .argParser(parseDuration)
      .default(RAFT_TIMING_DEFAULTS.electionTimeoutMs, `${RAFT_TIMING_DEFAULTS.electionTimeoutMs / 1000}secs`),
  )
  .option("--allocator <policy>", "master: allocation policy (hierarchical-drf | strict-priority)", "hierarchical-drf")
  .addOption(new Option("--allocation-interval <duration>", "master: time between allocation rounds").argParser(parseDuration).default(1000, "1secs"))
  .addOption(new Option("--offer-timeout <duration>", "master: rescind offers not used within this (default: never)").argParser(parseDuration))
  .addOption(
    new Option("--max-offers-per-framework <n>", "master: a framework holding this many outstanding offers gets no more until it has answered half of them; 0: no limit")
      .argParser(parseCount)
      .default(0, "0 (no limit)"),
  )
  .addOption(new Option("--agent-ping-timeout <duration>", "master: wait this long for an agent's pong").argParser(parseDuration).default(15_000, "15secs"))
  .option("--max-agent-ping-timeouts <n>", "master: missed pongs before an agent is unreachable", (v) => Number(v), 5)
  .addOption(new Option("--max-launching-tasks <n>", "master: refuse ACCEPTs with tasks (RESOURCE_EXHAUSTED, retry-after) while this many tasks are launching or queued; 0: no limit").argParser(parseCount).default(5000))
  .addOption(
    new Option("--gc-threads-nice <n>", "master: nice value (0-19) of V8's garbage-collection helper threads, so that the event loop runs first when the cores are busy; 0: unchanged")
      .argParser(parseNice)
      .default(10),
  )
  .addOption(new Option("--max-loop-lag <duration>", "master: refuse ACCEPTs with tasks while the event loop is this far behind (late now, or late recently and not idle since); 0: not checked").argParser(parseDuration).default(0, "0 (not checked)"))
  .addOption(
    new Option("--max-queued-retried-messages <n>", "master: drop (and count) agents' status updates, which agents send again, while the master's mailbox holds this many items; 0: never")
      .argParser(parseCount)
      .default(0, "0 (never)"),
  )
  .addOption(new Option("--max-call-queue <duration>", "master: refuse ACCEPTs with tasks while the oldest queued framework call has waited this long; 0: no limit").argParser(parseDuration).default(1000, "1secs"))
  .addOption(new Option("--agent-unreachable-rate-limit <rate>", 'master: at most this many agents marked unreachable per duration, e.g. "1/10mins" (default: no limit)').argParser(parseUnreachableRateFlag))
  .option("--resources <spec>", 'agent: resources to offer instead of detected ones, e.g. "cpus:4;mem:8192;ports:[31000-32000];cpus(ops):1"')
  .option("--attributes <spec>", 'agent: attributes, e.g. "rack:a;zone:1"')
  .option("--isolation <list>", "agent: isolators (posix | cgroups,namespaces)", "posix")
  .option("--containerizers <list>", "agent: containerizers (mesos | docker,mesos | docker); docker runs tasks whose container type is DOCKER", "mesos")
  .option("--agents <n>", "dev: how many agents the embedded cluster runs", (v) => Number(v), 2)
  .addOption(new Option("--http-port <port>", "HTTP port for operators (master default 5080, agent 5081; 0 picks one)").argParser(parsePort))
  .option("--nats <url>", "master: publish cluster events to this NATS server (dcos.<cluster>.events.<kind>)")
  .option("--cluster <name>", "the cluster's name (in /state and NATS subjects)", "dcos")
  .addOption(new Option("--dns-port <port>", "dev: the embedded DNS server's UDP/TCP port (default 5353; 0 picks one)").argParser(parsePort))
  .option("--no-dns", "dev: run no DNS server")
  .addOption(new Option("--jobs-port <port>", "dev: the embedded jobs framework's API port (Chronos's 4400; 0 picks one)").argParser(parsePort))
  .option("--no-jobs", "dev: run no jobs framework")
  .addOption(new Option("--run-port <port>", "dev: the run service's port (dcos-node run's HTTPS endpoint; default 0: any free one, found by dcos-node run through ~/.dcos-node; -1 runs none)").argParser((v) => (v === "-1" ? -1 : parsePort(v))))
  .addOption(new Option("--run-offer-hold <duration>", "dev: how long the run service keeps offers after a run before it suppresses them").argParser(parseDuration))
  .addOption(new Option("--run-max-runs <n>", "dev: the run service's cap on runs in progress at once (default 500; 0: no limit)").argParser(parseCount))
  .addOption(new Option("--run-max-runs-per-principal <n>", "dev: the run service's cap on one principal's runs in progress at once (default 100; 0: no limit)").argParser(parseCount))
  .option("--switch-user", "agent: run tasks as their framework's or command's user (default for --role=agent; needs root)")
  .option("--no-switch-user", "agent: run every task as the agent's own user")
  .addOption(new Option("--recovery-timeout <duration>", "agent: how long the tasks' supervisors (the warm launcher, executors) wait for an agent that went away before they kill its tasks (Mesos's --recovery_timeout)").argParser(parseDuration).default(15 * 60_000, "15mins"))
  .option("--runtime-dir <dir>", "agent: where the containers' runtime state lives (pids, exit statuses, the warm launcher's socket; Mesos's --runtime_dir): default a directory on tmpfs (/run, else /dev/shm) linked from <work-dir>/containers, else <work-dir>/containers itself; it survives the agent's restarts, not a reboot")
  .addOption(new Option("--command-executor <mode>", "agent: who runs a command task: agent (its command directly in its container, no executor process) | process (one node command executor per task)").choices(["agent", "process"]).default("agent"))
  .option("--secrets-dir <dir>", "agent: where reference secrets of tasks' SECRET environment variables are read from (files 0600 owned by the agent's user)")
  .option(
    "--allowed-host-paths <list>",
    "agent: comma-separated path prefixes under which tasks may mount host paths (container volumes with host_path); default / (anywhere except /, /proc, /sys, /dev, the agent's work dir and its key, credential and secrets files, which are never allowed)",
  )
  .addOption(new Option("--services-port <port>", "dev: HTTP port of the embedded services API (Marathon's /v2; default 8080, 0 picks one, -1 turns it off)").argParser((v) => (v === "-1" ? -1 : parsePort(v))))
  .option("--services-role <role>", "dev: the role the embedded services framework subscribes with (default *; resident apps with persistent volumes need another, e.g. services)")
  .addOption(
    new Option("--service-proxy <list>", "master: frameworks whose API the master serves under /service/<name>, as name=principal pairs; only a connected framework of that name registered by that principal is reached (it gets the callers' Authorization)")
      .argParser(parseServiceProxyFlag)
      .default(DEFAULT_SERVICE_PROXY),
  )
  .option("--credentials <file>", 'principals and secrets clients authenticate with: {"credentials":[{"principal":…,"secret":…}]} (mode 0600)')
  .option("--acls <file>", 'ACLs in Mesos\'s JSON shape: {"permissive":true,"register_frameworks":[{"principals":{…},"roles":{…}}],…}')
  .option("--authenticate", "refuse unauthenticated clients (default: when --credentials is given; dev: off)")
  .option("--no-authenticate", "serve unauthenticated clients even with --credentials (they may not act as a principal that has credentials)")
  .option("--tls-dir <dir>", "master/agent: mutual TLS with ca.crt, node.crt and node.key from this directory (see 'dcos-node certs')")
  .option("--tls-ca <file>", "master/agent: the cluster CA certificate (PEM), instead of <tls-dir>/ca.crt")
  .option("--tls-cert <file>", "master/agent: this node's certificate (PEM), instead of <tls-dir>/node.crt")
  .option("--tls-key <file>", "master/agent: this node's private key (PEM), instead of <tls-dir>/node.key")
  .option("--tls-crl <file>", "master/agent: a certificate revocation list signed by the cluster CA (dcos-node certs revoke); peers and clients it names are refused, checked again every 5 s")
  .option("--tls-ticket-keys <file>", "master/agent: TLS session ticket keys (48 bytes base64, 0600; dcos-node certs ticket-keys), the same file on every master so resumed sessions survive restarts")
  .option("--insecure", "run without TLS on a non-loopback --ip (every peer and client unauthenticated); dev: no generated certificates", false)
  .action(async (flags: RoleFlags & { role?: string; logLevel: "info" }) => {
    if (!flags.role) program.help({ error: true });
    // The roles (and pino) load only when one runs: --help and --version stay fast.
    const [{ createLogger }, { startRole }] = await Promise.all([import("../runtime/log.js"), import("./roles.js")]);
    const logger = createLogger({ level: flags.logLevel });
    await runUntilSignal(logger, () => startRole(flags.role as RoleFlags["role"], flags, logger));
  });

program.addCommand(runSubcommand());
program.addCommand(certsSubcommand());
program.addCommand(eventsSubcommand());
program.addCommand(dnsSubcommand());
program.addCommand(lbSubcommand());
program.addCommand(quotaSubcommand());
program.addCommand(jobsSubcommand());
program.addCommand(runServiceSubcommand());
program.addCommand(jobSubcommand());
program.addCommand(agentSubcommand());
program.addCommand(maintenanceSubcommand());
program.addCommand(servicesSubcommand());
program.addCommand(appSubcommand());

/** Parses `argv` (process.argv's shape) and runs what it asks for. */
export function main(argv: string[]): Promise<void> {
  return parseArgv(program, argv);
}
