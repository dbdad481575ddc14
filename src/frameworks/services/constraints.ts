/**
 * Marathon placement constraints: [field, operator, value?] with field "hostname" /
 * "@hostname", "@region" / "@zone" (the agent attributes `region` / `zone`) or any agent
 * attribute; operators UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS.
 */
import type { Constraint } from "./app-definition.js";

export interface Placement {
  hostname: string;
  attributes: Readonly<Record<string, string>>;
}

export function fieldValue(p: Placement, field: string): string | undefined {
  if (field === "hostname" || field === "@hostname") return p.hostname;
  if (field === "@region") return p.attributes["region"];
  if (field === "@zone") return p.attributes["zone"];
  return p.attributes[field];
}

/**
 * The first constraint an instance on `agent` would violate given the app's other live
 * instances `placed`, or undefined when all hold.
 */
export function violatedConstraint(constraints: readonly Constraint[], agent: Placement, placed: readonly Placement[]): Constraint | undefined {
  for (const c of constraints) if (!holds(c, agent, placed)) return c;
  return undefined;
}

function holds([field, op, value]: Constraint, agent: Placement, placed: readonly Placement[]): boolean {
  const mine = fieldValue(agent, field);
  const count = (v: string | undefined) => placed.filter((p) => fieldValue(p, field) === v).length;
  switch (op) {
    case "UNIQUE":
      return mine !== undefined && count(mine) === 0;
    case "CLUSTER": {
      if (mine === undefined) return false;
      if (value) return mine === value;
      const first = placed.map((p) => fieldValue(p, field)).find((v) => v !== undefined);
      return first === undefined || first === mine;
    }
    case "IS":
      return mine === value;
    case "LIKE":
      return mine !== undefined && new RegExp(`^(?:${value})$`).test(mine);
    case "UNLIKE":
      return mine === undefined || !new RegExp(`^(?:${value})$`).test(mine);
    case "MAX_PER":
      return mine !== undefined && count(mine) < Number(value);
    case "GROUP_BY": {
      if (mine === undefined) return false;
      const counts = new Map<string, number>();
      for (const p of placed) {
        const v = fieldValue(p, field);
        if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const groups = value ? Number(value) : 0;
      // Until every expected group has an instance, only an empty group may take the next.
      if (groups > 0 && counts.size < groups) return !counts.has(mine);
      const min = Math.min(...counts.values(), counts.has(mine) ? Infinity : 0);
      return (counts.get(mine) ?? 0) <= min;
    }
    default:
      return false;
  }
}

export function describeConstraint(c: Constraint): string {
  return JSON.stringify(c.filter((x) => x !== undefined));
}
