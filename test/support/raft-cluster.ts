import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { SimNetwork, type LinkFaults } from "../../src/runtime/transports/sim-network.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { RaftNode, type RaftNodeOptions } from "../../src/raft/raft-node.js";
import { ReplicatedStateMachine } from "../../src/raft/replicated-state-machine.js";
import type { StateMachine } from "../../src/raft/state-machine.js";
import { DurableStorage } from "../../src/raft/storage/durable-storage.js";
import { CrashFs, type TornBytes } from "./crash-fs.js";
import { LoopStall } from "./loop-stall.js";

const text = new TextEncoder();
const untext = new TextDecoder();

/** A test state machine: a list of strings; apply appends and returns the new length. "fail" is refused. */
export class ListMachine implements StateMachine {
  items: string[] = [];

  apply(command: Uint8Array, _index?: number): Uint8Array {
    const item = untext.decode(command);
    if (item === "fail") throw new DcosError(Code.INVALID_ARGUMENT, "Refusing the command 'fail'");
    this.items.push(item);
    return text.encode(String(this.items.length));
  }

  snapshot(): Uint8Array {
    return text.encode(JSON.stringify(this.items));
  }

  restore(state: Uint8Array): void {
    this.items = JSON.parse(untext.decode(state)) as string[];
  }
}

/**
 * A ListMachine that snapshots in pieces (StateMachine.snapshotPieces): one piece per item
 * of the JSON array, from a view captured at the call (the array, which apply only pushes
 * onto, and its length then). It records the machine's length when each piece is drawn,
 * so a test can tell that entries were applied while a snapshot was being taken.
 */
export class PiecesListMachine extends ListMachine {
  readonly drawnAt: number[] = [];
  /** The machine's length after each index it applied. */
  readonly lengthAt = new Map<number, number>();

  /** Called after each entry applied (a test's probe). */
  onApply: (() => void) | undefined;

  override apply(command: Uint8Array, index?: number): Uint8Array {
    const result = super.apply(command);
    this.lengthAt.set(index ?? 0, this.items.length);
    this.onApply?.();
    return result;
  }

  /** The items as of `index` (the length after the last index applied at or below it). */
  itemsAt(index: number): string[] {
    let length = 0;
    for (const [i, n] of this.lengthAt) if (i <= index) length = Math.max(length, n);
    return this.items.slice(0, length);
  }

  snapshotPieces(): IterableIterator<Uint8Array> {
    return this.pieces(this.items, this.items.length);
  }

  private *pieces(items: readonly string[], count: number): IterableIterator<Uint8Array> {
    this.drawnAt.push(this.items.length);
    yield text.encode("[");
    for (let i = 0; i < count; i++) {
      this.drawnAt.push(this.items.length);
      yield text.encode((i === 0 ? "" : ",") + JSON.stringify(items[i]));
    }
    yield text.encode("]");
  }
}

/** A PiecesListMachine that restores in steps (StateMachine.restoreSteps): one step per item, recording the machine's length at each step (unchanged until the last). */
export class StepsListMachine extends PiecesListMachine {
  readonly restoringAt: number[] = [];

  *restoreSteps(state: Uint8Array): Generator<void, void, void> {
    const items = JSON.parse(untext.decode(state)) as string[];
    for (let i = 0; i < items.length; i++) {
      this.restoringAt.push(this.items.length);
      yield;
    }
    this.items = items;
  }
}

export const bytes = (s: string): Uint8Array => text.encode(s);
export const str = (b: Uint8Array): string => untext.decode(b);

export interface Member<M extends StateMachine> {
  address: string;
  system: ActorSystem;
  node: RaftNode<M>;
  api: ReplicatedStateMachine<M>;
  storage: DurableStorage;
}

type Extra<M extends StateMachine> = Partial<Omit<RaftNodeOptions<M>, "storage" | "machine" | "peers">>;

/**
 * Raft members on a SimNetwork with a ManualClock, each with its own crash-modelling file
 * system, so a test can crash a member (losing what it had not synced) and restart it.
 */
