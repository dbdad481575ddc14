/**
 * Secret environment variables (Mesos's `Environment.Variable{type: SECRET, secret}`) on
 * the agent. A secret is inline (`Secret.value.data`) or a reference (`Secret.reference`:
 * a file of the agent's secrets directory, optionally one member of a JSON object in it).
 *
 * - `seal` runs when a task arrives: inline values are encrypted (AES-256-GCM under a key
 *   the agent keeps in `<work>/meta/secrets.key`, 0600), so the TaskInfo the agent holds,
 *   checkpoints and could ever log has no secret in plain text.
 * - `resolve` runs when a container or an executor gets the task: each SECRET variable
 *   becomes a plain variable with its value (decrypted, or read from the referenced file),
 *   in a copy that goes only to the container's environment or the executor's stream.
 *
 * A referenced file must be a regular file (no symlink) owned by the agent's user and not
 * readable by group or others (0600/0400), at most 64 KiB. Failures name the variable and
 * the reason, never a value.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  Environment_Variable_Type,
  Environment_VariableSchema,
  Secret_Type,
  type CommandInfo,
  type Environment_Variable,
  type ExecutorInfo,
  type TaskInfo,
} from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { loadOrCreateKey } from "./key-file.js";

/** Marks data this agent sealed: magic, then IV (12), tag (16), ciphertext. */
const SEALED = Buffer.from("\0dcos-sealed:v1\0");
const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** A reference's name: path segments of letters, digits, '.', '_' and '-' (no '.' or '..' segment). */
const REFERENCE_NAME = /^(?!\.{1,2}(\/|$))[A-Za-z0-9._-]+(\/(?!\.{1,2}(\/|$))[A-Za-z0-9._-]+)*$/;

export class SecretResolver {
  private constructor(
    private readonly key: Buffer,
    /** Where reference secrets are read from (none: references fail). */
    readonly secretsDir: string | undefined,
  ) {}

  /** A fresh key (tests, or an agent without a work dir). */
  static generate(secretsDir?: string): SecretResolver {
    return new SecretResolver(randomBytes(32), secretsDir);
  }

  /** The key in `<metaDir>/secrets.key`, created on first use. */
  static async load(metaDir: string, secretsDir?: string): Promise<SecretResolver> {
    return new SecretResolver(await loadOrCreateKey(join(metaDir, "secrets.key")), secretsDir);
  }

  /** The task with its inline secrets encrypted (the same object when it has none). */
  sealTask(task: TaskInfo): TaskInfo {
    const command = this.sealCommand(task.command);
    const executor = task.executor && this.sealExecutor(task.executor);
    return command === task.command && executor === task.executor ? task : { ...task, command, executor };
  }

  sealExecutor(info: ExecutorInfo): ExecutorInfo {
    const command = this.sealCommand(info.command);
    return command === info.command ? info : { ...info, command };
  }

  /** The task with every SECRET variable replaced by its value, for a container or an executor. */
  resolveTask(task: TaskInfo): TaskInfo {
    const what = `task ${task.taskId?.value ?? ""}`;
    const command = this.resolveCommand(task.command, what);
    const executor = task.executor && this.resolveExecutor(task.executor);
    return command === task.command && executor === task.executor ? task : { ...task, command, executor };
  }

  resolveExecutor(info: ExecutorInfo): ExecutorInfo {
    const command = this.resolveCommand(info.command, `executor ${info.executorId?.value ?? ""}`);
    return command === info.command ? info : { ...info, command };
  }

  private sealCommand(command: CommandInfo | undefined): CommandInfo | undefined {
    const vars = command?.environment?.variables;
    if (!command || !vars?.some(isInlineSecret)) return command;
    const variables = vars.map((v) => {
      if (!isInlineSecret(v) || isSealed(v.secret!.value!.data)) return v;
      return { ...v, secret: { ...v.secret!, value: { ...v.secret!.value!, data: this.encrypt(v.secret!.value!.data) } } };
    });
    return { ...command, environment: { ...command.environment!, variables } };
  }

