/** What `dcos-node quota` does (quota.ts parses the command line). */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "commander";
import { QuotaConfigSchema, type QuotaConfig } from "../gen/dcos/v1/cluster_pb.js";
import { Value_ScalarSchema } from "../gen/dcos/v1/common_pb.js";
import { parseResources } from "../resources/index.js";
import { operatorCall, type OperatorTarget } from "./operator-client.js";

function amounts(spec: string | undefined, flag: string): Record<string, { value: number }> {
  if (spec === undefined) return {};
  let parsed;
  try {
    parsed = parseResources(spec);
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`);
  }
  return Object.fromEntries(parsed.quantities().entries().map(([name, value]) => [name, create(Value_ScalarSchema, { value })]));
}

function describe(c: QuotaConfig): string {
  const text = (m: Record<string, { value: number }>) => Object.entries(m).map(([n, v]) => `${n}:${v.value}`).join(";") || "-";
  return `${c.role}\tguarantees ${text(c.guarantees)}\tlimits ${text(c.limits)}`;
}

export async function showQuota(target: OperatorTarget): Promise<void> {
  const r = await operatorCall(target, "getQuota", {});
  if (r.quotaConfigs.length === 0) console.log("No role has quota.");
  for (const c of r.quotaConfigs) console.log(describe(c));
}

export async function setQuota(target: OperatorTarget, role: string, guarantee: string | undefined, limit: string | undefined, force: boolean): Promise<void> {
  const config = create(QuotaConfigSchema, { role, guarantees: amounts(guarantee, "--guarantee"), limits: amounts(limit, "--limit") });
  await operatorCall(target, "updateQuota", { quotaConfigs: [config], force });
  console.log(`Quota of ${describe(config)}`);
}

export async function removeQuota(target: OperatorTarget, role: string): Promise<void> {
  await operatorCall(target, "updateQuota", { quotaConfigs: [create(QuotaConfigSchema, { role })] });
  console.log(`Removed the quota of ${role}`);
}
