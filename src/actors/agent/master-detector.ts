/**
 * Which master an agent talks to, out of the masters it was given (`--master=a,b,c`).
 * Registration attempts that go unanswered move on to the next master of the list, only
 * to ask it: a standby answers with a LeadingMaster naming the leader, the leader
 * registers the agent. Who leads is learned from the masters, never from this rotation:
 * a LeadingMaster announcement (a newly elected master, also one elected again, or a
 * standby naming the leader), a registration, or a ping from a master (pings carry the
 * master's term) moves the agent to that master at once. Everything is fenced by term:
 * an agent never goes back to the master of an older term than the last it followed.
 *
 * A master the agent was told leads gets LEADER_PATIENCE attempts before the rotation moves
 * on: a leader just elected answers the reregistrations of every agent at once, and an
 * agent that moved on after one unanswered attempt went to a standby (one more round trip
 * to be sent back) or to the master that just died (a whole backoff lost), and its copies
 * added to the new leader's queue. With the runtime's backoff (1 s doubling) that is 1-3 s
 * for the leader to answer. Masters that were only guessed are left after one attempt.
 */
import { Pid } from "../../runtime/pid.js";

/** Unanswered attempts a master named as leader gets before the rotation moves on. */
export const LEADER_PATIENCE = 2;

/**
 * Follow `leader` (`changed`: it is not the master of the term the agent had: another
 * master, or the same one elected in a newer term), or ignore the message and why.
 */
export type Announcement = { follow: Pid; changed: boolean } | { ignore: string };

export class MasterDetector {
  private index = 0;
  private current_: Pid;
  /** The term of the last announcement followed (0: none yet). */
  private term_ = 0;
  /** Whether the current master was named as leader (by itself or another master), not guessed. */
  private told = false;
  /** Attempts that went unanswered since the current master was named leader. */
  private unanswered = 0;

  constructor(readonly masters: readonly Pid[]) {
    if (masters.length === 0) throw new Error("MasterDetector needs at least one master");
    this.current_ = masters[0]!;
  }

  /** The master the agent registers with and listens to. */
  get current(): Pid {
    return this.current_;
  }

  get term(): number {
    return this.term_;
  }

  /**
   * An attempt went unanswered: the master to try next. The leader named by the masters,
   * until it has let LEADER_PATIENCE attempts go unanswered; then the next master of the
   * list (the same one when there is one).
   */
  next(): Pid {
    if (this.told && ++this.unanswered < LEADER_PATIENCE) return this.current_;
    this.told = false;
    this.index = (this.index + 1) % this.masters.length;
    this.current_ = this.masters[this.index]!;
    return this.current_;
  }

  /** Whether `from` may tell this agent who leads: one of its masters (any actor on their nodes). */
  knows(from: Pid): boolean {
    return this.masters.some((m) => m.address === from.address) || from.address === this.current_.address;
  }

  /** A LeadingMaster from `from`: whether to follow it (and then it is the current master). */
  announced(from: Pid, leader: string, term: number): Announcement {
    if (!this.knows(from)) return { ignore: `${from.toString()} is not one of the masters` };
    const pid = Pid.tryParse(leader);
    if (!pid) return { ignore: leader === "" ? "it names no leader" : `'${leader}' is not a pid` };
    if (term < this.term_) return { ignore: `term ${term} is older than term ${this.term_}, which this agent follows` };
    // A leader elected again: the new term's master knows nothing of this agent's connection.
    const newer = this.term_ > 0 && term > this.term_;
    this.term_ = term;
    return this.follow(pid, newer);
  }

  /**
   * A ping from `from`, which leads `term` (0: a master that leads alone and says no term):
   * the pinging master leads, so the agent follows it unless it follows a newer term.
   */
  pinged(from: Pid, term: number): Announcement {
    if (!this.knows(from)) return { ignore: `${from.toString()} is not one of the masters` };
    if (term < this.term_) return { ignore: `its term ${term} is older than term ${this.term_}, which this agent follows` };
    // An unknown term (0: registered without an announcement) is learned; a newer known one is a new leadership.
    const newer = this.term_ > 0 && term > this.term_;
    if (term > 0) this.term_ = term;
    return this.follow(from, newer);
  }

  /** `from` (one of the masters) registered the agent: only a leading master does. */
  registeredWith(from: Pid): boolean {
    if (!this.knows(from)) return false;
    this.follow(from, false);
    return true;
  }

  private follow(pid: Pid, newer: boolean): Announcement {
    this.told = true;
    this.unanswered = 0;
    if (pid.equals(this.current_)) return { follow: pid, changed: newer };
    this.current_ = pid;
    const i = this.masters.findIndex((m) => m.address === pid.address);
    if (i >= 0) this.index = i;
    return { follow: pid, changed: true };
  }
}
