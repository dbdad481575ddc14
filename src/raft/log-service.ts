import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import {
  AppendResponseSchema,
  CompareAndSetResponseSchema,
  FrameworkLogCommandSchema,
  GetValueResponseSchema,
  ReadResponseSchema,
  ReplicatedLogService,
  TruncateResponseSchema,
  type AppendRequest,
  type CompareAndSetRequest,
  type FrameworkLogCommand,
  type FrameworkLogResult,
  type GetValueRequest,
  type ReadRequest,
  type TruncateRequest,
  type LogName,
} from "../gen/dcos/v1/replicated_log_pb.js";
import type { Counter, Metrics } from "../metrics/metrics.js";
import { Code, DcosError, asDcosError } from "../runtime/error.js";
import { toStatus } from "../runtime/grpc/service.js";
import type { Caller } from "../security/auth/caller.js";
import { addGuardedService, callerOf } from "../security/auth/grpc-guard.js";
import { openSecurity, type ServiceSecurity } from "../security/auth/service-security.js";
import { silentLogger, type Logger } from "../runtime/log.js";
import { Pid } from "../runtime/pid.js";
import { checkLogName, logLabel, type FrameworkLogs } from "./framework-logs.js";

/** Where the frameworks' logs live: the masters' Raft group (proposals and ReadIndex reads). */
export interface FrameworkLogHost {
  /** Resolves with the result once the command is committed and applied. */
  propose(cmd: FrameworkLogCommand): Promise<FrameworkLogResult>;
  /** Runs fn on the logs at a linearizable point. */
  read<T>(fn: (logs: FrameworkLogs) => T): Promise<T>;
}

export interface ReplicatedLogServiceOptions {
  metrics?: Metrics;
  logger?: Logger;
  /** Records per Append (default 10,000). */
  maxEntries?: number;
  /** Who may call (default: anyone, permissive ACLs). */
  security?: ServiceSecurity;
}

type Handler<Req> = (req: Req) => Promise<unknown>;

/**
 * The log a request may reach: in the caller's own namespace (an empty principal is filled
 * with the authenticated one); another principal's only with the ACL access_replicated_logs;
 * an anonymous caller only in namespaces of principals without credentials.
 */
export function namespaced(security: ServiceSecurity, caller: Caller, name: LogName | undefined): LogName {
  const log = checkLogName(name);
  const owner = log.principal;
  if (caller.authenticated) {
    if (owner === "") return { ...log, principal: caller.principal };
    if (owner !== caller.principal && !security.authorizer.allows(caller, "access_replicated_logs", owner)) {
      throw security.authorizer.denied(
        "access_replicated_logs",
        `Not authorized: principal '${caller.principal}' may not use log ${logLabel(log)} in the namespace of principal '${owner}' (ACL access_replicated_logs)`,
      );
    }
    return log;
  }
  if (security.authenticator.isProtected(owner)) {
    throw new DcosError(Code.UNAUTHENTICATED, `Log ${logLabel(log)} is in the namespace of principal '${owner}': authenticate as it`);
  }
  return log;
}

/**
 * A not-leader error from Raft names the leader by its raft pid ("raft@host:port"); a
 * client reconnects to the master at host:port (the `dcos-leader` trailer).
 */
export function leaderAddressed(err: unknown): DcosError {
  const e = asDcosError(err, Code.INTERNAL);
  const leader = e.details["leader"];
  const pid = leader ? Pid.tryParse(leader) : undefined;
  if (e.code !== Code.UNAVAILABLE || !pid) return e;
  return new DcosError(e.code, e.message, { cause: err, details: { ...e.details, leader: pid.address } });
}

/**
 * dcos.v1.ReplicatedLogService on a master: every call goes through the masters' Raft
 * group. Writes are proposals; reads are linearizable (ReadIndex) on the leader. A standby
 * answers UNAVAILABLE with the leader's host:port in `dcos-leader`.
 */
export function addReplicatedLogService(server: grpc.Server, host: FrameworkLogHost, options: ReplicatedLogServiceOptions = {}): void {
  const log = (options.logger ?? silentLogger()).child({ component: "replicated-log-service" });
  const maxEntries = options.maxEntries ?? 10_000;
  const errors: Counter | undefined = options.metrics?.counter("replicated_log/errors");
  const calls: Counter | undefined = options.metrics?.counter("replicated_log/calls");

  const security = options.security ?? openSecurity(options.metrics);
  const propose = (cmd: Omit<FrameworkLogCommand, "$typeName" | "log"> & { log: FrameworkLogCommand["log"] }) =>
    host.propose(create(FrameworkLogCommandSchema, { log: checkLogName(cmd.log), command: cmd.command }));

  const unary = <Req extends { log?: LogName }, O extends DescMessage>(output: O, fn: Handler<Req>) =>
    ((call: grpc.ServerUnaryCall<Req, MessageShape<O>>, callback: grpc.sendUnaryData<MessageShape<O>>) => {
      calls?.inc();
      Promise.resolve()
        .then(() => fn({ ...call.request, log: namespaced(security, callerOf(call), call.request.log) }))
        .then(
          (fields) => callback(null, create(output, fields as never)),
          (err: unknown) => {
            errors?.inc();
            const e = leaderAddressed(err);
            log.debug({ code: Code[e.code], err: e.message }, "Replicated log call failed");
            callback(toStatus(e));
          },
        );
    }) as grpc.handleUnaryCall<Req, MessageShape<O>>;

  addGuardedService(server, ReplicatedLogService, {
    Append: unary(AppendResponseSchema, async (req: AppendRequest) => {
      if (req.entries.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "Append carries no entries");
      if (req.entries.length > maxEntries) {
        throw new DcosError(Code.INVALID_ARGUMENT, `Append carries ${req.entries.length} entries; at most ${maxEntries} per call`);
      }
      const r = await propose({ log: req.log, command: { case: "append", value: req } });
      return { positions: r.positions };
    }),
    Read: unary(ReadResponseSchema, async (req: ReadRequest) => {
      const name = checkLogName(req.log);
      const r = await host.read((logs) => logs.read(name, Number(req.from), Number(req.to)));
      return { records: r.records, begin: BigInt(r.begin), end: BigInt(r.end) };
    }),
    Truncate: unary(TruncateResponseSchema, async (req: TruncateRequest) => {
      const r = await propose({ log: req.log, command: { case: "truncate", value: req } });
      return { begin: r.begin };
    }),
    GetValue: unary(GetValueResponseSchema, async (req: GetValueRequest) => {
      const name = checkLogName(req.log);
      const v = await host.read((logs) => logs.value(name));
      return { value: v.value, version: BigInt(v.version) };
    }),
    CompareAndSet: unary(CompareAndSetResponseSchema, async (req: CompareAndSetRequest) => {
      const r = await propose({ log: req.log, command: { case: "compareAndSet", value: req } });
      return { version: r.version };
    }),
  }, { authenticator: security.authenticator, maxRequestBytes: security.maxRequestBytes, metrics: options.metrics });
}
