/**
 * Finds a host program the launcher needs (unshare, setpriv) by absolute path, so a task's
 * own PATH cannot replace it; a missing one is a FAILED_PRECONDITION that says what to install.
 */
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { Code, DcosError } from "../runtime/error.js";

/** The PATH a container gets when its config does not set one, and where host commands are looked up. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const found = new Map<string, string>();

export function hostCommand(name: string, debianPackage: string): string {
  const cached = found.get(name);
  if (cached) return cached;
  for (const dir of DEFAULT_PATH.split(":")) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      found.set(name, path);
      return path;
    } catch {
      // not in this directory
    }
  }
  throw new DcosError(Code.FAILED_PRECONDITION, `'${name}' is not installed on this host: install it with 'apt-get install ${debianPackage}'`);
}
