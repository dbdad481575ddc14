import { Code, DcosError } from "../../runtime/error.js";

/** "Not the leader", with the leader's id in details.leader when known. */
export function notLeader(self: string, leader: string): DcosError {
  const known = leader === "" ? "the leader is not known" : `the leader is ${leader}`;
  return new DcosError(Code.UNAVAILABLE, `Not the leader: ${self} is not the leader, ${known}`, {
    details: leader === "" ? { reason: "not_leader" } : { reason: "not_leader", leader },
  });
}

export function isNotLeader(e: unknown): e is DcosError {
  return DcosError.is(e, Code.UNAVAILABLE) && e.details.reason === "not_leader";
}

export function transferInProgress(to: string): DcosError {
  return new DcosError(Code.UNAVAILABLE, `Leadership transfer to ${to} in progress: proposals are refused until it ends`, {
    details: { reason: "leader_transfer", transferee: to },
  });
}
