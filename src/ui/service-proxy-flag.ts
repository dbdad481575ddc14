/**
 * The master's `--service-proxy` flag: which frameworks' APIs it serves under
 * `/service/<name>` (framework-proxy.ts), as `name=principal` pairs. Kept apart from the
 * proxy so the CLI parses the flag without loading the HTTP code.
 */
import { Code, DcosError } from "../runtime/error.js";

/** The platform's own frameworks: the jobs framework (Chronos's name) and the services framework (Marathon's). */
export const DEFAULT_SERVICE_PROXY = "chronos=dcos-jobs,marathon=marathon";

/** Parses `--service-proxy`: comma-separated `name=principal` pairs (an empty list proxies nothing). */
export function parseServiceProxy(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of spec.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
    const m = /^([^=\s]+)=([^=\s]+)$/.exec(item);
    if (!m) throw new DcosError(Code.INVALID_ARGUMENT, `--service-proxy: '${item}' is not name=principal`);
    if (out.has(m[1]!)) throw new DcosError(Code.INVALID_ARGUMENT, `--service-proxy: framework name '${m[1]}' is listed twice`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}
