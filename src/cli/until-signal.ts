import type { Logger } from "../runtime/log.js";

/** Starts something, then stops it cleanly on SIGINT/SIGTERM. */
export async function runUntilSignal(logger: Logger, start: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
  const running = await start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info(`Received ${signal}, stopping`);
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      resolve();
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  });
  await running.stop();
}
