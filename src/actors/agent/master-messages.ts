/**
 * The master's other messages to the agent: a framework's new FrameworkInfo, a framework
 * message for one of its executors, and the checkpointed resources (dynamic reservations
 * and persistent volumes) the agent must keep.
 */
import { create } from "@bufbuild/protobuf";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { ExecutorEventSchema } from "../../gen/dcos/v1/executor_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { Pid } from "../../runtime/pid.js";
import type { AgentContext } from "./agent-context.js";
import { checkpointResources as writeCheckpointedResources } from "./checkpointed-resources.js";

export function updateFramework(a: AgentContext, info: FrameworkInfo | undefined, from: Pid): void {
  if (!a.fromMaster(from, "framework update")) return;
  const fw = a.frameworks.get(info?.id?.value ?? "");
  if (!fw || !info) {
    a.drop("framework update", "the framework has nothing on this agent");
    return;
  }
  fw.info = info;
}

export function frameworkMessage(a: AgentContext, fwId: string, exId: string, data: Uint8Array, from: Pid): void {
  if (!a.fromMaster(from, "framework message")) return;
  const ex = a.frameworks.get(fwId)?.executors.get(exId);
  if (!ex?.link) {
    a.metrics.invalidFrameworkMessages.inc();
    a.drop(`framework message for executor ${exId}`, "that executor is not connected");
    return;
  }
  a.metrics.validFrameworkMessages.inc();
  ex.link.send(create(ExecutorEventSchema, { kind: { case: "message", value: { data } } }));
}

/** CheckpointResources from the master: write them, make or remove volume directories, update the total. */
export function checkpointResources(a: AgentContext, resources: Resource[], from: Pid): void {
  if (!a.fromMaster(from, "checkpointed resources")) return;
  const before = a.checkpointedResources;
  a.checkpointedResources = resources;
  a.info.resources = a.withCheckpointed(a.flagTotal);
  a.log.info({ resources: resources.length }, `Checkpointing ${resources.length} reserved resource(s) and volume(s)`);
  const write = a.disk.track(writeCheckpointedResources(a.fs, a.opts.workDir, before, resources));
  a.host.defer(write, () => undefined, (err) => a.log.error({ err }, `Failed to checkpoint resources: ${(err as Error).message}`));
}
