/**
 * The apps of a Marathon group definition (`POST/PUT /v2/groups`), with their ids made
 * absolute: relative app and sub-group ids resolve against the group they are in.
 */
import { canonicalId, type AppJson } from "./app-definition.js";

/** `body`: the group JSON; `pathId`: the group id in the URL (`/v2/groups/{id}`), if any. */
export function groupApps(body: unknown, pathId: string | undefined): AppJson[] {
  const g = body as AppJson | null | undefined;
  const root = canonicalId(typeof g?.["id"] === "string" ? String(g["id"]) : (pathId ?? "/"), pathId ? canonicalId(pathId) : "/");
  const apps: AppJson[] = [];
  const walk = (group: AppJson, base: string) => {
    for (const a of (Array.isArray(group["apps"]) ? group["apps"] : []) as AppJson[]) apps.push({ ...a, id: canonicalId(String(a["id"] ?? ""), base) });
    for (const sub of (Array.isArray(group["groups"]) ? group["groups"] : []) as AppJson[]) walk(sub, canonicalId(String(sub["id"] ?? ""), base));
  };
  if (g && typeof g === "object") walk(g, root);
  return apps;
}
