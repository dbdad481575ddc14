/**
 * Resolving the user a container runs as. Node has no getpwnam, so names are looked up in
 * /etc/passwd (users from NSS sources such as LDAP are not found: give a numeric uid then).
 */
import { readFile } from "node:fs/promises";
import { Code, DcosError } from "../runtime/error.js";

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
}

export function parsePasswd(text: string): UserIds[] {
  const users: UserIds[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) users.push({ name: f[0]!, uid, gid });
  }
  return users;
}

/** Looks up a user by name, or by numeric uid (then gid = uid when /etc/passwd does not know it). */
export async function resolveUser(user: string, passwdPath = "/etc/passwd"): Promise<UserIds> {
  let users: UserIds[] = [];
  try {
    users = parsePasswd(await readFile(passwdPath, "utf8"));
  } catch (e) {
    if (!/^\d+$/.test(user)) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot look up user '${user}': ${passwdPath} is unreadable`, { cause: e });
  }
  if (/^\d+$/.test(user)) {
    const uid = Number(user);
    return users.find((u) => u.uid === uid) ?? { name: user, uid, gid: uid };
  }
  const found = users.find((u) => u.name === user);
  if (!found) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot run as user '${user}': no such user in ${passwdPath}`);
  return found;
}

/** Whether this process may start processes as other users. */
export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
