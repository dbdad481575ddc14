/**
 * The import rules of src/ (docs/architecture.md "Layers and allowed imports"), as
 * .dependency-cruiser.cjs states them: layers import only downward, the named sideways
 * imports are refused, and no cycle closes through a run-time import. Runs
 * dependency-cruiser over the TypeScript sources (no build output, no process); a failure
 * lists each offending import. `npm run lint:deps` prints the same report.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import type { ICruiseResult } from "dependency-cruiser";

/** The repository: dist/test/architecture/layers.test.js is three levels below it. */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");

/** dependency-cruiser, or a failure that says how to get it (a node_modules copied from before it was added lacks it). */
async function depcruise(): Promise<{ cruise: typeof import("dependency-cruiser").cruise; extract: typeof import("dependency-cruiser/config-utl/extract-depcruise-options").default }> {
  try {
    const [{ cruise }, { default: extract }] = await Promise.all([import("dependency-cruiser"), import("dependency-cruiser/config-utl/extract-depcruise-options")]);
    return { cruise, extract };
  } catch (err) {
    assert.fail(`dependency-cruiser (a devDependency) is not installed: run 'npm ci' (or 'npm install') in the checkout (${(err as Error).message})`);
  }
}

async function cruiseFrom(baseDir: string): Promise<ICruiseResult> {
  const { cruise, extract } = await depcruise();
  const options = await extract(CONFIG);
  const reported = await cruise(["src"], { ...options, baseDir, outputType: "json" });
  return (typeof reported.output === "string" ? JSON.parse(reported.output) : reported.output) as ICruiseResult;
}

function describeViolations(result: ICruiseResult, severity: "error" | "warn"): string[] {
  return result.summary.violations
    .filter((v) => v.rule.severity === severity)
    .map((v) => `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => (typeof c === "string" ? c : c.name)).join(" → ") : v.to}`);
}

describe("import layering (dependency-cruiser)", () => {
  it("src/ imports only downward, with no refused sideways import and no run-time cycle", async () => {
    const result = await cruiseFrom(ROOT);
    assert.ok(result.summary.totalCruised > 300, `cruised only ${result.summary.totalCruised} modules: the cruise did not see src/`);
    const errors = describeViolations(result, "error");
    assert.deepEqual(errors, [], `imports that break the layering (docs/architecture.md):\n${errors.join("\n")}`);
  });

  it("the rules refuse an upward import, a sideways one and a cycle (a small tree made for the check)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dcos-layers-"));
    try {
      const file = async (path: string, text: string) => {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), text);
      };
      await file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }));
      await file("src/raft/log.ts", 'import { driver } from "../actors/scheduler-driver/driver.js";\nexport const log = driver;\n');
      await file("src/actors/scheduler-driver/driver.ts", "export const driver = 1;\n");
      await file("src/operator/state.ts", 'import { page } from "../ui/page.js";\nexport const state = page;\n');
      await file("src/ui/page.ts", "export const page = 1;\n");
      await file("src/isolation/a.ts", 'import { b } from "./b.js";\nexport const a = () => b;\n');
      await file("src/isolation/b.ts", 'import { a } from "./a.js";\nexport const b = () => a;\n');
      await file("src/resources/c.ts", 'import type { D } from "./d.js";\nexport interface C { d?: D }\n');
      await file("src/resources/d.ts", 'import type { C } from "./c.js";\nexport interface D { c?: C }\n');
      const errors = (await cruiseFrom(dir)).summary.violations.filter((v) => v.rule.severity === "error");
      const names = new Set(errors.map((v) => v.rule.name));
      for (const rule of ["layer-raft-isolation-events-resources-security-protocol-imports-upward", "operator-ui-sideways", "no-circular"]) {
        assert.ok(names.has(rule), `rule ${rule} did not fire (fired: ${[...names].join(", ")})`);
      }
      assert.ok(
        errors.some((v) => v.rule.name === "no-circular" && v.from === "src/resources/c.ts"),
        `a cycle made only of \`import type\` is refused too (errors: ${errors.map((v) => `${v.rule.name} ${v.from}`).join(", ")})`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
