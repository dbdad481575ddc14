/**
 * The agent's `--attributes` flag: `rack:a;zone:1;slots:[1-4]`. Each entry is name:value;
 * a number is a scalar, `[a-b,…]` is ranges, anything else is text (as in Mesos).
 */
import { create } from "@bufbuild/protobuf";
import { AttributeSchema, Value_Type, type Attribute } from "../../gen/dcos/v1/common_pb.js";
import { Code, DcosError } from "../../runtime/error.js";

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const RANGES = /^\[\s*\d+\s*-\s*\d+\s*(,\s*\d+\s*-\s*\d+\s*)*\]$/;

export function parseAttributes(text: string): Attribute[] {
  const out: Attribute[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split(";").entries()) {
    const entry = raw.trim();
    if (entry === "") continue;
    const colon = entry.indexOf(":");
    const fail = (why: string): DcosError =>
      new DcosError(Code.INVALID_ARGUMENT, `Invalid --attributes "${text}": entry ${i + 1} '${entry}' ${why}`);
    if (colon <= 0) throw fail("is not name:value");
    const name = entry.slice(0, colon).trim();
    const value = entry.slice(colon + 1).trim();
    if (value === "") throw fail("has an empty value");
    if (seen.has(name)) throw fail(`repeats the attribute '${name}'`);
    seen.add(name);
    out.push(attribute(name, value));
  }
  return out;
}

function attribute(name: string, value: string): Attribute {
  if (NUMBER.test(value)) return create(AttributeSchema, { name, type: Value_Type.SCALAR, scalar: { value: Number(value) } });
  if (RANGES.test(value)) {
    const range = value
      .slice(1, -1)
      .split(",")
      .map((r) => r.split("-").map((n) => Number(n.trim())))
      .map(([begin, end]) => ({ begin: begin!, end: end! }));
    return create(AttributeSchema, { name, type: Value_Type.RANGES, ranges: { range } });
  }
  return create(AttributeSchema, { name, type: Value_Type.TEXT, text: { value } });
}
