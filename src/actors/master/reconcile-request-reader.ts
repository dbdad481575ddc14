/**
 * The master's reader of a scheduler's ReconcileRequest (the gRPC service's decoder for
 * RECONCILE). After a failover at 50,000 agents the frameworks' calls name ~900,000 tasks
 * (3.6 per task: they ask again until they hear), and each named task decoded as three
 * messages and two strings (docs/scale.md, "Session 13"). A scheduler names its tasks with
 * their agents, and an agent's tasks usually together: here a task whose agent id is the
 * same bytes as the task before's shares that task's AgentID message (and string), instead
 * of a copy of its own. Everything else is what fromBinary gives: the same message, field for
 * field. The master only reads the request (reconciliation.ts), never changes or keeps it.
 *
 * Only the fields ReconcileRequest has, each as protobuf writes it (a singular field once),
 * are read this way; any other bytes (unknown fields, a field repeated or of another wire
 * type, a truncated one) are read by the schema's own reader, which keeps or refuses them
 * as it does for every message.
 */
import type { AgentID, FrameworkID, TaskID } from "../../gen/dcos/v1/common_pb.js";
import { ReconcileRequestSchema, type ReconcileRequest, type ReconcileRequest_Task } from "../../gen/dcos/v1/scheduler_pb.js";
import { WireInput } from "../../runtime/binary-reader.js";
import { protoDecoder } from "../../runtime/proto-codec.js";

/** Field 1 as a length-delimited value: the tag's byte. */
const FIELD_1 = (1 << 3) | 2;
const FIELD_2 = (2 << 3) | 2;
const FIELD_3 = (3 << 3) | 2;

/** An id message (FrameworkID, TaskID, AgentID: `string value = 1`) from its bytes, or undefined when it holds anything else. */
function readValue(input: WireInput, end: number): string | undefined {
  if (input.pos === end) return "";
  if (input.buf[input.pos] !== FIELD_1) return undefined;
  input.pos++;
  const value = input.string(end);
  return input.pos === end ? value : undefined;
}

/** The bytes [start, end) of buf equal those at [otherStart, otherStart + (end - start)). */
function sameBytes(buf: Uint8Array, start: number, end: number, otherStart: number): boolean {
  for (let i = start, j = otherStart; i < end; i++, j++) if (buf[i] !== buf[j]) return false;
  return true;
}

/** A task as fromBinary gives it (an absent id is no property), made whole at once in the usual case (both ids). */
function task(taskId: TaskID | undefined, agentId: AgentID | undefined): ReconcileRequest_Task {
  if (taskId && agentId) return { $typeName: "dcos.v1.ReconcileRequest.Task", taskId, agentId };
  const t: ReconcileRequest_Task = { $typeName: "dcos.v1.ReconcileRequest.Task" };
  if (taskId) t.taskId = taskId;
  if (agentId) t.agentId = agentId;
  return t;
}

function readLean(bytes: Uint8Array): ReconcileRequest | undefined {
  const input = new WireInput(bytes);
  const end = bytes.length;
  const request: ReconcileRequest = { $typeName: "dcos.v1.ReconcileRequest", streamId: "", tasks: [] };
  let seen = 0; // fields 1 and 2 read (bits)
  // The last AgentID read, and where its bytes are.
  let agent: AgentID | undefined;
  let agentStart = 0;
  let agentLength = -1;
  while (input.pos < end) {
    const tag = input.buf[input.pos++];
    if (tag === FIELD_3) {
      const taskEnd = input.delimitedEnd(end);
      let taskId: TaskID | undefined;
      let agentId: AgentID | undefined;
      if (input.pos < taskEnd && input.buf[input.pos] === FIELD_1) {
        input.pos++;
        const idEnd = input.delimitedEnd(taskEnd);
        const value = readValue(input, idEnd);
        if (value === undefined) return undefined;
        taskId = { $typeName: "dcos.v1.TaskID", value };
      }
      if (input.pos < taskEnd && input.buf[input.pos] === FIELD_2) {
        input.pos++;
        const idEnd = input.delimitedEnd(taskEnd);
        const start = input.pos;
        const length = idEnd - start;
        if (agent !== undefined && length === agentLength && sameBytes(bytes, start, idEnd, agentStart)) {
          input.pos = idEnd;
        } else {
          const value = readValue(input, idEnd);
          if (value === undefined) return undefined;
          agent = { $typeName: "dcos.v1.AgentID", value };
          agentStart = start;
          agentLength = length;
        }
        agentId = agent;
      }
      if (input.pos !== taskEnd) return undefined; // fields out of order, repeated or unknown
      request.tasks.push(task(taskId, agentId));
    } else if (tag === FIELD_1 && (seen & 1) === 0) {
      seen |= 1;
      const idEnd = input.delimitedEnd(end);
      const value = readValue(input, idEnd);
      if (value === undefined) return undefined;
      request.frameworkId = { $typeName: "dcos.v1.FrameworkID", value } satisfies FrameworkID;
    } else if (tag === FIELD_2 && (seen & 2) === 0) {
      seen |= 2;
      request.streamId = input.string(end);
    } else {
      return undefined;
    }
  }
  return request;
}

/** A decoder of ReconcileRequest for the scheduler service (see above). */
export function reconcileRequestReader(): (bytes: Uint8Array) => ReconcileRequest {
  const schemaReader = protoDecoder(ReconcileRequestSchema);
  return (bytes) => {
    let lean: ReconcileRequest | undefined;
    try {
      lean = readLean(bytes);
    } catch {
      lean = undefined; // truncated or malformed: the schema's reader says why
    }
    return lean ?? schemaReader(bytes);
  };
}
