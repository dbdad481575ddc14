/**
 * DNS names the way Mesos-DNS made them, so scripts that resolved `web.marathon.mesos`
 * resolve `web.services.dcos` the same way: every task, framework and app name becomes an
 * RFC 952 label (lowercase letters, digits and hyphens; a letter first; no hyphen last),
 * dots and underscores becoming hyphens and other characters dropped. Mesos-DNS cut task
 * labels at 24 characters, which made different tasks collide; we keep up to 63, the
 * limit of a DNS label.
 */

export const MAX_LABEL = 63;

/** One RFC 952 label from any name; "" when nothing of it is usable. */
export function sanitizeLabel(name: string, max = MAX_LABEL): string {
  let out = "";
  for (const ch of name.toLowerCase()) {
    if ((ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") || ch === "-") out += ch;
    else if (ch === "." || ch === "_" || ch === " ") out += "-";
  }
  out = out.replace(/^[^a-z]+/, "");
  out = out.slice(0, max);
  return out.replace(/-+$/, "");
}

/** A domain as given (`dcos`, `cluster.example.`) in lowercase without the trailing dot; throws on a bad one. */
export function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, "");
  const labels = d.split(".");
  if (d === "" || labels.some((l) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) {
    throw new Error(`Invalid DNS domain '${domain}': expected labels of letters, digits and hyphens separated by dots, e.g. dcos`);
  }
  return d;
}

/** A query name compared as we store names: lowercase, no trailing dot. */
export function normalizeQueryName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * A services app id (`/shop/web`) as a DNS name, reversed as Marathon's task hostnames
 * are (`web.shop`), each segment an RFC 952 label; "" when a segment has nothing usable.
 */
export function reversedAppName(appId: string): string {
  const segments = appId.split("/").filter((s) => s !== "");
  const labels = segments.reverse().map((s) => sanitizeLabel(s));
  if (labels.length === 0 || labels.some((l) => l === "")) return "";
  return labels.join(".");
}

/**
 * The app id of a services (Marathon-compatible) task: the task's `MARATHON_APP_ID` label
 * when it has one, otherwise read from a Marathon-format task id — the app id with `/`
 * written as `_` (app ids have no underscores), a dot, then the instance's UUID
 * (`shop_web.6f1c…`, or `shop_web.instance-6f1c…._app.1`).
 */
export function appIdOfTask(taskId: string, labels: ReadonlyMap<string, string>): string | undefined {
  const label = labels.get("MARATHON_APP_ID");
  if (label) return label.startsWith("/") ? label : `/${label}`;
  const m = /^([a-z0-9_.-]+?)\.(?:instance-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:\..*)?$/.exec(taskId);
  if (!m) return undefined;
  return "/" + m[1]!.split("_").join("/");
}

/** A short stable tag of a task id, for names that must be unique per task (SRV targets). */
export function shortHash(text: string): string {
  // FNV-1a, 32 bits, base 36: enough to tell apart the instances of one task name.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36).padStart(7, "0");
}
