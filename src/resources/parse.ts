/**
 * The agent's `--resources` flag: `cpus:4;mem:8192;ports:[31000-32000];cpus(ops):2`.
 * Entries are `name[(role)]:value` separated by ';'; a role in parentheses is a static
 * reservation ("*" means unreserved). A value is a number (scalar), a list of ranges
 * `[a-b,c-d]`, or a set `{x,y}`. Entries of the same kind add up. Errors are
 * INVALID_ARGUMENT and say which entry is wrong and why.
 */
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Interval } from "./ranges.js";
import { MAX_RANGE_VALUE, rangesResource, resourceProblem, scalarResource, setResource } from "./resource.js";
import { Resources } from "./resources.js";
import { DEFAULT_ROLE, roleProblem } from "./roles.js";

export interface ParseOptions {
  /** Role of entries without parentheses (default "*", unreserved). */
  defaultRole?: string;
  /** What the text is, for error messages (default "--resources"). */
  what?: string;
}

const ENTRY = /^([^():]+?)\s*(?:\(([^()]*)\))?\s*:\s*(.*)$/s;
const NUMBER = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const RANGE = /^(\d+)\s*-\s*(\d+)$/;

export function parseResources(text: string, options: ParseOptions = {}): Resources {
  const what = options.what ?? "--resources";
  const defaultRole = options.defaultRole ?? DEFAULT_ROLE;
  const roleIssue = roleProblem(defaultRole);
  if (roleIssue) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid default role '${defaultRole}' for ${what}: ${roleIssue}`);
  const out: Resource[] = [];
  const parts = text.split(";");
  parts.forEach((raw, i) => {
    const entry = raw.trim();
    if (entry.length === 0) {
      if (i === parts.length - 1 && i > 0) return; // a trailing ';' is harmless
      throw invalid(what, text, `entry ${i + 1} is empty`);
    }
    out.push(parseEntry(entry, defaultRole, (why) => invalid(what, text, `entry ${i + 1} '${entry}': ${why}`)));
  });
  return Resources.of(out);
}

function invalid(what: string, text: string, why: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, `Invalid ${what} "${text}": ${why}`);
}

function parseEntry(entry: string, defaultRole: string, fail: (why: string) => DcosError): Resource {
  const m = ENTRY.exec(entry);
  if (!m) {
    if (!entry.includes(":")) throw fail("expected 'name:value' or 'name(role):value'");
    throw fail("unbalanced or misplaced parentheses around the role");
  }
  const name = m[1]!.trim();
  const role = m[2] === undefined ? defaultRole : m[2].trim();
  const value = m[3]!.trim();
  if (m[2] !== undefined) {
    const problem = roleProblem(role);
    if (problem) throw fail(`role '${role}' is invalid: ${problem}`);
  }
  if (value.length === 0) throw fail("the value is missing");
  const resource = parseValue(name, value, role, fail);
  const problem = resourceProblem(resource);
  if (problem) throw fail(problem);
  return resource;
}

function parseValue(name: string, value: string, role: string, fail: (why: string) => DcosError): Resource {
  if (value.startsWith("[")) {
    if (!value.endsWith("]")) throw fail(`ranges '${value}' lack the closing ']'`);
    return rangesResource(name, parseRanges(value.slice(1, -1), fail), role);
  }
  if (value.startsWith("{")) {
    if (!value.endsWith("}")) throw fail(`set '${value}' lacks the closing '}'`);
    const items = value
      .slice(1, -1)
      .split(",")
      .map((s) => s.trim());
    if (items.some((s) => s.length === 0)) throw fail(`set '${value}' has an empty item`);
    return setResource(name, items, role);
  }
  if (!NUMBER.test(value)) throw fail(`value '${value}' is not a non-negative number, ranges [a-b,...] or a set {x,...}`);
  const n = Number(value);
  if (!Number.isFinite(n)) throw fail(`value '${value}' is too large`);
  return scalarResource(name, n, role);
}

function parseRanges(body: string, fail: (why: string) => DcosError): Interval[] {
  if (body.trim().length === 0) throw fail("the ranges '[]' are empty");
  return body.split(",").map((part) => {
    const m = RANGE.exec(part.trim());
    if (!m) throw fail(`range '${part.trim()}' is not 'begin-end' with non-negative integers`);
    const begin = Number(m[1]);
    const end = Number(m[2]);
    if (end > MAX_RANGE_VALUE) throw fail(`range '${part.trim()}' goes beyond ${MAX_RANGE_VALUE}`);
    if (begin > end) throw fail(`range '${part.trim()}' begins after it ends`);
    return { begin, end };
  });
}
