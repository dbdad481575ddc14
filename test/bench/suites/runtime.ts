/**
 * `npm run bench -- runtime`: the actor runtime's throughput and latency.
 * - messages/s between two actors in one process (target ≥ 1,000,000);
 * - messages/s one way between two processes over gRPC, small messages, batched (target
 *   ≥ 150,000), next to the naive one-message-per-write baseline, with the ratio;
 * - the same over NATS through a real nats-server (target ≥ 150,000);
 * - request→reply round trip p50/p99 over gRPC and NATS;
 * - gRPC with mutual TLS (both nodes with certificates of one cluster CA, the receiver
 *   authenticating the stream) against plaintext in the same run, with the ratio;
 * - the reconnect storm after a failover: --reconnects simulated agents (default 10,000)
 *   open their stream to one node, --reconnect-concurrency at a time (default 200), each on
 *   its own connection, plaintext and mutual TLS: handshakes/s, the storm's wall time, and
 *   the node's CPU time per connection.
 * The far process is dist/test/bench/runtime-peer.js. Streams keep a window of
 * unacknowledged messages so queues stay bounded; the sink checks order.
 * Options: --trials=N (default 3; each figure is the median of N trials), --reconnects=N,
 * --reconnect-concurrency=N.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Pid } from "../../../src/runtime/pid.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import type { Transport } from "../../../src/runtime/transport.js";
import { GrpcTransport } from "../../../src/runtime/transports/grpc.js";
import { NatsTransport } from "../../../src/runtime/transports/nats.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadavg } from "node:os";
import { CertificateAuthority } from "../../../src/security/pki/authority.js";
import { channelCredentials, nodeTransportSecurity } from "../../../src/security/pki/grpc-credentials.js";
import { writeNodeTls, type TlsMaterial } from "../../../src/security/pki/tls-files.js";
import { NatsServer } from "../../support/nats-server.js";
import { reconnectStorm } from "../reconnect-storm.js";
import { median, percentile, type Reporter } from "../report.js";
import { Driver, type StreamResult } from "../runtime-actors.js";

interface Peer {
  address: string;
  child: ChildProcess;
}

async function startPeer(...args: string[]): Promise<Peer> {
  const child = spawn(process.execPath, [...process.execArgv, new URL("../runtime-peer.js", import.meta.url).pathname, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const address = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`benchmark peer exited with ${code} before it was ready`)));
    lines.once("line", (line) => resolve((JSON.parse(line) as { address: string }).address));
  });
  return { address, child };
}

async function stopPeer(peer: Peer): Promise<void> {
  const exited = new Promise((resolve) => peer.child.once("exit", resolve));
  peer.child.stdin!.end();
  await exited;
}

/** A sending node: an actor system with a Driver on the given transport. */
async function sender(transport?: Transport): Promise<{ system: ActorSystem; driver: Driver }> {
  const system = new ActorSystem(transport ? { transport } : { address: "bench" });
  await system.start();
  return { system, driver: system.spawn(new Driver()) };
}

async function stream(node: { system: ActorSystem; driver: Driver }, to: Pid, total: number, window: number): Promise<number> {
  const r: StreamResult = await node.system.dispatch(node.driver, (d) => d.startStream(to, total, window));
  if (r.disorder !== 0) throw new Error(`${r.disorder} of ${total} messages arrived out of order at ${to.toString()}`);
  return (total / r.ms) * 1000;
}

/** Messages a sender keeps unacknowledged: enough to fill frames, small enough that encoding and writing overlap. */
const WINDOW = 10_000;

interface Rates {
  /** msg/s of each trial. */
  perSecond: number[];
  /**
   * CPU time per message of the sending and the receiving process, µs, over all trials:
   * the cost of the code whatever the machine's load (the far process is read from /proc).
   */
  senderCpuUs: number;
  receiverCpuUs: number | undefined;
}

/** User+system CPU time of a process in µs, from /proc (Linux; clock ticks of 10 ms). */
function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** Warms up once, then runs `trials` streams. */
async function rates(node: { system: ActorSystem; driver: Driver }, to: Pid, total: number, trials: number, far?: Peer): Promise<Rates> {
  await stream(node, to, Math.max(2000, Math.round(total / 10 / 2000) * 2000), WINDOW);
  const perSecond: number[] = [];
  const cpu0 = process.cpuUsage();
  const far0 = processCpuUs(far?.child.pid);
  for (let i = 0; i < trials; i++) perSecond.push(await stream(node, to, total, WINDOW));
  const cpu = process.cpuUsage(cpu0);
  const far1 = processCpuUs(far?.child.pid);
  const n = total * trials;
  return { perSecond, senderCpuUs: (cpu.user + cpu.system) / n, receiverCpuUs: far0 === undefined || far1 === undefined ? undefined : (far1 - far0) / n };
}

