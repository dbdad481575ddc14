/**
 * The agent's HTTP endpoint: the shared routes, its own /state (what it is and offers, and
 * the frameworks, executors and tasks it runs, in Mesos's key names), and the sandbox files (/files/browse, /files/read, /files/download)
 * restricted to the sandboxes under its work directory. /files/read takes `wait` (ms, up
 * to 30 s) beyond Mesos's parameters: at the end of the file it waits for the file to grow
 * (at most MAX_WAITING_READS such reads at once; the answer says `dcos-files-wait` when it did).
 */
import { create as contentDisposition } from "content-disposition";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { join } from "node:path";
import type { Agent } from "../actors/agent/agent.js";
import { createHttpServer, flagStrings, listen, type CommonHttpOptions, type RunningHttp } from "./http-server.js";
import { queryParam, sendError } from "../runtime/http-errors.js";
import { agentFrameworksJson } from "./agent-state-json.js";
import { attributesJson } from "./master-state-json.js";
import { reservedJson, resourcesJson } from "./resources-json.js";
import { MAX_READ_WAIT_MS, SandboxFiles, type SandboxCheck } from "./sandbox-files.js";
import { Code, DcosError } from "../runtime/error.js";
import { EVERY } from "../security/auth/acls.js";
import { httpCallerOf } from "../security/auth/http-guard.js";
import type { ServiceSecurity } from "../security/auth/service-security.js";

export interface AgentHttpOptions extends CommonHttpOptions {
  /** The agent, or how to find it when the endpoint starts first (its port goes in AgentInfo). */
  agent: Agent | (() => Agent | undefined);
  /** The agent's work directory; sandboxes are under `<workDir>/agents`. */
  workDir: string;
  /** host:port of the master, for /state's master_hostname. */
  master: string;
}

async function answer<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    return sendError(reply, err);
  }
}

/** Who may read which sandbox: the ACL access_sandboxes on the user of the sandbox's framework. */
export interface SandboxAccess {
  security: ServiceSecurity;
  /** The user of a framework the agent knows (undefined: unknown, e.g. long finished). */
  frameworkUser(frameworkId: string): string | undefined;
}

/**
 * The check of one request: a framework's sandbox needs access_sandboxes on its user; a
 * path above any framework's directory, or of a framework the agent no longer knows,
 * needs access_sandboxes on every user.
 */
function sandboxCheck(access: SandboxAccess | undefined, req: FastifyRequest): SandboxCheck | undefined {
  if (!access) return undefined;
  const caller = httpCallerOf(req);
  return (frameworkId, path) => {
    const user = frameworkId === undefined ? undefined : access.frameworkUser(frameworkId);
    const what = user === undefined ? `read '${path}' (sandboxes of every user)` : `read the sandbox of framework ${frameworkId} (user '${user}')`;
    access.security.authorizer.check(caller, "access_sandboxes", user ?? EVERY, what);
  };
}

/**
 * /files/browse, /files/read and /files/download over the sandboxes under
 * `<workDir>/agents`, each checked per sandbox when `access` is given.
 */
export function addSandboxFileRoutes(app: FastifyInstance, workDir: string, access?: SandboxAccess, maxWaitingReads = MAX_WAITING_READS): void {
  const files = new SandboxFiles(join(workDir, "agents"));
  // Reads waiting for their file to grow (`wait`): each holds a connection, a descriptor and a watch.
  const waiting = new Set<AbortController>();
  app.addHook("preClose", (done) => {
    for (const w of waiting) w.abort();
    done();
  });
  app.get("/files/browse", async (req, reply) => answer(reply, () => files.browse(queryParam(req.query, "path"), sandboxCheck(access, req))));
  app.get("/files/read", async (req, reply) =>
    answer(reply, async () => {
      const ms = waitParam(queryParam(req.query, "wait"));
      if (ms === 0 || waiting.size >= maxWaitingReads) {
        return files.read(queryParam(req.query, "path"), queryParam(req.query, "offset"), queryParam(req.query, "length"), sandboxCheck(access, req));
      }
      // The client may wait: it reads again at once instead of after its own poll interval.
      reply.header("dcos-files-wait", String(ms));
      const controller = new AbortController();
      const gone = (): void => controller.abort();
      reply.raw.once("close", gone);
      waiting.add(controller);
      try {
        return await files.read(queryParam(req.query, "path"), queryParam(req.query, "offset"), queryParam(req.query, "length"), sandboxCheck(access, req), { ms, signal: controller.signal });
      } finally {
        waiting.delete(controller);
        reply.raw.off("close", gone);
      }
    }),
  );
  app.get("/files/download", async (req, reply) =>
    answer(reply, async () => {
      const file = await files.download(queryParam(req.query, "path"), sandboxCheck(access, req));
      // Any file name (quotes, non-Latin-1): an ASCII fallback plus the RFC 8187 filename*.
      reply.header("content-disposition", contentDisposition(file.name));
      reply.header("content-length", file.size);
      return reply.type("application/octet-stream").send(file.stream);
    }),
  );
}

/** Most /files/read calls waiting at once on one agent; more are answered at once (without the dcos-files-wait header). */
export const MAX_WAITING_READS = 256;

/** `wait` of /files/read: ms, 0 (the default) to MAX_READ_WAIT_MS. */
function waitParam(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > MAX_READ_WAIT_MS) throw new DcosError(Code.INVALID_ARGUMENT, `'wait' must be a whole number of ms from 0 to ${MAX_READ_WAIT_MS}, not '${value.slice(0, 40)}'`);
  return n;
}

export async function startAgentHttp(o: AgentHttpOptions): Promise<RunningHttp> {
  const app = createHttpServer(o);
  const startedAt = Date.now() / 1000;
  const flags = flagStrings(o.flags);
  app.get("/state", async (_req, reply) => {
    const agent = typeof o.agent === "function" ? o.agent() : o.agent;
    if (!agent) return reply.code(503).send({ error: "UNAVAILABLE", message: "The agent is still starting" });
    const info = await agent.system.dispatch(agent, (a) => ({ info: a.agentInfo(), state: a.agentState, id: a.agentId, frameworks: agentFrameworksJson(a.frameworksView(), a.agentId) }));
    return {
      version: o.version,
      id: info.id,
      pid: agent.self.toString(),
      hostname: info.info.hostname,
      state: info.state,
      start_time: startedAt,
      master_hostname: o.master.split(":")[0],
      master: o.master,
      work_dir: o.workDir,
      resources: resourcesJson(info.info.resources),
      reserved_resources: reservedJson(info.info.resources),
      attributes: attributesJson(info.info.attributes),
      flags,
      ...info.frameworks,
    };
  });
  const agentOf = () => (typeof o.agent === "function" ? o.agent() : o.agent);
  addSandboxFileRoutes(app, o.workDir, o.security && { security: o.security, frameworkUser: (id) => agentOf()?.frameworksView().get(id)?.info.user });
  return listen(app, o.host, o.port);
}
