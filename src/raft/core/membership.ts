import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, DcosError } from "../../runtime/error.js";
import {
  RaftMembershipChangeType,
  RaftMembershipSchema,
  type RaftMembership,
  type RaftMembershipChange,
} from "../../gen/dcos/v1/raft_pb.js";

/**
 * A configuration of the group: voters elect and count toward commit, learners only
 * receive the log. Immutable; changes produce a new Membership.
 */
export class Membership {
  readonly voters: ReadonlySet<string>;
  readonly learners: ReadonlySet<string>;
  /** The storage generation of members, once pinned (see RaftMembership.generations). */
  readonly generations: ReadonlyMap<string, string>;

  constructor(voters: Iterable<string>, learners: Iterable<string> = [], generations: Iterable<[string, string]> = []) {
    this.voters = new Set(voters);
    this.learners = new Set(learners);
    for (const l of this.learners) {
      if (this.voters.has(l)) throw new DcosError(Code.INVALID_ARGUMENT, `Member ${l} cannot be both a voter and a learner`);
    }
    this.generations = new Map([...generations].filter(([id]) => this.has(id)));
  }

  static fromProto(m: RaftMembership | undefined): Membership {
    return new Membership(m?.voters ?? [], m?.learners ?? [], Object.entries(m?.generations ?? {}));
  }

  static decode(data: Uint8Array): Membership {
    return Membership.fromProto(fromBinary(RaftMembershipSchema, data));
  }

  toProto(): RaftMembership {
    const generations: Record<string, string> = {};
    for (const id of [...this.generations.keys()].sort()) generations[id] = this.generations.get(id)!;
    return create(RaftMembershipSchema, { voters: [...this.voters].sort(), learners: [...this.learners].sort(), generations });
  }

  encode(): Uint8Array {
    return toBinary(RaftMembershipSchema, this.toProto());
  }

  isEmpty(): boolean {
    return this.voters.size === 0 && this.learners.size === 0;
  }

  has(id: string): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  members(): string[] {
    return [...this.voters, ...this.learners];
  }

  /** How many voters make a majority. */
  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /**
   * The largest index that a majority of voters have (the quorum-th largest match).
   * With no voters, 0.
   */
  committedIndex(match: (id: string) => number): number {
    if (this.voters.size === 0) return 0;
    const matches = [...this.voters].map(match).sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  /** Whether a majority of voters satisfy `ok`. */
  hasQuorum(ok: (id: string) => boolean): boolean {
    let n = 0;
    for (const v of this.voters) if (ok(v)) n++;
    return n >= this.quorum();
  }

  /** The outcome of an election from the votes received so far. */
  voteResult(votes: ReadonlyMap<string, boolean>): "won" | "lost" | "pending" {
    let granted = 0;
    let rejected = 0;
    for (const v of this.voters) {
      const got = votes.get(v);
      if (got === true) granted++;
      else if (got === false) rejected++;
    }
    if (granted >= this.quorum()) return "won";
    if (rejected > this.voters.size - this.quorum()) return "lost";
    return "pending";
  }

  /** The membership after one change; throws a precise DcosError if the change is invalid. */
  apply(change: RaftMembershipChange): Membership {
    const id = change.member;
    if (id === "") throw new DcosError(Code.INVALID_ARGUMENT, "Membership change names no member");
    const voters = new Set(this.voters);
    const learners = new Set(this.learners);
    switch (change.type) {
      case RaftMembershipChangeType.ADD_LEARNER:
        if (this.has(id)) throw new DcosError(Code.ALREADY_EXISTS, `Cannot add ${id} as a learner: it is already a member`);
        learners.add(id);
        break;
      case RaftMembershipChangeType.PROMOTE:
        if (!this.learners.has(id)) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot promote ${id}: it is not a learner`);
        learners.delete(id);
        voters.add(id);
        break;
      case RaftMembershipChangeType.REMOVE:
        if (!this.has(id)) throw new DcosError(Code.NOT_FOUND, `Cannot remove ${id}: it is not a member`);
        if (this.voters.has(id) && this.voters.size === 1) {
          throw new DcosError(Code.FAILED_PRECONDITION, `Cannot remove ${id}: it is the last voter`);
        }
        voters.delete(id);
        learners.delete(id);
        break;
      default:
        throw new DcosError(Code.INVALID_ARGUMENT, `Unknown membership change type ${change.type}`);
    }
    // A removed member's generation goes with it: re-added, it is pinned afresh.
    return new Membership(voters, learners, this.generations);
  }

  /** The members (of `learned`) whose generation is not pinned yet. */
  unpinned(learned: ReadonlyMap<string, string>): [string, string][] {
    return [...learned].filter(([id]) => this.has(id) && !this.generations.has(id));
  }

  /** The same members with more generations pinned. */
  withGenerations(pins: Iterable<[string, string]>): Membership {
    return new Membership(this.voters, this.learners, [...this.generations, ...pins]);
  }

  toString(): string {
    const l = this.learners.size > 0 ? ` learners [${[...this.learners].sort().join(",")}]` : "";
    return `voters [${[...this.voters].sort().join(",")}]${l}`;
  }
}

/**
 * The memberships recorded in the log, in index order: the one of the snapshot (or the
 * bootstrap) first, then one per membership entry. A membership takes effect as soon as
 * its entry is appended, and is undone if that entry is truncated.
 */
export class MembershipHistory {
  private items: { index: number; membership: Membership }[];

  constructor(index: number, membership: Membership) {
    this.items = [{ index, membership }];
  }

  current(): Membership {
    return this.items[this.items.length - 1]!.membership;
  }

  /** The index of the entry that set the current membership. */
  currentIndex(): number {
    return this.items[this.items.length - 1]!.index;
  }

  /** The membership in effect at `index`. */
  at(index: number): Membership {
    for (let i = this.items.length - 1; i > 0; i--) {
      if (this.items[i]!.index <= index) return this.items[i]!.membership;
    }
    return this.items[0]!.membership;
  }

  /** The index of the entry from which `id` has been a member without interruption. */
  memberSince(id: string): number {
    let since = -1;
    for (let i = this.items.length - 1; i >= 0 && this.items[i]!.membership.has(id); i--) since = this.items[i]!.index;
    return since;
  }

  /** The servers that an earlier membership of the history had and the current one has not. */
  former(): string[] {
    const current = this.current();
    const ids = new Set<string>();
    for (const { membership } of this.items) for (const id of membership.members()) if (!current.has(id)) ids.add(id);
    return [...ids];
  }

  add(index: number, membership: Membership): void {
    this.items.push({ index, membership });
  }

  /** Forgets the memberships of entries at or after `index` (they were truncated). */
  truncateFrom(index: number): void {
    while (this.items.length > 1 && this.items[this.items.length - 1]!.index >= index) this.items.pop();
  }

  reset(index: number, membership: Membership): void {
    this.items = [{ index, membership }];
  }
}
