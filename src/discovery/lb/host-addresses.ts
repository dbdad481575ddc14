/**
 * Task hosts as addresses: the services API names an instance's host by the agent's
 * hostname, and haproxy needs an address it can use without resolving (its runtime API
 * does not resolve names, and a name resolved once at load time goes stale). As
 * marathon-lb did, the load balancer resolves each host name itself (cached for
 * `ttlMs`) and gives haproxy the IPv4 address; a task whose host does not resolve takes no
 * traffic and is reported with its app id (a failed lookup is kept only `negativeTtlMs`,
 * and the load balancer looks again while any host is unresolved).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { LabelProblem } from "./labels.js";
import type { MarathonApp } from "./marathon-apps.js";

export type Lookup = (host: string) => Promise<string>;

const systemLookup: Lookup = async (host) => (await lookup(host, { family: 4 })).address;

export class HostAddresses {
  private readonly cache = new Map<string, { address: string | undefined; at: number }>();

  constructor(
    private readonly resolve: Lookup = systemLookup,
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
    private readonly negativeTtlMs = 1000,
  ) {}

  /** The apps with every task host an IP address; tasks whose host does not resolve are left out and reported. */
  async apply(apps: readonly MarathonApp[]): Promise<{ apps: MarathonApp[]; problems: LabelProblem[] }> {
    const names = new Set<string>();
    for (const a of apps) for (const t of a.tasks ?? []) if (typeof t.host === "string" && isIP(t.host) === 0) names.add(t.host);
    await Promise.all([...names].map((n) => this.address(n)));
    const problems: LabelProblem[] = [];
    const out = apps.map((a) => {
      if (!a.tasks?.some((t) => typeof t.host === "string" && isIP(t.host) === 0)) return a;
      const tasks = a.tasks.flatMap((t) => {
        if (typeof t.host !== "string" || isIP(t.host) !== 0) return [t];
        const address = this.cache.get(t.host)?.address;
        if (address) return [{ ...t, host: address }];
        problems.push({ appId: a.id, label: `task ${t.id}`, message: `its host '${t.host}' does not resolve to an IPv4 address; it takes no traffic`, severity: "error" });
        return [];
      });
      return { ...a, tasks };
    });
    return { apps: out, problems };
  }

  private async address(name: string): Promise<void> {
    const cached = this.cache.get(name);
    if (cached && this.now() - cached.at < (cached.address === undefined ? this.negativeTtlMs : this.ttlMs)) return;
    let address: string | undefined;
    try {
      address = await this.resolve(name);
    } catch {
      address = undefined;
    }
    this.cache.set(name, { address, at: this.now() });
  }
}
