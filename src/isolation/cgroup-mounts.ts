/**
 * Where the host mounts its cgroup hierarchies, read from /proc/self/mountinfo: v1
 * hierarchies (one mount per controller or per group of co-mounted controllers, e.g.
 * "cpu,cpuacct") and the v2 unified hierarchy (one mount; its controllers are listed in
 * cgroup.controllers). A host is "v2" when the unified hierarchy carries the controllers
 * and "v1" when the memory controller sits on a v1 hierarchy (hybrid hosts mount both).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface CgroupMounts {
  /** v1: controller name → mount point ("cpu" → /sys/fs/cgroup/cpu). */
  v1: Map<string, string>;
  /** v2: the unified hierarchy's mount point, if mounted. */
  v2?: string;
}

/** Parses /proc/<pid>/mountinfo (see proc(5)). */
export function parseMountinfo(text: string): CgroupMounts {
  const mounts: CgroupMounts = { v1: new Map() };
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(" ");
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    const mountPoint = unescapeMountPath(before[4] ?? "");
    if (fstype === "cgroup2") {
      mounts.v2 ??= mountPoint;
    } else if (fstype === "cgroup") {
      for (const opt of superOptions.split(",")) {
        if (opt === "rw" || opt === "ro" || opt.includes("=")) continue;
        if (!mounts.v1.has(opt)) mounts.v1.set(opt, mountPoint);
      }
    }
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 …). */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function readCgroupMounts(): Promise<CgroupMounts> {
  return parseMountinfo(await readFile("/proc/self/mountinfo", "utf8"));
}

/** The controllers a v2 hierarchy offers at `dir` (its cgroup.controllers). */
export async function v2Controllers(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, "cgroup.controllers"), "utf8").catch(() => "");
  return text.split(/\s+/).filter((c) => c.length > 0);
}

/** Which cgroup version to use on this host: v1 if memory is on a v1 hierarchy, else v2 if mounted. */
export function detectCgroupVersion(mounts: CgroupMounts): 1 | 2 | undefined {
  if (mounts.v1.has("memory")) return 1;
  if (mounts.v2 !== undefined) return 2;
  return undefined;
}
