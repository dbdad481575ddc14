/**
 * The docker containerizer: a container is a Docker container run by the local engine
 * through dockerode. The image is used when present and pulled otherwise (or always, with
 * forcePull); `cpus` become CPU shares and `mem` a memory limit without swap; the sandbox
 * is bound at /mnt/dcos/sandbox (the working directory); volumes are binds; port mappings
 * publish the task's host ports (bridge networking). Docker's init (tini) is PID 1, so a
 * SIGTERM from `docker stop -t <grace>` reaches the command.
 *
 * The container's output is streamed from the engine into the sandbox's stdout and stderr
 * files; wait() resolves once the container has ended, its output is written and it is
 * removed. Every container carries labels (dcos.container_id, dcos.runtime_root = this
 * agent's owner string, task/framework/agent ids), so a restarted agent finds its
 * containers again by listing them; output written while the agent was away stays in
 * `docker logs` (streaming resumes from the recovery).
 *
 * Life of a container: LAUNCHING (image, create, start) → RUNNING → DESTROYING → TERMINATED.
 */
import Docker from "dockerode";
import { createWriteStream, type WriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, DcosError, asDcosError } from "../runtime/error.js";
import { Backoff } from "../runtime/backoff.js";
import { Random } from "../runtime/random.js";
import { silentLogger, type Logger } from "../runtime/log.js";
import { containerEnvironment, validateConfig, validateId } from "./container-config.js";
import type { ContainerConfig, ContainerId, ContainerState, Containerizer, RecoveryResult, ResourceUsage, Termination } from "./containerizer.js";
import { DEFAULT_DOCKER_SOCKET, engineError, engineMessage, ensureImage, isEngineDown, isNotFound } from "./docker-engine.js";
import { DOCKER_SANDBOX, LABELS, isDockerConfig, validateDockerSpec, type DockerContainerConfig } from "./docker-spec.js";
import { decodeShellStatus, describeExit } from "./launcher.js";
import { ContainerPhase, ContainerTable, containerNotFound } from "./container-table.js";
import { bootId, readStat } from "./proc.js";

export interface DockerContainerizerOptions {
  /**
   * Names this agent instance (its work dir is a good choice): every container gets it as
   * the dcos.runtime_root label and recovery only looks at containers carrying it.
   */
  owner: string;
  /** Default /var/run/docker.sock. */
  socketPath?: string;
  logger?: Logger;
  /** How long wait() waits for the output to be flushed after the container ended. Default 5 s. */
  logFlushTimeoutMs?: number;
}

/** ContainerState of a docker container: the engine's id and name ride along in the checkpoint. */
export interface DockerContainerState extends ContainerState {
  dockerId: string;
  dockerName: string;
}

class DockerContainer {
  phase = ContainerPhase.LAUNCHING;
  destroyRequested = false;
  destroying?: Promise<Termination>;
  termination?: Promise<Termination>;
  handle?: Docker.Container;
  logs?: NodeJS.ReadableStream;
  launched: Promise<void> = Promise.resolve();
  memLimitMb?: number;
  constructor(public state: DockerContainerState) {}
}

export function dockerName(id: ContainerId): string {
  return `dcos-${id}`;
}

const NEVER = new Promise<Termination>(() => undefined);

export class DockerContainerizer implements Containerizer {
  readonly kind = "docker";
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly table = new ContainerTable<DockerContainer>();
  private readonly log: Logger;
  private detached = false;

  constructor(private readonly options: DockerContainerizerOptions) {
    this.socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.docker = new Docker({ socketPath: this.socketPath });
    this.log = (options.logger ?? silentLogger()).child({ component: "docker-containerizer" });
  }

  /** Resolves when the engine answers a ping; UNAVAILABLE with how to install it otherwise. */
  async ping(): Promise<void> {
    await this.docker.ping().catch((e: unknown) => {
      throw engineError(e, "Pinging the Docker engine", this.socketPath);
    });
  }

  // ---- launch ------------------------------------------------------------------------

  async launch(config: ContainerConfig): Promise<ContainerState> {
    validateConfig(config);
    if (!isDockerConfig(config)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid container config for '${config.id}': the docker containerizer needs a docker image`);
    validateDockerSpec(config);
    if (this.detached) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot launch container '${config.id}': the containerizer is detached`);
    const c = new DockerContainer({
      id: config.id,
      containerizer: this.kind,
      isolators: [],
      pid: 0,
      startTime: 0,
      bootId: bootId(),
      sandbox: config.sandbox,
      runtimeDir: "",
      dockerId: "",
      dockerName: dockerName(config.id),
      ...(config.resources?.ports?.length ? { ports: [...config.resources.ports] } : {}),
    });
    c.memLimitMb = config.resources?.memMb;
    this.table.reserve(c);
    let done!: () => void;
    c.launched = new Promise<void>((r) => (done = r));
    try {
      await this.start(c, config);
    } catch (e) {
      this.table.release(config.id);
      if (c.handle) await c.handle.remove({ force: true }).catch(() => undefined);
      throw asDcosError(e, Code.INTERNAL, `Launching docker container '${config.id}' failed`);
    } finally {
      done();
    }
    this.log.info({ container: config.id, docker: c.state.dockerId.slice(0, 12), image: config.docker.image }, "Docker container launched");
    return { ...c.state };
  }

