/**
 * `npm run bench -- accept-refusal [-- --tasks=10 --calls=2000 --rounds=7]`: what the leader
 * spends on an ACCEPT it refuses as busy (admission control), per call: decoding it first
 * (before session 8: the public service decoded every request, then the facade counted its
 * tasks and refused) against counting its tasks from the bytes (`accept-wire.ts`, the
 * SchedulerService's request gate). The request is the scale harness's fill launch: one
 * LAUNCH of `--tasks` command tasks on one offer, as the scheduler driver encodes it.
 * Figures: µs per call, median over rounds, and the ratio. gRPC's own per-call cost (the
 * HTTP/2 stream, headers and the status) is paid either way and is not in these figures.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { loadavg } from "node:os";
import { launchedTasksInWire } from "../../../src/actors/master/accept-wire.js";
import { commandTask, pickResources, refuseFor } from "../../../src/actors/scheduler-driver/builders.js";
import { OfferSchema } from "../../../src/gen/dcos/v1/offers_pb.js";
import { AcceptRequestSchema } from "../../../src/gen/dcos/v1/scheduler_pb.js";
import { parseResources } from "../../../src/resources/index.js";
import { median, type Reporter } from "../report.js";
import { DURATION_LABEL } from "../sim-agent.js";

export async function run(report: Reporter, args: string[]): Promise<void> {
  const get = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
  const tasks = get("tasks", 10);
  const calls = get("calls", 2000);
  const rounds = get("rounds", 7);
  const offer = create(OfferSchema, {
    id: { value: "5f0c7a52-0d5e-4d0c-9a57-3c1b9b1f0a11-O123456" },
    frameworkId: { value: "5f0c7a52-0d5e-4d0c-9a57-3c1b9b1f0a11-0042" },
    agentId: { value: "5f0c7a52-0d5e-4d0c-9a57-3c1b9b1f0a11-S31337" },
    hostname: "agent-31337",
    resources: parseResources("cpus:8;mem:16384;disk:100000").toProto(),
  });
  const resources = pickResources(offer, { cpus: 0.1, mem: 32 })!;
  const request = create(AcceptRequestSchema, {
    frameworkId: offer.frameworkId,
    streamId: "7d9a1c2e-3b4f-4a5b-8c6d-7e8f9a0b1c2d",
    offerIds: [offer.id!],
    operations: [
      {
        kind: {
          case: "launch",
          value: {
            taskInfos: Array.from({ length: tasks }, (_, i) =>
              commandTask({ command: "sleep 600", offer, resources, name: `scale-42-long-${i}`, taskId: `scale-42-long-${i}`, labels: { [DURATION_LABEL]: "0" } }),
            ),
          },
        },
      },
    ],
    filters: refuseFor(0),
  });
  const bytes = toBinary(AcceptRequestSchema, request);
  if (launchedTasksInWire(bytes) !== tasks) throw new Error(`the wire count is ${launchedTasksInWire(bytes)}, not ${tasks}`);
  const perCall = (fn: () => unknown): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    return Number(process.hrtime.bigint() - started) / 1000 / calls;
  };
  const decode: number[] = [];
  const scan: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const d = perCall(() => fromBinary(AcceptRequestSchema, bytes));
    const s = perCall(() => launchedTasksInWire(bytes));
    // The first round warms the JIT up.
    if (r === 0) continue;
    decode.push(d);
    scan.push(s);
  }
  const extra = { tasks, bytes: bytes.length, calls, rounds, load1: Math.round(loadavg()[0]! * 10) / 10 };
  report.figure("refused_accept_decoded_us", median(decode), "us", "lower", { ...extra, note: "fromBinary of the whole request: what a refusal cost before" });
  report.figure("refused_accept_counted_us", median(scan), "us", "lower", { ...extra, note: "launchedTasksInWire: the tasks counted from the bytes" });
  report.figure("refused_accept_counted_vs_decoded", median(scan) / median(decode), "ratio", "lower", extra);
}
