/**
 * How many tasks an encoded AcceptRequest launches, read from its bytes without decoding it.
 *
 * Admission control (launch-admission.ts) refuses a launch while the leader is behind. A
 * refused ACCEPT was decoded first (ten TaskInfos are some 600 message objects): at 20,000
 * agents × 200 frameworks more than half of the ACCEPTs reaching a saturated leader were
 * refused and retried, so decoding what it then refused was a growing share of its work,
 * the more so the further behind it fell. The public SchedulerService asks admission with
 * this count before it decodes (a request gate, runtime/grpc/service.ts); the exact count of
 * the decoded request is checked again when the call is admitted.
 *
 * The walk only follows the length-delimited fields on the way to the tasks and skips
 * everything else:
 *
 *   AcceptRequest.operations (4) → Offer.Operation.launch (2) → Launch.task_infos (1)
 *                                → Offer.Operation.launch_group (3) → LaunchGroup.task_group (2) → TaskGroupInfo.tasks (1)
 *
 * An operation carrying both (a oneof set twice on the wire: the last wins when decoded)
 * counts both, so the count is never below the decoded one. Bytes that are not a well-formed
 * message give undefined: the decoder says what is wrong with them.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

const ACCEPT_OPERATIONS = 4;
const OPERATION_LAUNCH = 2;
const OPERATION_LAUNCH_GROUP = 3;
const LAUNCH_TASK_INFOS = 1;
const LAUNCH_GROUP_TASK_GROUP = 2;
const TASK_GROUP_TASKS = 1;

/** The occurrences of field `fieldNo` (length-delimited) in a message's bytes, each handed to `each` (its count summed), or counted as 1. */
function sumField(bytes: Uint8Array, fieldNo: number, each?: (inner: Uint8Array) => number): number {
  const reader = new BinaryReader(bytes);
  let n = 0;
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === fieldNo && wireType === WireType.LengthDelimited) {
      const inner = reader.bytes();
      n += each ? each(inner) : 1;
    } else {
      reader.skip(wireType, no);
    }
  }
  return n;
}

const tasksOfGroup = (group: Uint8Array): number => sumField(group, TASK_GROUP_TASKS);
const tasksOfLaunchGroup = (launchGroup: Uint8Array): number => sumField(launchGroup, LAUNCH_GROUP_TASK_GROUP, tasksOfGroup);
const tasksOfLaunch = (launch: Uint8Array): number => sumField(launch, LAUNCH_TASK_INFOS);
const tasksOfOperation = (op: Uint8Array): number => sumField(op, OPERATION_LAUNCH, tasksOfLaunch) + sumField(op, OPERATION_LAUNCH_GROUP, tasksOfLaunchGroup);

/** The tasks (LAUNCH and LAUNCH_GROUP) an encoded AcceptRequest launches; undefined if the bytes are not a well-formed message. */
export function launchedTasksInWire(accept: Uint8Array): number | undefined {
  try {
    return sumField(accept, ACCEPT_OPERATIONS, tasksOfOperation);
  } catch {
    return undefined;
  }
}
