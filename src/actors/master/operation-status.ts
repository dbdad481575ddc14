/**
 * Operation status updates: a resource operation (RESERVE, UNRESERVE, CREATE, DESTROY) that
 * carries an id gets an UPDATE_OPERATION_STATUS event on its framework's stream, FINISHED
 * once the master applied it (the agent is told to checkpoint it in the same turn) or ERROR
 * with why it was refused. Operations without an id get none, as in Mesos.
 */
import { create } from "@bufbuild/protobuf";
import { OperationState, OperationStatusSchema, type Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import { ids, type MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";

export function reportOperation(core: MasterState, framework: FrameworkRecord, op: Offer_Operation, agentId: string | undefined, state: OperationState, message: string): void {
  if (!op.id) return;
  const status = create(OperationStatusSchema, { operationId: op.id, state, message, agentId: agentId ? ids.agent(agentId) : undefined });
  core.log.info({ framework: framework.id, operation: op.id, state: OperationState[state] }, `Operation ${op.id} of framework ${framework.id}: ${OperationState[state]}: ${message}`);
  core.emit(framework, { case: "updateOperationStatus", value: { $typeName: "dcos.v1.Event.UpdateOperationStatus", status } });
}
