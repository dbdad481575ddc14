/**
 * A Containerizer for unit tests: nothing runs. Containers "start" at once, end when the
 * test says so (exit) or when destroyed; every call is recorded for assertions.
 */
import { Code, DcosError } from "../../src/runtime/error.js";
import type {
  ContainerConfig,
  ContainerId,
  ContainerState,
  Containerizer,
  RecoveryResult,
  ResourceUsage,
  Termination,
} from "../../src/isolation/containerizer.js";

interface FakeContainer {
  config: ContainerConfig;
  state: ContainerState;
  ended: Promise<Termination>;
  end: (t: Termination) => void;
  done: boolean;
}

export class FakeContainerizer implements Containerizer {
  readonly kind = "fake";
  readonly launched: ContainerConfig[] = [];
  readonly destroyed: { id: ContainerId; gracePeriodMs: number }[] = [];
  /** When set, launch() rejects with what it returns (if anything). */
  failLaunch: ((config: ContainerConfig) => Error | undefined) | undefined;
  /** When set, launch() waits for it before it returns (a launch under way, for as long as the test wants). */
  holdLaunch: Promise<void> | undefined;
  private readonly all = new Map<ContainerId, FakeContainer>();
  private nextPid = 1000;

  async launch(config: ContainerConfig): Promise<ContainerState> {
    if (this.all.has(config.id)) throw new DcosError(Code.ALREADY_EXISTS, `Container ${config.id} exists`);
    const failure = this.failLaunch?.(config);
    if (failure) throw failure;
    if (this.holdLaunch) await this.holdLaunch;
    let end!: (t: Termination) => void;
    const ended = new Promise<Termination>((resolve) => (end = resolve));
    const state: ContainerState = {
      id: config.id,
      containerizer: this.kind,
      isolators: [],
      pid: this.nextPid++,
      startTime: 0,
      bootId: "fake-boot",
      sandbox: config.sandbox,
      runtimeDir: `/fake/${config.id}`,
      ports: [...(config.resources?.ports ?? [])],
    };
    this.all.set(config.id, { config, state, ended, end, done: false });
    this.launched.push(config);
    return state;
  }

  private container(id: ContainerId): FakeContainer {
    const c = this.all.get(id);
    if (!c) throw new DcosError(Code.NOT_FOUND, `Unknown container ${id}`);
    return c;
  }

  wait(id: ContainerId): Promise<Termination> {
    try {
      return this.container(id).ended;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The test ends a container as if its command exited (or was killed by signal). */
  exit(id: ContainerId, exitCode: number | null, signal: NodeJS.Signals | null = null, reason?: Termination["reason"]): void {
    const c = this.container(id);
    if (c.done) return;
    c.done = true;
    const message = signal ? `Command terminated by signal ${signal}` : `Command exited with status ${exitCode}`;
    c.end({ containerId: id, exitCode, signal, message, ...(reason ? { reason } : {}) });
  }

  destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination> {
    this.destroyed.push({ id, gracePeriodMs });
    try {
      this.exit(id, null, "SIGKILL", "destroyed");
      return this.container(id).ended;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async usage(id: ContainerId): Promise<ResourceUsage> {
    this.container(id);
    return { containerId: id, timestamp: 0, cpuUserSeconds: 0, cpuSystemSeconds: 0, memRssBytes: 0, processes: 1, threads: 1 };
  }

  containers(): ContainerId[] {
    return [...this.all.entries()].filter(([, c]) => !c.done).map(([id]) => id);
  }

  state(id: ContainerId): ContainerState | undefined {
    return this.all.get(id)?.state;
  }

  async recover(states: readonly ContainerState[]): Promise<RecoveryResult> {
    return { recovered: states.filter((s) => this.all.has(s.id)).map((s) => s.id), orphans: [] };
  }

  detach(): void {}
}
