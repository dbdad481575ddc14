/**
 * The masters' FrameworkLogs state machine behind the LogStore interface, in memory, for
 * deterministic tests of the framework kit. `view()` gives one client's connection that a
 * test can cut (calls reject UNAVAILABLE) or pause (calls wait until resumed).
 */
import { create } from "@bufbuild/protobuf";
import { FrameworkLogCommandSchema, type LogRecord } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import type { LogStore } from "../../src/frameworks/common/log-store.js";
import { FrameworkLogs } from "../../src/raft/framework-logs.js";
import { Code, DcosError } from "../../src/runtime/error.js";

export class LocalLogs {
  readonly logs = new FrameworkLogs();
  appends = 0;

  view(): LocalLogView {
    return new LocalLogView(this);
  }
}

export class LocalLogView implements LogStore {
  cut = false;
  private paused: (() => void)[] | undefined;

  constructor(private readonly host: LocalLogs) {}

  pause(): void {
    this.paused ??= [];
  }

  resume(): void {
    const waiting = this.paused ?? [];
    this.paused = undefined;
    for (const w of waiting) w();
  }

  private async gate(): Promise<void> {
    await Promise.resolve();
    if (this.paused) await new Promise<void>((r) => this.paused!.push(r));
    if (this.cut) throw new DcosError(Code.UNAVAILABLE, "connection cut by the test");
  }

  private name(log: string) {
    return { principal: "test", name: log };
  }

  async append(log: string, entries: readonly Uint8Array[], expectedVersion?: number): Promise<number[]> {
    await this.gate();
    this.host.appends++;
    const r = this.host.logs.apply(
      create(FrameworkLogCommandSchema, {
        log: this.name(log),
        command: { case: "append", value: { entries: [...entries], expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion) } },
      }),
    );
    return r.positions.map(Number);
  }

  async read(log: string, from: number, to = 0): Promise<{ records: LogRecord[]; begin: number; end: number }> {
    await this.gate();
    return this.host.logs.read(this.name(log) as never, from, to);
  }

  async truncate(log: string, before: number, expectedVersion?: number): Promise<number> {
    await this.gate();
    const r = this.host.logs.apply(
      create(FrameworkLogCommandSchema, {
        log: this.name(log),
        command: { case: "truncate", value: { before: BigInt(before), expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion) } },
      }),
    );
    return Number(r.begin);
  }

  async getValue(log: string): Promise<{ value: Uint8Array; version: number }> {
    await this.gate();
    return this.host.logs.value(this.name(log) as never);
  }

  async compareAndSet(log: string, value: Uint8Array, expectedVersion: number): Promise<number> {
    await this.gate();
    const r = this.host.logs.apply(
      create(FrameworkLogCommandSchema, { log: this.name(log), command: { case: "compareAndSet", value: { value, expectedVersion: BigInt(expectedVersion) } } }),
    );
    return Number(r.version);
  }
}
