/**
 * A serialized view of the master's state (/state, /state-summary), kept as bytes per
 * state version: built once per change, inside the master actor so the version and the
 * state agree, and served as the same prebuilt bytes to every request (gzip-compressed
 * once per version, on libuv's thread pool, for clients that accept it). A build gives a
 * PartsBody (body-parts.ts): /state's parts outlive the version (state-fragments.ts), so
 * a new version's bytes and gzip cost only its new parts.
 *
 * Requests never make the master rebuild more than once per `minRebuildIntervalMs`, nor
 * sooner than four times the last build's duration after it (a build from kept fragments
 * takes tens of ms: the next may follow soon): a request that finds the bytes stale waits
 * for the next build, which all requests waiting at that time share. Answers stay fresh (never older than the state when the request
 * arrived); a master busy with changes is not made to serialize 25 MB for every poll.
 */
import type { PartsBody } from "./body-parts.js";

export interface StateBytes {
  /** Which state object (one per master term) the version counts in. */
  readonly epoch: number;
  readonly version: number;
  /** The body (concatenated once per version, when first asked for). */
  readonly body: Buffer;
  /** The body gzip-compressed (made once per version, lazily). */
  gzipped(): Promise<Buffer>;
  /** The body's parts (one for views built whole). */
  readonly parts: PartsBody;
  /** An entity tag naming this master run and version. */
  readonly etag: string;
}

export interface StateBytesOptions {
  /** Keep bytes between requests (default true; false rebuilds for every request, to compare). */
  enabled?: boolean;
  /** The least time between two builds a request may cause (default 500 ms). */
  minRebuildIntervalMs?: number;
  /** Names the master run in entity tags (versions restart at 0 with the master). */
  runId: string;
}

/**
 * Work a build may do ahead, in several turns of the master actor (state-fragments.ts
 * makes a first build's fragments in slices), before the one turn that builds.
 */
export type Prepare<C> = (inActor: InActor<C>) => Promise<void>;

/** Runs fn inside the master actor (MasterFacade.inspect) with what it reads, C. */
export type InActor<C> = <T>(fn: (core: C) => T) => Promise<T>;

function bytesOf(epoch: number, version: number, parts: PartsBody, runId: string): StateBytes {
  return {
    epoch,
    version,
    parts,
    get body() {
      return parts.bytes;
    },
    etag: `"${runId}-${epoch}-${version}"`,
    gzipped: () => parts.gzipped(),
  };
}

/** A build is followed by at least this many times its own duration before the next (see interval()). */
const BUILD_SPACING = 4;

export class StateBytesCache<C> {
  private entry: StateBytes | undefined;
  private pending: Promise<StateBytes> | undefined;
  private lastBuildAt = Number.NEGATIVE_INFINITY;
  private readonly enabled: boolean;
  private readonly minIntervalMs: number;
  /** How many times the view was serialized. */
  builds = 0;
  /** How long the last build held the master actor, in ms. */
  lastBuildMs = 0;
  /**
   * Versions count within one state object (a master's core, new for every term it is
   * elected in, its version starting again at 0): bytes are for one epoch only, so a
   * re-elected master never serves the previous term's bytes or entity tag.
   */
  private readonly epochs = new WeakMap<object, number>();
  private lastEpoch = 0;

  private epochOf(core: C): number {
    const key = core as unknown as object;
    let e = this.epochs.get(key);
    if (e === undefined) this.epochs.set(key, (e = ++this.lastEpoch));
    return e;
  }

  constructor(
    private readonly o: StateBytesOptions,
    private readonly versionOf: (core: C) => number,
    private readonly build: (core: C) => PartsBody,
    private readonly prepare?: Prepare<C>,
  ) {
    this.enabled = o.enabled ?? true;
    this.minIntervalMs = o.minRebuildIntervalMs ?? 500;
  }

  /** Inside the master actor: the bytes of the current version, built now when the kept ones are older. */
  current(core: C): StateBytes {
    const version = this.versionOf(core);
    const epoch = this.epochOf(core);
    if (this.enabled && this.entry?.epoch === epoch && this.entry.version === version) return this.entry;
    const t0 = performance.now();
    const bytes = bytesOf(epoch, version, this.build(core), this.o.runId);
    this.lastBuildMs = performance.now() - t0;
    this.lastBuildAt = Date.now();
    this.builds++;
    if (this.enabled) this.entry = bytes;
    return bytes;
  }

  /** For a request: bytes at least as new as the state now, building at most once per interval. */
  async get(inActor: InActor<C>): Promise<StateBytes> {
    if (!this.enabled) return inActor((c) => this.current(c));
    const { epoch, version } = await inActor((c) => ({ epoch: this.epochOf(c), version: this.versionOf(c) }));
    for (;;) {
      const kept = this.entry;
      if (kept && kept.epoch === epoch && kept.version >= version) return kept;
      if (kept && kept.epoch > epoch) return this.rebuild(inActor);
      this.pending ??= this.rebuild(inActor).finally(() => (this.pending = undefined));
      await this.pending;
    }
  }

  /**
   * The least time from one build to the next: `minRebuildIntervalMs` at most, but no
   * more than BUILD_SPACING times what the last build held the master actor for, so cheap
   * builds (a few kept fragments remade) are not made to wait for an interval sized for a
   * whole one: builds still take at most about 1/BUILD_SPACING of the master's time.
   */
  private interval(): number {
    return Math.min(this.minIntervalMs, BUILD_SPACING * this.lastBuildMs);
  }

  private async rebuild(inActor: InActor<C>): Promise<StateBytes> {
    const wait = this.lastBuildAt + this.interval() - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await this.prepare?.(inActor);
    return inActor((c) => this.current(c));
  }
}
