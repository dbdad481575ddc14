/**
 * A multi-host cluster on this machine for system tests: deploy/netns-cluster.sh makes N
 * network namespaces ("hosts") on one bridge; this drives it, spawns dcos-node processes
 * inside the hosts (`ip netns exec <ns> node …`), cuts and heals the network between them,
 * and tears everything down (processes included) in down(), which tests call from after().
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { NodeProcess } from "./processes.js";

/** deploy/netns-cluster.sh, from dist/test/support. */
export const NETNS_SCRIPT = fileURLToPath(new URL("../../../deploy/netns-cluster.sh", import.meta.url));

const run = promisify(execFile);

const INSTALL = "System tests need root, iproute2 and iptables: run them as root after 'apt-get update && apt-get install -y iproute2 iptables' (or 'sudo bash deploy/setup-host.sh')";

async function has(command: string, args: string[]): Promise<boolean> {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}

/** Throws, saying how to install them, when this host cannot make network namespaces. */
export async function requireNetns(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(`Not running as root. ${INSTALL}`);
  const missing: string[] = [];
  if (!(await has("ip", ["-V"]))) missing.push("ip (iproute2)");
  if (!(await has("iptables", ["--version"]))) missing.push("iptables");
  if (missing.length > 0) throw new Error(`Missing ${missing.join(" and ")}. ${INSTALL}`);
}

export class NetnsCluster {
  private readonly processes: NodeProcess[] = [];

  private constructor(
    /** DCOS_NETNS_CLUSTER: 10.77.<id>.0/24; one id per test file so files may run at once. */
    readonly id: number,
    readonly size: number,
  ) {}

  /** Checks the host, removes what an earlier interrupted run left, and brings up `size` hosts. */
  static async up(id: number, size: number): Promise<NetnsCluster> {
    await requireNetns();
    const cluster = new NetnsCluster(id, size);
    await cluster.script("down");
    await cluster.script("up", String(size));
    return cluster;
  }

  /** The namespace of host `host` (1-based). */
  ns(host: number): string {
    return `dcos-test-${this.id}-${host}`;
  }

  /** The address of host `host` (the bridge, on the machine itself, is 10.77.<id>.1). */
  ip(host: number): string {
    return `10.77.${this.id}.${10 + host}`;
  }

  /** A dcos-node process in host `host`'s namespace, stopped by down(). */
  spawn(host: number, name: string, args: readonly string[]): NodeProcess {
    const p = new NodeProcess(name, args, ["ip", "netns", "exec", this.ns(host)]);
    this.processes.push(p);
    return p;
  }

  /** Hosts a and b stop hearing each other (packets dropped silently, as in a real partition). */
  partition(a: number, b: number): Promise<string> {
    return this.script("partition", String(a), String(b));
  }

  heal(a: number, b: number): Promise<string> {
    return this.script("heal", String(a), String(b));
  }

  linkDown(host: number): Promise<string> {
    return this.script("link-down", String(host));
  }

  linkUp(host: number): Promise<string> {
    return this.script("link-up", String(host));
  }

  /** Stops the processes (SIGTERM, then SIGKILL), then removes the hosts; whatever still runs in them is killed. */
  async down(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(3_000)));
    await this.script("down");
  }

  /** Output of every process spawned, for a failing test's message. */
  logs(lines = 20): string {
    return this.processes.map((p) => `--- ${p.name} ---\n${p.tail(lines)}`).join("\n");
  }

  private async script(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run("bash", [NETNS_SCRIPT, ...args], { env: { ...process.env, DCOS_NETNS_CLUSTER: String(this.id) } });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`netns-cluster.sh ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
    }
  }
}
