/**
 * Talking to the Docker engine through dockerode: turning its errors into precise
 * DcosErrors (engine down, image missing, pull failed) and making sure an image is there.
 */
import type Docker from "dockerode";
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

const SETUP_HINT = "install and start it with `sudo bash deploy/setup-host.sh` (Debian package docker.io)";

interface EngineErrorShape {
  code?: string;
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | null;
  message?: string;
}

/** The engine's own message for an API error, or the transport error's. */
export function engineMessage(err: unknown): string {
  const e = err as EngineErrorShape;
  const json = e?.json?.message;
  if (json) return json.trim();
  return String(e?.message ?? err).replace(/^\(HTTP code \d+\)\s*/, "").trim();
}

/** Whether the error says the engine could not be reached at all. */
export function isEngineDown(err: unknown): boolean {
  const code = (err as EngineErrorShape)?.code;
  return code === "ECONNREFUSED" || code === "ENOENT" || code === "EACCES" || code === "ECONNRESET" || code === "EPIPE";
}

export function isNotFound(err: unknown): boolean {
  return (err as EngineErrorShape)?.statusCode === 404;
}

/** An engine error as a DcosError whose message starts with what was being done. */
export function engineError(err: unknown, doing: string, socketPath: string): DcosError {
  if (err instanceof DcosError) return err;
  if (isEngineDown(err)) {
    return new DcosError(Code.UNAVAILABLE, `${doing} failed: the Docker engine is not reachable at ${socketPath} (${engineMessage(err)}); ${SETUP_HINT}`, { cause: err });
  }
  const status = (err as EngineErrorShape)?.statusCode;
  const code = status === 404 ? Code.NOT_FOUND : status === 409 ? Code.ALREADY_EXISTS : status === 400 ? Code.INVALID_ARGUMENT : Code.INTERNAL;
  return new DcosError(code, `${doing} failed: ${engineMessage(err)}`, { cause: err });
}

/** Pulls an image, failing with the first error the engine reports in the progress stream. */
async function pull(docker: Docker, image: string): Promise<void> {
  const stream = await docker.pull(image);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
      if (err) return reject(err);
      const failed = output.find((o) => o.error ?? o.errorDetail);
      if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
      resolve();
    });
  });
}

/**
 * Makes sure the image is present: used as is when it is there (unless forcePull), pulled
 * otherwise. A missing image that cannot be pulled is FAILED_PRECONDITION naming the image
 * and the pull's error; an unreachable engine is UNAVAILABLE.
 */
export async function ensureImage(docker: Docker, image: string, forcePull: boolean, socketPath: string, log: Logger): Promise<void> {
  const present = await docker
    .getImage(image)
    .inspect()
    .then(
      () => true,
      (err: unknown) => {
        if (isNotFound(err)) return false;
        throw engineError(err, `Inspecting image '${image}'`, socketPath);
      },
    );
  if (present && !forcePull) return;
  try {
    await pull(docker, image);
    log.info({ image }, `Pulled image ${image}`);
  } catch (err) {
    if (isEngineDown(err)) throw engineError(err, `Pulling image '${image}'`, socketPath);
    if (present) {
      log.warn({ image, err: engineMessage(err) }, `Could not pull image ${image}; using the local copy`);
      return;
    }
    throw new DcosError(Code.FAILED_PRECONDITION, `Image '${image}' is not present locally and pulling it failed: ${engineMessage(err)}`, { cause: err });
  }
}