  private async start(c: DockerContainer, config: DockerContainerConfig): Promise<void> {
    const sandboxStat = await stat(config.sandbox).catch(() => undefined);
    if (!sandboxStat?.isDirectory()) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid container config for '${config.id}': sandbox ${config.sandbox} is not an existing directory`);
    }
    if (config.docker.forcePull) await ensureImage(this.docker, config.docker.image, true, this.socketPath, this.log);
    const doing = `Starting docker container ${c.state.dockerName} (image '${config.docker.image}')`;
    c.handle = await this.create(this.createOptions(config, c.state.dockerName), doing);
    try {
      await c.handle.start();
      const info = await c.handle.inspect();
      c.state.dockerId = info.Id;
      c.state.pid = info.State.Pid;
      c.state.startTime = info.State.Pid > 0 ? ((await readStat(info.State.Pid))?.startTime ?? 0) : 0;
    } catch (e) {
      throw engineError(e, doing, this.socketPath);
    }
    this.table.transition(c, ContainerPhase.RUNNING);
    c.termination = this.watch(c, 0);
  }

  /**
   * Creates the container in one engine round trip when the image is there and the name is
   * free (the usual case), like `docker run`: a missing image is pulled (ensureImage) and a
   * container left with our name by a launch that died half way (it never ran a task we
   * know) is removed, each only when the engine says so, then the create is tried again.
   */
  private async create(options: Docker.ContainerCreateOptions & { name: string; Image: string }, doing: string): Promise<Docker.Container> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.docker.createContainer(options);
      } catch (e) {
        if (attempt < 2 && isNotFound(e) && /no such image/i.test(engineMessage(e))) {
          await ensureImage(this.docker, options.Image, false, this.socketPath, this.log);
          continue;
        }
        if (attempt < 2 && (e as { statusCode?: number }).statusCode === 409) {
          await this.docker
            .getContainer(options.name)
            .remove({ force: true })
            .catch((e2: unknown) => {
              if (!isNotFound(e2)) throw engineError(e2, doing, this.socketPath);
            });
          continue;
        }
        throw engineError(e, doing, this.socketPath);
      }
    }
  }

  private createOptions(config: DockerContainerConfig, name: string): Docker.ContainerCreateOptions & { name: string; Image: string } {
    const { docker } = config;
    const env = { ...containerEnvironment(config), DCOS_SANDBOX: DOCKER_SANDBOX };
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const m of docker.portMappings) {
      const key = `${m.containerPort}/${m.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: "", HostPort: String(m.hostPort) });
    }
    const r = config.resources ?? {};
    const memory = r.memMb ? Math.round(r.memMb * 1024 * 1024) : undefined;
    return {
      name,
      Image: docker.image,
      // No command: the image's own entrypoint and CMD.
      ...(typeof config.command === "string" ? { Cmd: ["/bin/sh", "-c", config.command] } : config.command.length > 0 ? { Cmd: [...config.command] } : {}),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: DOCKER_SANDBOX,
      Labels: {
        ...docker.labels,
        [LABELS.managed]: "true",
        [LABELS.runtimeRoot]: this.options.owner,
        [LABELS.containerId]: config.id,
        [LABELS.sandbox]: config.sandbox,
      },
      ExposedPorts: exposed,
      HostConfig: {
        Binds: [`${config.sandbox}:${DOCKER_SANDBOX}:rw`, ...docker.binds.map((b) => `${b.hostPath}:${b.containerPath}:${b.readOnly ? "ro" : "rw"}`)],
        NetworkMode: docker.network,
        PortBindings: bindings,
        Privileged: docker.privileged,
        Init: true,
        ...(r.cpus ? { CpuShares: Math.max(2, Math.round(r.cpus * 1024)) } : {}),
        ...(memory ? { Memory: memory, MemorySwap: memory } : {}),
      },
    };
  }

  // ---- watching a container to its end ------------------------------------------------

  /** Streams the output, waits for the exit, removes the container; the Termination. */
  private async watch(c: DockerContainer, sinceSeconds: number): Promise<Termination> {
    const handle = c.handle!;
    const output = this.streamLogs(c, handle, sinceSeconds).catch((e: unknown) =>
      this.log.warn({ err: e, container: c.state.id }, "Could not stream the container's output into its sandbox"),
    );
    const exit = await this.exitStatus(c, handle);
    if (this.detached) return NEVER;
    let flushTimer: NodeJS.Timeout | undefined;
    const flushed = new Promise<void>((r) => (flushTimer = setTimeout(r, this.options.logFlushTimeoutMs ?? 5000)));
    await Promise.race([output, flushed]);
    clearTimeout(flushTimer);
    const info = await handle.inspect().catch(() => undefined);
    await handle.remove({ force: true }).catch((e: unknown) => {
      if (!isNotFound(e)) this.log.warn({ err: e, container: c.state.id }, "Could not remove an ended docker container");
    });
    if (this.detached) return NEVER;
    const termination = this.termination(c, exit, info?.State?.OOMKilled === true);
    this.table.transition(c, ContainerPhase.TERMINATED);
    this.table.end(c.state.id, termination);
    this.log.info({ container: c.state.id, termination }, "Docker container terminated");
    return termination;
  }

  /** The container's exit status (Docker's StatusCode), waiting across engine hiccups. */
  private async exitStatus(c: DockerContainer, handle: Docker.Container): Promise<number | undefined> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000 }, Random.fromOs());
    for (;;) {
      try {
        const r = (await handle.wait()) as { StatusCode: number };
        return r.StatusCode;
      } catch (e) {
        if (this.detached) return undefined;
        if (isNotFound(e)) return undefined;
        const delay = backoff.next();
        this.log.warn({ err: e, container: c.state.id, retryMs: delay }, isEngineDown(e) ? "Docker engine unreachable while waiting for a container" : "Waiting for a docker container failed");
        await sleep(delay);
      }
    }
  }

  private async streamLogs(c: DockerContainer, handle: Docker.Container, sinceSeconds: number): Promise<void> {
    const stream = await handle.logs({ follow: true, stdout: true, stderr: true, since: sinceSeconds });
    c.logs = stream;
    const out = createWriteStream(`${c.state.sandbox}/stdout`, { flags: "a" });
    const err = createWriteStream(`${c.state.sandbox}/stderr`, { flags: "a" });
    this.docker.modem.demuxStream(stream, out, err);
    await new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
      stream.once("error", resolve);
    });
    await Promise.all([endStream(out), endStream(err)]);
  }

  private termination(c: DockerContainer, statusCode: number | undefined, oomKilled: boolean): Termination {
    const status = statusCode === undefined ? undefined : decodeShellStatus(statusCode);
    const base = { containerId: c.state.id, exitCode: status?.exitCode ?? null, signal: status?.signal ?? null };
    if (oomKilled) {
      return { ...base, reason: "memory limit", message: `Memory limit of ${c.memLimitMb ?? "?"} MiB exceeded: the kernel killed the container` };
    }
    if (c.destroyRequested) return { ...base, reason: "destroyed", message: `Container destroyed: ${status ? describeExit(status) : "status unknown"}` };
    if (!status) return { ...base, reason: "status unknown", message: "Docker container disappeared without an exit status" };
    return { ...base, message: describeExit(status) };
  }

  // ---- wait, destroy, usage ----------------------------------------------------------

  /** The termination of an ended container, or the live one; NOT_FOUND otherwise. */
  private known(id: ContainerId): Termination | DockerContainer {
    const found = this.table.termination(id) ?? this.table.get(id);
    if (!found) throw containerNotFound(id);
    return found;
  }

  async wait(id: ContainerId): Promise<Termination> {
    const c = this.known(id);
    if (!(c instanceof DockerContainer)) return c;
    await c.launched;
    return this.table.termination(id) ?? c.termination ?? Promise.reject(containerNotFound(id));
  }

  /** `docker stop -t <grace seconds>` (SIGTERM, SIGKILL after the grace period). Idempotent. */
  async destroy(id: ContainerId, gracePeriodMs: number): Promise<Termination> {
    const c = this.known(id);
    if (!(c instanceof DockerContainer)) return c;
    if (!(Number.isFinite(gracePeriodMs) && gracePeriodMs >= 0)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid grace period ${gracePeriodMs} for container '${id}': a non-negative number of milliseconds`);
    }
    return (c.destroying ??= this.stop(c, gracePeriodMs));
  }

  private async stop(c: DockerContainer, gracePeriodMs: number): Promise<Termination> {
    await c.launched;
    if (!this.table.has(c.state.id) || c.phase === ContainerPhase.TERMINATED) return this.wait(c.state.id);
    c.destroyRequested = true;
    this.table.transition(c, ContainerPhase.DESTROYING);
    await c.handle!.stop({ t: Math.ceil(gracePeriodMs / 1000) }).catch((e: unknown) => {
      const status = (e as { statusCode?: number }).statusCode;
      if (status !== 304 && status !== 404) this.log.error({ err: e, container: c.state.id }, "docker stop failed");
    });
    return c.termination!;
  }

  async usage(id: ContainerId): Promise<ResourceUsage> {
    const c = this.table.get(id);
    if (!c || c.phase === ContainerPhase.TERMINATED || !c.handle) throw containerNotFound(id);
    const s = (await c.handle.stats({ stream: false }).catch((e: unknown) => {
      throw engineError(e, `Reading the usage of container '${id}'`, this.socketPath);
    })) as unknown as DockerStats;
    const cpu = s.cpu_stats?.cpu_usage ?? {};
    return {
      containerId: id,
      timestamp: Date.now(),
      cpuUserSeconds: (cpu.usage_in_usermode ?? 0) / 1e9,
      cpuSystemSeconds: (cpu.usage_in_kernelmode ?? 0) / 1e9,
      memRssBytes: s.memory_stats?.stats?.rss ?? s.memory_stats?.usage ?? 0,
      ...(s.memory_stats?.limit ? { memLimitBytes: s.memory_stats.limit } : {}),
      processes: s.pids_stats?.current ?? 0,
      threads: s.pids_stats?.current ?? 0,
      ...(s.cpu_stats?.throttling_data?.throttled_time ? { cpuThrottledSeconds: s.cpu_stats.throttling_data.throttled_time / 1e9 } : {}),
    };
  }

  containers(): ContainerId[] {
    return this.table.ids();
  }

  state(id: ContainerId): ContainerState | undefined {
    const c = this.table.get(id);
    return c && c.phase !== ContainerPhase.LAUNCHING ? { ...c.state } : undefined;
  }

  // ---- recovery and detach -----------------------------------------------------------

  async recover(states: readonly ContainerState[]): Promise<RecoveryResult> {
    let listed: Docker.ContainerInfo[];
    try {
      listed = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.runtimeRoot}=${this.options.owner}`] } });
    } catch (e) {
      throw engineError(e, "Listing docker containers to recover", this.socketPath);
    }
    const byId = new Map(listed.map((info) => [info.Labels[LABELS.containerId] ?? "", info]));
    const since = Math.floor(Date.now() / 1000);
    const recovered: ContainerId[] = [];
    for (const s of states) {
      if (s.containerizer !== this.kind || this.table.has(s.id)) continue;
      const info = byId.get(s.id);
      byId.delete(s.id);
      if (info) this.adopt({ ...(s as DockerContainerState), dockerId: info.Id, dockerName: dockerName(s.id) }, since);
      else this.table.recordEnded({ containerId: s.id, exitCode: null, signal: null, reason: "status unknown", message: `Docker container ${dockerName(s.id)} was not found after the agent restarted` });
      recovered.push(s.id);
    }
    const orphans: ContainerId[] = [];
    for (const [id, info] of byId) {
      try {
        validateId("container id", id);
      } catch {
        continue;
      }
      const sandbox = info.Labels[LABELS.sandbox] ?? "";
      this.adopt(
        { id, containerizer: this.kind, isolators: [], pid: 0, startTime: 0, bootId: bootId(), sandbox, runtimeDir: "", dockerId: info.Id, dockerName: dockerName(id) },
        since,
      );
      orphans.push(id);
    }
    this.log.info({ recovered, orphans }, "Docker containers recovered");
    return { recovered, orphans };
  }

  private adopt(state: DockerContainerState, sinceSeconds: number): void {
    validateId("container id", state.id);
    const c = new DockerContainer(state);
    c.handle = this.docker.getContainer(state.dockerId);
    this.table.adopt(c);
    this.table.transition(c, ContainerPhase.RUNNING);
    c.termination = this.watch(c, sinceSeconds);
  }

  /** Stops watching (log streams closed); the containers keep running. */
  detach(): void {
    this.detached = true;
    const ids = this.containers();
    for (const c of this.table.values()) (c.logs as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    this.table.clear();
    this.log.info({ containers: ids }, "Docker containerizer detached; containers keep running");
  }


}

interface DockerStats {
  cpu_stats?: { cpu_usage?: { usage_in_usermode?: number; usage_in_kernelmode?: number }; throttling_data?: { throttled_time?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: { rss?: number } };
  pids_stats?: { current?: number };
}

async function endStream(s: WriteStream): Promise<void> {
  s.end();
  await finished(s).catch(() => undefined);
}
