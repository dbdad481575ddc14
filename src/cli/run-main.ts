/**
 * `dcos-node run` alone: the entry of the bundle dist/cli/run.cjs (`npm run build:cli`),
 * which main.ts loads instead of the whole command line when the first argument is `run`
 * (cli-bundle.ts). The same commander command as program.ts adds, so flags, --help,
 * output and exit codes are the same either way.
 */
import { Command } from "commander";
import { parseArgv } from "./parse-argv.js";
import { runSubcommand } from "./run.js";

export function main(argv: string[]): Promise<void> {
  return parseArgv(new Command().name("dcos-node").enablePositionalOptions().addCommand(runSubcommand()), argv);
}
