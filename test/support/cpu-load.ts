/**
 * A bounded CPU load generator for chaos tests: `workers` processes that spin (each also
 * ends itself after `maxMs`, so a test that dies leaves nothing running), at the default
 * priority so they compete with the cluster's processes as a busy neighbour would.
 */
import { spawn, type ChildProcess } from "node:child_process";

export class CpuLoad {
  private readonly children: ChildProcess[] = [];

  private constructor() {}

  static start(workers: number, maxMs: number): CpuLoad {
    if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw new Error(`CpuLoad: workers must be a whole number in 0..64, not ${workers}`);
    const load = new CpuLoad();
    const spin = `const end = Date.now() + ${Math.max(0, Math.floor(maxMs))}; while (Date.now() < end) { for (let i = 0; i < 1e6; i++); }`;
    for (let i = 0; i < workers; i++) load.children.push(spawn(process.execPath, ["-e", spin], { stdio: "ignore" }));
    return load;
  }

  get workers(): number {
    return this.children.length;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGKILL");
          }),
      ),
    );
  }
}
