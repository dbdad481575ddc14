/**
 * Resolving the user a container runs as. Node has no getpwnam: names are looked up with
 * `getent passwd` (every NSS source: files, LDAP, …), and in /etc/passwd where getent is
 * missing.
 */
import { execFile } from "node:child_process";
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

/** `getent passwd <user>`: the entry, undefined when the user does not exist, null when getent cannot run. */
function getent(user: string): Promise<UserIds | undefined | null> {
  return new Promise((resolve) =>
    execFile("getent", ["passwd", user], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve((err as NodeJS.ErrnoException).code === "ENOENT" ? null : undefined); // exit 2: no such user
      resolve(parsePasswd(stdout)[0]);
    }),
  );
}

/**
 * Looks up a user by name, or by numeric uid (then gid = uid when no entry knows it);
 * FAILED_PRECONDITION naming the user when it does not exist on this machine.
 */
export async function resolveUser(user: string, passwdPath = "/etc/passwd"): Promise<UserIds> {
  if (passwdPath === "/etc/passwd" && user !== "" && !user.startsWith("-")) {
    const entry = await getent(user);
    if (entry) return entry;
    if (entry === undefined) {
      if (/^\d+$/.test(user)) return { name: user, uid: Number(user), gid: Number(user) };
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot run as user '${user}': no such user on this agent (getent passwd)`);
    }
  }
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