  private resolveCommand(command: CommandInfo | undefined, what: string): CommandInfo | undefined {
    const vars = command?.environment?.variables;
    if (!command || !vars?.some((v) => v.type === Environment_Variable_Type.SECRET)) return command;
    const variables = vars.map((v) =>
      v.type === Environment_Variable_Type.SECRET ? create(Environment_VariableSchema, { name: v.name, type: Environment_Variable_Type.VALUE, value: this.valueOf(v, what) }) : v,
    );
    return { ...command, environment: { ...command.environment!, variables } };
  }

  private valueOf(v: Environment_Variable, what: string): string {
    const fail = (why: string) => new DcosError(Code.FAILED_PRECONDITION, `Cannot resolve secret environment variable ${v.name} of ${what}: ${why}`);
    const secret = v.secret;
    if (secret?.type === Secret_Type.VALUE && secret.value) {
      const data = secret.value.data;
      if (!isSealed(data)) return Buffer.from(data).toString("utf8");
      try {
        return this.decrypt(data).toString("utf8");
      } catch {
        throw fail("it was sealed under another key of this agent (its secrets.key changed)");
      }
    }
    if (secret?.type === Secret_Type.REFERENCE && secret.reference) return this.readReference(secret.reference.name, secret.reference.key, fail);
    throw fail("it has neither a value nor a reference");
  }

  private readReference(name: string, key: string, fail: (why: string) => DcosError): string {
    if (!this.secretsDir) throw fail(`this agent has no --secrets-dir to resolve reference '${name}'`);
    if (!REFERENCE_NAME.test(name)) throw fail(`reference '${name}' is not a valid secret name`);
    const path = join(this.secretsDir, name);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw fail(code === "ENOENT" ? `no secret '${name}' in ${this.secretsDir}` : code === "ELOOP" ? `secret '${name}' is a symbolic link` : `secret '${name}' cannot be read (${code})`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw fail(`secret '${name}' is not a regular file`);
      if ((st.mode & 0o077) !== 0) throw fail(`secret '${name}' is readable by others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600 or 0400`);
      if (typeof process.getuid === "function" && st.uid !== process.getuid()) throw fail(`secret '${name}' is not owned by the agent's user`);
      if (st.size > MAX_SECRET_FILE_BYTES) throw fail(`secret '${name}' is larger than ${MAX_SECRET_FILE_BYTES} bytes`);
      const buf = Buffer.alloc(st.size);
      const n = st.size === 0 ? 0 : readSync(fd, buf, 0, st.size, 0);
      const text = buf.subarray(0, n).toString("utf8");
      if (!key) return text.replace(/\n$/, "");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw fail(`secret '${name}' is not a JSON object, so it has no key '${key}'`);
      }
      const value = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>)[key] : undefined;
      if (typeof value !== "string") throw fail(`secret '${name}' has no string member '${key}'`);
      return value;
    } finally {
      closeSync(fd);
    }
  }

  private encrypt(data: Uint8Array): Uint8Array {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([SEALED, iv, cipher.getAuthTag(), body]);
  }

  private decrypt(sealed: Uint8Array): Buffer {
    const b = Buffer.from(sealed);
    const iv = b.subarray(SEALED.length, SEALED.length + 12);
    const tag = b.subarray(SEALED.length + 12, SEALED.length + 28);
    const decipher = createDecipheriv("aes-256-gcm", this.key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(b.subarray(SEALED.length + 28)), decipher.final()]);
  }
}

function isInlineSecret(v: Environment_Variable): boolean {
  return v.type === Environment_Variable_Type.SECRET && v.secret?.type === Secret_Type.VALUE && v.secret.value !== undefined;
}

function isSealed(data: Uint8Array): boolean {
  return data.length > SEALED.length && Buffer.from(data.subarray(0, SEALED.length)).equals(SEALED);
}
