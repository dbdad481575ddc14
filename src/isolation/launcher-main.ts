/**
 * The warm launcher's program (launcher-server.ts): `node launcher.cjs <socket path>
 * <recovery timeout ms>`. The agent starts it detached, its output appended to
 * `launcher.log` next to the socket. One JSON line per event on stderr.
 */
import { LauncherServer } from "./launcher-server.js";

const [socketPath, timeout] = process.argv.slice(2);
const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), pid: process.pid, msg, ...fields }) + "\n");
};
const recoveryTimeoutMs = Number(timeout);
if (!socketPath || !socketPath.startsWith("/") || !Number.isInteger(recoveryTimeoutMs) || recoveryTimeoutMs < 0) {
  log("Usage: launcher <absolute socket path> <recovery timeout in ms>", { argv: process.argv.slice(2) });
  process.exit(2);
}
// Nothing may end the launcher while it supervises containers: a bug is logged, not fatal.
process.on("uncaughtException", (e) => log("Uncaught exception", { err: e.stack ?? String(e) }));
process.on("unhandledRejection", (e) => log("Unhandled rejection", { err: String(e) }));
// The agent's group or terminal going away is not a reason to leave the containers.
process.on("SIGHUP", () => undefined);
process.on("SIGPIPE", () => undefined);
const server = new LauncherServer({ socketPath, recoveryTimeoutMs, log });
server.listen().then(
  () => log("Launcher listening", { socket: socketPath, recoveryTimeoutMs }),
  (e: Error) => {
    log("Launcher could not listen", { socket: socketPath, err: e.message });
    process.exit(1);
  },
);
