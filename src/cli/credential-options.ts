/**
 * The options every client subcommand (`run`, `events`, …) takes to authenticate:
 * `--principal/--secret` or `--credential-file` (default: the file named by
 * DCOS_NODE_CREDENTIAL_FILE; the dev cluster writes one per principal under its work dir).
 */
import type { Command } from "commander";

export function withCredentialOptions(command: Command): Command {
  return command
    .option("--principal <name>", "authenticate as this principal (with --secret)")
    .option("--secret <secret>", "the principal's secret")
    .option("--credential-file <file>", 'a {"principal":…,"secret":…} file (default: $DCOS_NODE_CREDENTIAL_FILE)');
}
