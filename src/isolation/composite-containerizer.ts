/**
 * Several containerizers behind one (`--containerizers=docker,mesos`): a launch goes to the
 * docker containerizer when the config carries a docker image, to the mesos (posix, with
 * the isolators of --isolation) one otherwise; every other call goes to the containerizer
 * that holds the container. Recovery hands each containerizer the checkpointed states of
 * its kind.
 */
import { Code, DcosError } from "../runtime/error.js";
import type { ContainerConfig, ContainerId, ContainerState, Containerizer, RecoveryResult, ResourceUsage, Termination } from "./containerizer.js";
import { isDockerConfig } from "./docker-spec.js";

export class CompositeContainerizer implements Containerizer {
  readonly kind = "composite";
  /** Which containerizer holds a container (launched or recovered here). */
  private readonly owners = new Map<ContainerId, Containerizer>();

  /** Whether the member that runs containers without a Docker image mounts volumes. */
  get mountsVolumes(): boolean {
    return this.members.find((m) => m.kind !== "docker")?.mountsVolumes === true;
  }

  /** `members` in the order of the flag; their kinds must differ. */
  constructor(private readonly members: readonly Containerizer[]) {
    const kinds = members.map((m) => m.kind);
    if (members.length === 0 || new Set(kinds).size !== kinds.length) {
      throw new DcosError(Code.INVALID_ARGUMENT, `A composite containerizer needs distinct containerizers, got [${kinds.join(", ")}]`);
    }
  }

  /** The member for a config: docker for a docker image, the first other one otherwise. */
  private memberFor(config: ContainerConfig): Containerizer {
    const wanted = isDockerConfig(config) ? "docker" : undefined;
    const m = this.members.find((x) => (wanted ? x.kind === wanted : x.kind !== "docker"));
    if (!m) {
      const what = wanted ? "a docker image" : "a command without a docker image";
      throw new DcosError(
        Code.FAILED_PRECONDITION,
        `Cannot launch container '${config.id}' with ${what}: this agent runs only the ${this.members.map((x) => x.kind).join(", ")} containerizer(s) (see --containerizers)`,
      );
    }
    return m;
  }

  private owner(id: ContainerId): Containerizer {
    const m = this.owners.get(id) ?? this.members.find((x) => x.containers().includes(id));
    if (!m) throw new DcosError(Code.NOT_FOUND, `Unknown container '${id}': it was never launched here or has ended`);
    return m;
  }

  async launch(config: ContainerConfig): Promise<ContainerState> {
    const m = this.memberFor(config);
    const state = await m.launch(config);
    this.owners.set(config.id, m);
    return state;
  }

  async wait(id: ContainerId): Promise<Termination> {
    return this.owner(id).wait(id);
  }

  async destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination> {
    return this.owner(id).destroy(id, gracePeriodMs);
  }

  async enter(id: ContainerId): Promise<string[]> {
    const owner = this.owner(id);
    if (!owner.enter) throw new DcosError(Code.FAILED_PRECONDITION, `The ${owner.kind} containerizer cannot run a command inside container '${id}'`);
    return owner.enter(id);
  }

  async usage(id: ContainerId): Promise<ResourceUsage> {
    return this.owner(id).usage(id);
  }

  containers(): ContainerId[] {
    return this.members.flatMap((m) => m.containers());
  }

  state(id: ContainerId): ContainerState | undefined {
    for (const m of this.members) {
      const s = m.state(id);
      if (s) return s;
    }
    return undefined;
  }

  async recover(states: readonly ContainerState[]): Promise<RecoveryResult> {
    const known = new Set(this.members.map((m) => m.kind));
    for (const s of states) {
      if (!known.has(s.containerizer)) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Cannot recover container '${s.id}': it was launched by the ${s.containerizer} containerizer, which --containerizers no longer names`);
      }
    }
    const result: RecoveryResult = { recovered: [], orphans: [] };
    for (const m of this.members) {
      const r = await m.recover(states.filter((s) => s.containerizer === m.kind));
      for (const id of [...r.recovered, ...r.orphans]) this.owners.set(id, m);
      result.recovered.push(...r.recovered);
      result.orphans.push(...r.orphans);
    }
    return result;
  }

  detach(): void {
    for (const m of this.members) m.detach();
  }
}
