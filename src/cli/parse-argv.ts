import type { Command } from "commander";

/**
 * Parses `argv` (process.argv's shape) with `program` and runs its action; an error that
 * escapes an action is printed as `dcos-node: <message>` and exits 1. Shared by the whole
 * command line (program.ts) and the bundled `run` (run-main.ts).
 */
export function parseArgv(program: Command, argv: string[]): Promise<void> {
  return program.parseAsync(argv).then(
    () => undefined,
    (err: unknown) => {
      console.error(`dcos-node: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
