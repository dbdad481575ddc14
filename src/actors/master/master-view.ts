/**
 * The master's state as code outside the master reads it: HTTP (/state, /state-summary,
 * /quota, /maintenance), the Operator gRPC service and the web UI. Read-only at the type
 * level: maps without set/delete, the offer book, counts and history without their
 * mutators, the registry without `apply`. `MasterFacade.inspect` hands one of these to a
 * function that runs inside the master actor; MasterState (master-state.ts) is the writable state
 * the master's own feature files work on, and it satisfies this interface.
 */
import type { FrameworkInfo, MasterInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Task } from "../../gen/dcos/v1/tasks_pb.js";
import type { AgentRecord } from "./agent-record.js";
import type { MasterCounts } from "./counts.js";
import type { FrameworkRecord } from "./framework-record.js";
import type { OfferBook } from "./offer-book.js";
import type { ResolvedMasterOptions } from "./options.js";
import type { RegistryState } from "./registry.js";

/** The reads of the incremental counts (O(1)), without the updates the master makes. */
export type CountsView = Pick<MasterCounts, "total" | "used" | "tasksIn" | "agents" | "ofAgent" | "ofFramework" | "frameworks">;

/** The outstanding offers, looked up but not added or removed. */
export type OffersView = Pick<OfferBook, "size" | "get" | "values" | "ofFramework" | "onAgent">;

export interface MasterView {
  readonly options: Readonly<ResolvedMasterOptions>;
  readonly counts: CountsView;
  readonly frameworks: ReadonlyMap<string, FrameworkRecord>;
  readonly agents: ReadonlyMap<string, AgentRecord>;
  readonly offers: OffersView;
  /** Terminal tasks the master forgot and removed frameworks, newest last. */
  readonly completedTasks: { values(): readonly Task[] };
  readonly completedFrameworks: { values(): readonly FrameworkInfo[] };
  /** Bumped on every change operators can see (the /state cache key). */
  readonly stateVersion: number;
  /** The replicated registry as of the last applied operation. */
  readonly registrar: { state(): Readonly<RegistryState> };
  masterInfo(): MasterInfo;
  now(): number;
}
