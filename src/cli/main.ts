#!/usr/bin/env node
import { Command, Option } from "commander";
import { readFileSync } from "node:fs";
import { createLogger } from "../runtime/log.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command()
  .name("dcos-node")
  .description("A datacenter kernel: masters, agents and frameworks sharing a cluster through resource offers.")
  .version(pkg.version, "-V, --version", "print the version and exit")
  .addOption(new Option("--role <role>", "what this process is").choices(["master", "agent", "dev"]))
  .addOption(
    new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  )
  .action((opts: { role?: string; logLevel: "info" }) => {
    const log = createLogger({ level: opts.logLevel });
    if (!opts.role) {
      program.help({ error: true });
    }
    log.error({ role: opts.role }, `The ${opts.role} role is not built yet`);
    process.exitCode = 2;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
