/**
 * What the posix and Docker containerizers share about the containers they track: the
 * phases a container goes through (one transition table, checked), and the table of live
 * containers by id with the terminations of ended ones (for `wait` after the end, and so an
 * id is refused while it is live). Each containerizer keeps its own per-container data in
 * the records it puts here.
 */
import { Code, DcosError } from "../runtime/error.js";
import { transitionChecker } from "../runtime/transitions.js";
import type { ContainerId, Termination } from "./containerizer.js";

export enum ContainerPhase {
  LAUNCHING = "LAUNCHING",
  RUNNING = "RUNNING",
  DESTROYING = "DESTROYING",
  TERMINATED = "TERMINATED",
}

const checkTransition = transitionChecker<ContainerPhase>(
  {
    [ContainerPhase.LAUNCHING]: [ContainerPhase.RUNNING, ContainerPhase.DESTROYING, ContainerPhase.TERMINATED],
    [ContainerPhase.RUNNING]: [ContainerPhase.DESTROYING, ContainerPhase.TERMINATED],
    [ContainerPhase.DESTROYING]: [ContainerPhase.TERMINATED],
    [ContainerPhase.TERMINATED]: [],
  },
  "container",
);

/** What the table needs of a containerizer's record. */
export interface TrackedContainer {
  phase: ContainerPhase;
  readonly state: { readonly id: ContainerId };
}

export function containerNotFound(id: ContainerId): DcosError {
  return new DcosError(Code.NOT_FOUND, `Unknown container '${id}': it was never launched here or has ended`);
}

export class ContainerTable<C extends TrackedContainer> {
  private readonly live = new Map<ContainerId, C>();
  private readonly ended = new Map<ContainerId, Termination>();

  /** Takes the id for a new container (before the launch's first await); ALREADY_EXISTS while one is live under it. */
  reserve(c: C): void {
    const id = c.state.id;
    if (this.live.has(id)) throw new DcosError(Code.ALREADY_EXISTS, `Container '${id}' already exists`);
    this.live.set(id, c);
    this.ended.delete(id);
  }

  /** Puts a container found again after an agent restart back in the table. */
  adopt(c: C): void {
    this.live.set(c.state.id, c);
    this.ended.delete(c.state.id);
  }

  get(id: ContainerId): C | undefined {
    return this.live.get(id);
  }

  has(id: ContainerId): boolean {
    return this.live.has(id);
  }

  ids(): ContainerId[] {
    return [...this.live.keys()];
  }

  values(): IterableIterator<C> {
    return this.live.values();
  }

  /** Moves a container along its phases; INTERNAL on a move the table does not allow. */
  transition(c: C, to: ContainerPhase): void {
    checkTransition(c.phase, to, `'${c.state.id}'`);
    c.phase = to;
  }

  /** The container ended: out of the live table, its termination kept for later waits. */
  end(id: ContainerId, termination: Termination): void {
    this.live.delete(id);
    this.ended.set(id, termination);
  }

  /** A launch that failed before the container existed: the id is free again. */
  release(id: ContainerId): void {
    this.live.delete(id);
  }

  /** How an ended container ended, if it did. */
  termination(id: ContainerId): Termination | undefined {
    return this.ended.get(id);
  }

  /** Records how a container ended that was never live here (not found after a restart). */
  recordEnded(termination: Termination): void {
    this.ended.set(termination.containerId, termination);
  }

  /** Detach: forget the live containers (they keep running), keep nothing. */
  clear(): void {
    this.live.clear();
  }
}