const us = (x: number | undefined) => (x === undefined ? null : Math.round(x * 100) / 100);

function throughput(r: Rates, target: number): Record<string, unknown> {
  const extra: Record<string, unknown> = { trials: r.perSecond.map((x) => Math.round(x)), sender_cpu_us_per_msg: us(r.senderCpuUs) };
  if (r.receiverCpuUs !== undefined) {
    extra.receiver_cpu_us_per_msg = us(r.receiverCpuUs);
    // What the pair would move if each process had a core to itself: the busier side decides.
    extra.cpu_bound_msgs_per_s = Math.round(1e6 / Math.max(r.senderCpuUs, r.receiverCpuUs));
  }
  return { ...extra, target };
}

async function roundTrips(node: { system: ActorSystem; driver: Driver }, to: Pid, count: number): Promise<number[]> {
  await node.system.dispatch(node.driver, (d) => d.startPing(to, 200));
  return node.system.dispatch(node.driver, (d) => d.startPing(to, count));
}

function latency(report: Reporter, prefix: string, rtts: number[]): void {
  report.figure(`${prefix}_rtt_p50_ms`, percentile(rtts, 50), "ms", "lower", { samples: rtts.length });
  report.figure(`${prefix}_rtt_p99_ms`, percentile(rtts, 99), "ms", "lower", { samples: rtts.length });
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const trials = Number(args.find((a) => a.startsWith("--trials="))?.slice(9) ?? 3);

  // One process, two actors, no transport.
  {
    const node = await sender();
    const sink = new Pid("sink", node.system.address);
    const { Sink } = await import("../runtime-actors.js");
    node.system.spawn(new Sink());
    const r = await rates(node, sink, 2_000_000, trials);
    report.figure("in_process_msgs_per_s", median(r.perSecond), "msg/s", "higher", throughput(r, 1_000_000));
    await node.system.stop();
  }

  // gRPC between two processes: batched frames against one message per write.
  {
    const peer = await startPeer("grpc");
    const sink = new Pid("sink", peer.address);
    const batchedTransport = await GrpcTransport.listen();
    const naiveTransport = await GrpcTransport.listen({ coalesce: false });
    const batched = await sender(batchedTransport);
    const naive = await sender(naiveTransport);
    const fast = await rates(batched, sink, 600_000, trials, peer);
    const slow = await rates(naive, sink, 20_000, trials, peer);
    report.compare("grpc_msgs_per_s", median(fast.perSecond), "grpc_naive_msgs_per_s", median(slow.perSecond), "msg/s", "higher");
    report.figure("grpc_batched_detail", median(fast.perSecond), "msg/s", "higher", throughput(fast, 150_000));
    report.figure("grpc_naive_detail", median(slow.perSecond), "msg/s", "higher", throughput(slow, 0));
    report.figure("grpc_envelopes_per_frame", batchedTransport.stats.envelopesSent / batchedTransport.stats.framesSent, "msg/frame", "higher");
    latency(report, "grpc", await roundTrips(batched, new Pid("echo", peer.address), 2000));
    await batched.system.stop();
    await naive.system.stop();
    await stopPeer(peer);
  }

  // gRPC with mutual TLS against plaintext, same run; then the reconnect storm on each.
  {
    const ca = await CertificateAuthority.create({ cluster: "bench" });
    const issue = async (role: "master" | "agent", name: string): Promise<TlsMaterial> => ({ ca: ca.pem.cert, ...(await ca.issue({ role, name, hosts: ["127.0.0.1"] })) });
    const dir = await mkdtemp(join(tmpdir(), "dcos-bench-tls-"));
    await writeNodeTls(dir, await issue("master", "bench-peer"));
    const senderTls = await issue("agent", "bench-sender");
    const plainPeer = await startPeer("grpc");
    const tlsPeer = await startPeer("grpc-tls", dir);
    const plain = await sender(await GrpcTransport.listen());
    const secure = await sender(await GrpcTransport.listen({ security: nodeTransportSecurity(senderTls) }));
    // Interleaved trials, so both see the same machine load.
    const plainRates: number[] = [];
    const tlsRates: number[] = [];
    let tlsCpu: Rates | undefined;
    for (let i = 0; i < trials; i++) {
      plainRates.push(...(await rates(plain, new Pid("sink", plainPeer.address), 600_000, 1, plainPeer)).perSecond);
      const t = await rates(secure, new Pid("sink", tlsPeer.address), 600_000, 1, tlsPeer);
      tlsRates.push(...t.perSecond);
      tlsCpu = t;
    }
    report.compare("grpc_mtls_msgs_per_s", median(tlsRates), "grpc_plaintext_msgs_per_s", median(plainRates), "msg/s", "higher");
    report.figure("grpc_mtls_detail", median(tlsRates), "msg/s", "higher", { ...throughput(tlsCpu!, 120_000), trials: tlsRates.map(Math.round), plaintext_trials: plainRates.map(Math.round), goal_ratio: 0.8 });
    latency(report, "grpc_mtls", await roundTrips(secure, new Pid("echo", tlsPeer.address), 2000));

    const agents = Number(args.find((a) => a.startsWith("--reconnects="))?.slice(13) ?? 10_000);
    const concurrency = Number(args.find((a) => a.startsWith("--reconnect-concurrency="))?.slice(24) ?? 200);
    const storm = async (peer: Peer, credentials: (agent: number) => grpc.ChannelCredentials) => {
      const cpu0 = processCpuUs(peer.child.pid);
      const ms = await reconnectStorm(peer.address, agents, concurrency, credentials);
      const cpu1 = processCpuUs(peer.child.pid);
      return { ms, nodeCpuUs: cpu0 === undefined || cpu1 === undefined ? null : Math.round((cpu1 - cpu0) / agents) };
    };
    const insecure = grpc.credentials.createInsecure();
    const plainStorm = await storm(plainPeer, () => insecure);
    // Each simulated agent has its own client (its own session cache): the first storm makes
    // full handshakes (what a node that never saw them pays), the second resumes every
    // agent's session with the same node (reconnection after a cut or a restart with the
    // same ticket keys).
    const base = channelCredentials(senderTls);
    const perAgent = Array.from({ length: agents }, () => base.fresh());
    const tlsStorm = await storm(tlsPeer, (i) => perAgent[i]!);
    const resumedStorm = await storm(tlsPeer, (i) => perAgent[i]!);
    const resumed = perAgent.reduce((n, c) => n + c.stats.resumed, 0);
    const shape = { agents, concurrency, load: loadavg()[0] };
    report.compare("reconnects_mtls_per_s", (agents / tlsStorm.ms) * 1000, "reconnects_plaintext_per_s", (agents / plainStorm.ms) * 1000, "conn/s", "higher");
    report.compare("reconnects_mtls_resumed_per_s", (agents / resumedStorm.ms) * 1000, "reconnects_mtls_full_per_s", (agents / tlsStorm.ms) * 1000, "conn/s", "higher");
    report.figure("reconnect_storm_mtls_s", tlsStorm.ms / 1000, "s", "lower", { ...shape, node_cpu_us_per_connection: tlsStorm.nodeCpuUs });
    report.figure("reconnect_storm_mtls_resumed_s", resumedStorm.ms / 1000, "s", "lower", { ...shape, node_cpu_us_per_connection: resumedStorm.nodeCpuUs, resumed_sessions: resumed });
    report.figure("reconnect_storm_plaintext_s", plainStorm.ms / 1000, "s", "lower", { ...shape, node_cpu_us_per_connection: plainStorm.nodeCpuUs });
    if (tlsStorm.nodeCpuUs && resumedStorm.nodeCpuUs && plainStorm.nodeCpuUs) {
      report.figure("reconnect_node_cpu_resumed_vs_full_tls", resumedStorm.nodeCpuUs / tlsStorm.nodeCpuUs, "ratio", "lower", { ...shape, plaintext_vs_full_tls: Number((plainStorm.nodeCpuUs / tlsStorm.nodeCpuUs).toFixed(3)) });
    }
    await plain.system.stop();
    await secure.system.stop();
    await stopPeer(plainPeer);
    await stopPeer(tlsPeer);
    await rm(dir, { recursive: true, force: true });
  }

  // NATS between two processes, through a real nats-server (a third process).
  {
    const server = await NatsServer.start();
    const peer = await startPeer("nats", server.url);
    const transport = await NatsTransport.connect({ servers: server.url, address: `bench-${process.pid}` });
    const node = await sender(transport);
    const r = await rates(node, new Pid("sink", peer.address), 600_000, trials, peer);
    report.figure("nats_msgs_per_s", median(r.perSecond), "msg/s", "higher", throughput(r, 150_000));
    report.figure("nats_envelopes_per_frame", transport.stats.envelopesSent / transport.stats.framesSent, "msg/frame", "higher");
    latency(report, "nats", await roundTrips(node, new Pid("echo", peer.address), 2000));
    await node.system.stop();
    await stopPeer(peer);
    await server.stop();
  }
}