export class SimRaftCluster<M extends StateMachine> {
  readonly clock = new ManualClock(0);
  readonly net: SimNetwork;
  readonly random: Random;
  private readonly fs = new Map<string, CrashFs>();
  private readonly members = new Map<string, Member<M>>();
  /** Members whose event loop a test can hold (start option `stallable`). */
  private readonly stalls = new Map<string, LoopStall>();

  private constructor(
    readonly seed: number,
    readonly addresses: string[],
    private readonly machine: () => M,
    private readonly extra: Extra<M>,
    faults: Partial<LinkFaults>,
  ) {
    this.net = new SimNetwork({ clock: this.clock, seed, faults });
    this.random = new Random(seed);
  }

  static async start<M extends StateMachine>(
    seed: number,
    machine: () => M,
    options: { size?: number; extra?: Extra<M>; faults?: Partial<LinkFaults>; stallable?: boolean } = {},
  ): Promise<SimRaftCluster<M>> {
    const addresses = Array.from({ length: options.size ?? 3 }, (_, i) => `m${i + 1}`);
    const c = new SimRaftCluster(seed, addresses, machine, options.extra ?? {}, options.faults ?? {});
    if (options.stallable) for (const a of addresses) c.stalls.set(a, new LoopStall());
    for (const a of addresses) await c.startMember(a);
    return c;
  }

  pids(): Pid[] {
    return this.addresses.map((a) => new Pid("raft", a));
  }

  member(address: string): Member<M> {
    const m = this.members.get(address);
    if (!m) throw new Error(`Member ${address} is down`);
    return m;
  }

  /** The file system of a member (survives its crashes). */
  files(address: string): CrashFs {
    return this.fs.get(address)!;
  }

  up(): Member<M>[] {
    return [...this.members.values()];
  }

  /** The hold on a member's event loop (the cluster was started `stallable`). */
  stall(address: string): LoopStall {
    const s = this.stalls.get(address);
    if (!s) throw new Error(`Member ${address} was not started stallable`);
    return s;
  }

  /** Starts (or restarts) a member from its files; `override` changes its options from the cluster's. */
  async startMember(address: string, override: Extra<M> = {}): Promise<Member<M>> {
    let fs = this.fs.get(address);
    if (!fs) this.fs.set(address, (fs = new CrashFs()));
    const stall = this.stalls.get(address);
    const clock = stall ? stall.clock(this.clock) : this.clock;
    const transport = stall ? stall.transport(this.net.transport(address)) : this.net.transport(address);
    const system = new ActorSystem({ clock, transport, logger: testLogger() });
    await system.start();
    const storage = await DurableStorage.open({ dir: `/${address}`, fs });
    const node = system.spawn(
      new RaftNode<M>({ storage, machine: this.machine(), peers: this.pids(), random: this.random.fork(), ...this.extra, ...override }),
    );
    const member = { address, system, node, api: new ReplicatedStateMachine(node), storage };
    this.members.set(address, member);
    await this.clock.settle();
    return member;
  }

  /** Crashes a member: it stops at once and loses what it had not synced (or keeps a torn part). */
  async crash(address: string, torn?: TornBytes): Promise<void> {
    const m = this.member(address);
    this.net.crash(address);
    this.members.delete(address);
    await m.system.stop();
    this.fs.set(address, this.fs.get(address)!.crash(torn));
  }

  leaders(): Member<M>[] {
    return this.up().filter((m) => m.node.status().role === RaftRole.Leader);
  }

  /** Advances the clock until exactly one member up is leader of the highest term; returns it. */
  async waitForLeader(within = 10_000): Promise<Member<M>> {
    let leader: Member<M> | undefined;
    await this.clock.advanceUntil(() => {
      const ls = this.leaders();
      const top = Math.max(...this.up().map((m) => m.node.status().term));
      leader = ls.length >= 1 ? ls.find((l) => l.node.status().term === top) : undefined;
      return leader !== undefined;
    }, within);
    return leader!;
  }

  /** Runs the clock while a promise is pending; returns its outcome. */
  async settleOn<T>(p: Promise<T>, within = 10_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    p.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    await this.clock.advanceUntil(() => outcome !== undefined, within);
    return outcome!;
  }

  async stop(): Promise<void> {
    for (const m of this.up()) await m.system.stop();
  }
}
