import { Code, DcosError } from "../runtime/error.js";

/** The role of unreserved resources and of frameworks that name none. */
export const DEFAULT_ROLE = "*";

const FORBIDDEN = /[\s\u0000-\u001f\u007f\\]/;

/**
 * Why a role name is invalid, or undefined if it is valid. Roles are paths of components
 * separated by '/' ("eng/backend"); "*" is the unreserved role and has no children.
 */
/** Longest role name accepted (roles reach every offer, /state and the registry). */
export const MAX_ROLE_LENGTH = 256;

export function roleProblem(role: string): string | undefined {
  if (role === DEFAULT_ROLE) return undefined;
  if (role.length === 0) return "it is empty";
  if (role.length > MAX_ROLE_LENGTH) return `it is ${role.length} characters long; at most ${MAX_ROLE_LENGTH}`;
  if (FORBIDDEN.test(role)) return "it contains whitespace, a control character or a backslash";
  if (role.startsWith("/") || role.endsWith("/")) return "it starts or ends with '/'";
  for (const part of role.split("/")) {
    if (part.length === 0) return "it contains an empty component ('//')";
    if (part === "." || part === "..") return `it contains the component '${part}'`;
    if (part.startsWith("-")) return `its component '${part}' starts with '-'`;
    if (part === DEFAULT_ROLE) return "'*' may not be a component of a nested role";
  }
  return undefined;
}

/** Throws INVALID_ARGUMENT naming the role and the problem. */
export function validateRole(role: string, what = "role"): void {
  const problem = roleProblem(role);
  if (problem) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${what} '${role}': ${problem}`);
}

/** "a/b/c" → ["a/b", "a"]: the roles whose reservations a role may use, nearest first. */
export function roleAncestors(role: string): string[] {
  const out: string[] = [];
  let i = role.lastIndexOf("/");
  while (i > 0) {
    role = role.slice(0, i);
    out.push(role);
    i = role.lastIndexOf("/");
  }
  return out;
}

/** Whether `role` is `ancestor` or nested anywhere below it. */
export function isRoleOrDescendant(role: string, ancestor: string): boolean {
  return role === ancestor || (role.length > ancestor.length && role.startsWith(ancestor) && role[ancestor.length] === "/");
}
