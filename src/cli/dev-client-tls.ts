/**
 * How CLI clients find a dev cluster's certificates without being told: `--role=dev`
 * writes a principal's TLS directory to `~/.dcos-node/dev/<host>_<port>` for its master's
 * gRPC address (and removes it when it stops); `dcos-node run` without TLS flags uses the
 * directory of the master it is given, when there is one.
 */
import { access, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export function devClientTlsDir(masterAddress: string): string {
  return join(homedir(), ".dcos-node", "dev", masterAddress.replace(/[^A-Za-z0-9.-]/g, "_"));
}

/** The dev cluster's client TLS directory for `masterAddress`, if a dev cluster wrote one. */
export async function findDevClientTls(masterAddress: string): Promise<string | undefined> {
  const dir = devClientTlsDir(masterAddress);
  return access(join(dir, "ca.crt")).then(
    () => dir,
    () => undefined,
  );
}

export async function removeDevClientTls(masterAddress: string): Promise<void> {
  await rm(devClientTlsDir(masterAddress), { recursive: true, force: true });
}
