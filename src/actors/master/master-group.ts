/**
 * The replicated masters on one node: the raft actor (registry machine, log on disk), the
 * master actor (a standby until elected) and the leadership actor that turns the Raft
 * leader into the leading master. A single master is a one-member group: the same code
 * path, elected by itself after one election timeout.
 */
import { Code, DcosError } from "../../runtime/error.js";
import type { Logger } from "../../runtime/log.js";
import { Pid } from "../../runtime/pid.js";
import type { Random } from "../../runtime/random.js";
import type { ActorSystem } from "../../runtime/system.js";
import { RaftNode, type RaftNodeOptions } from "../../raft/raft-node.js";
import { DurableStorage } from "../../raft/storage/durable-storage.js";
import type { FileSystem } from "../../runtime/file-system.js";
import type { EventBus } from "../../events/bus.js";
import type { Allocator } from "../allocator/allocator.js";
import { MasterLeadership } from "./leadership.js";
import { Master } from "./master.js";
import type { MasterOptions } from "./options.js";
import { RegistryMachine } from "./raft-registrar.js";

export const RAFT_ACTOR_NAME = "raft";

export interface MasterGroupOptions extends MasterOptions {
  system: ActorSystem;
  /** host:port of every master, this node's included; empty or one entry: a group of one. */
  masters: readonly string[];
  /** Where the Raft log and snapshots live (`<dir>/wal`, `<dir>/snap`). */
  dir: string;
  fs?: FileSystem;
  /** A fresh allocator for each term this master leads. */
  allocator: () => Allocator;
  events?: EventBus;
  logger?: Logger;
  /** Raft timing and randomness (tests: seeded, faster ticks). */
  raft?: Pick<RaftNodeOptions<RegistryMachine>, "tickMs" | "electionTicks" | "heartbeatTicks" | "random" | "snapshotEntries">;
  random?: Random;
}

export interface MasterGroupMember {
  readonly raft: RaftNode<RegistryMachine>;
  readonly master: Master;
  readonly leadership: MasterLeadership;
  readonly storage: DurableStorage;
}

/** The raft pids of the group; INVALID_ARGUMENT when this node is not among several masters. */
export function raftPeers(self: string, masters: readonly string[]): Pid[] {
  const unique = [...new Set(masters.map((m) => m.trim()).filter((m) => m !== ""))];
  if (unique.length <= 1) return [new Pid(RAFT_ACTOR_NAME, self)];
  if (!unique.includes(self)) {
    throw new DcosError(Code.INVALID_ARGUMENT, `--masters=${unique.join(",")} does not name this master's address ${self} (use the same host:port as --ip and --port)`);
  }
  return unique.map((a) => new Pid(RAFT_ACTOR_NAME, a));
}

export async function startMasterGroup(o: MasterGroupOptions): Promise<MasterGroupMember> {
  const peers = raftPeers(o.system.address, o.masters);
  const storage = await DurableStorage.open({ dir: o.dir, fs: o.fs, metrics: o.system.metrics, log: o.logger });
  const raft = o.system.spawn(
    new RaftNode<RegistryMachine>({ name: RAFT_ACTOR_NAME, storage, machine: new RegistryMachine(), peers, ...o.raft }),
  );
  const agentReregisterTimeoutMs = o.agentReregisterTimeoutMs ?? 600_000;
  const { system: _s, masters: _m, dir: _d, fs: _f, allocator: _a, events, logger: _l, raft: _r, ...masterOptions } = o;
  const master = o.system.spawn(new Master({ ...masterOptions, standby: true, events, agentReregisterTimeoutMs }));
  const leadership = o.system.spawn(
    new MasterLeadership({
      raft,
      master,
      info: { id: o.masterId ?? "master", hostname: o.hostname ?? "localhost", port: o.port ?? 0, version: o.version ?? "", httpPort: o.httpPort ?? 0 },
      allocator: o.allocator,
      agentReregisterTimeoutMs,
    }),
  );
  return { raft, master, leadership, storage };
}
