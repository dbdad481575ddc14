/**
 * Which master an agent talks to, out of the masters it was given (`--master=a,b,c`).
 * Registration attempts that go unanswered move on to the next master of the list; a
 * master's LeadingMaster announcement (a newly elected master, or a standby naming the
 * leader) moves the agent to the leader at once. Announcements are fenced by term: an
 * agent never goes back to the master of an older term than the last it followed.
 */
import { Pid } from "../../runtime/pid.js";

/** Follow `leader` (`changed`: it is not the master the agent had), or ignore the announcement and why. */
export type Announcement = { follow: Pid; changed: boolean } | { ignore: string };

export class MasterDetector {
  private index = 0;
  private current_: Pid;
  /** The term of the last announcement followed (0: none yet). */
  private term_ = 0;

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

  /** An attempt went unanswered: the next master of the list (the same one when there is one). */
  next(): Pid {
    this.index = (this.index + 1) % this.masters.length;
    this.current_ = this.masters[this.index]!;
    return this.current_;
  }

  /** Whether `from` may tell this agent who leads: one of its masters (any actor on their nodes). */
  private knows(from: Pid): boolean {
    return this.masters.some((m) => m.address === from.address) || from.address === this.current_.address;
  }

  /** A LeadingMaster from `from`: whether to follow it (and then it is the current master). */
  announced(from: Pid, leader: string, term: number): Announcement {
    if (!this.knows(from)) return { ignore: `${from.toString()} is not one of the masters` };
    const pid = Pid.tryParse(leader);
    if (!pid) return { ignore: leader === "" ? "it names no leader" : `'${leader}' is not a pid` };
    if (term < this.term_) return { ignore: `term ${term} is older than term ${this.term_}, which this agent follows` };
    this.term_ = term;
    if (pid.equals(this.current_)) return { follow: pid, changed: false };
    this.current_ = pid;
    const i = this.masters.findIndex((m) => m.equals(pid));
    if (i >= 0) this.index = i;
    return { follow: pid, changed: true };
  }
}
