/**
 * A real etcd cluster on loopback, the Raft benchmark's baseline: Debian's etcd-server
 * (3.4; deploy/setup-host.sh installs it and keeps its own service stopped), members on
 * free ports with data directories under a given root (the same file system as ours, so
 * the same fdatasync), default heartbeat/election timing (100 ms / 1 s, as ours), killed
 * at the end. Clients speak etcd's gRPC API through the npm `etcd3` client.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../support/nats-server.js";
import { waitFor } from "../support/wait.js";

export const ETCD = process.env.ETCD_BIN ?? "/usr/bin/etcd";

/** What the bench uses of the npm `etcd3` client. */
export interface EtcdClient {
  put(key: string): { value(v: Buffer): { exec(): Promise<unknown> } };
  maintenance: { status(): Promise<{ leader: string; header: { member_id: string } }> };
  close(): void;
}

/**
 * An etcd3 client of `hosts` (host:port). The package (a devDependency) is loaded when the
 * bench runs, not named to the compiler, so building does not need it installed.
 */
export async function etcdClient(hosts: string[], dialTimeout?: number): Promise<EtcdClient> {
  const name = "etcd3";
  let mod: { Etcd3: new (options: { hosts: string[]; dialTimeout?: number }) => EtcdClient };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    throw new Error(`The npm package etcd3 is missing (a devDependency of the raft benchmark): run npm ci (${(e as Error).message})`);
  }
  return new mod.Etcd3(dialTimeout === undefined ? { hosts } : { hosts, dialTimeout });
}

interface EtcdMember {
  name: string;
  client: string;
  child: ChildProcess;
  stderr: string;
}

export class EtcdCluster {
  private constructor(private readonly members: EtcdMember[]) {}

  static async start(size: number, root: string): Promise<EtcdCluster> {
    if (!existsSync(ETCD)) {
      throw new Error(`etcd not found at ${ETCD}; install it: apt-get install etcd-server (deploy/setup-host.sh does this), or set ETCD_BIN`);
    }
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    const names = Array.from({ length: size }, (_, i) => `etcd${i + 1}`);
    const peerUrl = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
    const initial = names.map((n, i) => `${n}=${peerUrl(i)}`).join(",");
    const members = names.map((name, i): EtcdMember => {
      const client = `127.0.0.1:${ports[2 * i]}`;
      const args = [
        `--name=${name}`,
        `--data-dir=${join(root, name)}`,
        `--listen-client-urls=http://${client}`,
        `--advertise-client-urls=http://${client}`,
        `--listen-peer-urls=${peerUrl(i)}`,
        `--initial-advertise-peer-urls=${peerUrl(i)}`,
        `--initial-cluster=${initial}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=bench-${ports[0]}`,
        "--logger=zap",
        "--log-level=error",
      ];
      const child = spawn(ETCD, args, { stdio: ["ignore", "ignore", "pipe"] });
      const m: EtcdMember = { name, client, child, stderr: "" };
      child.stderr!.on("data", (d: Buffer) => (m.stderr = (m.stderr + d.toString()).slice(-2000)));
      return m;
    });
    const cluster = new EtcdCluster(members);
    try {
      await cluster.leader(20_000);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** The client address (host:port) of the member that leads, once one does. */
  async leader(timeoutMs = 10_000): Promise<string> {
    return waitFor(async () => {
      for (const m of this.members) {
        if (m.child.exitCode !== null) throw new Error(`etcd member ${m.name} exited with ${m.child.exitCode}: ${m.stderr}`);
      }
      for (const m of this.members) {
        const c = await etcdClient([m.client], 1000);
        try {
          const s = await c.maintenance.status();
          if (s.leader !== "0" && s.leader === s.header.member_id) return m.client;
        } catch {
          // not up yet
        } finally {
          c.close();
        }
      }
      return undefined;
    }, "an etcd leader", timeoutMs, 50);
  }

  /** CPU time (user + system) the members used so far, in microseconds (from /proc, in clock ticks of 10 ms). */
  cpuMicros(): number {
    let ticks = 0;
    for (const m of this.members) {
      if (m.child.pid === undefined || m.child.exitCode !== null) continue;
      // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
      let stat: string;
      try {
        stat = readFileSync(`/proc/${m.child.pid}/stat`, "utf8");
      } catch {
        // It exited a moment ago (its exit not yet seen): its CPU is lost with it; say so.
        process.stderr.write(`etcd member ${m.name} is gone (pid ${m.child.pid}): ${m.stderr.slice(-300)}\n`);
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * 10_000;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.child.exitCode !== null || m.child.signalCode !== null) return resolve();
            m.child.once("exit", () => resolve());
            m.child.kill("SIGKILL");
          }),
      ),
    );
  }
}
