/**
 * The client side: a principal and secret a framework, the CLI or a first-party service
 * presents on every gRPC call (`authorization` metadata, Basic) and HTTP request. Read from
 * `--principal/--secret`, from `--credential-file` (`{"principal": …, "secret": …}`, or a
 * credentials file holding exactly one credential), or from the file named by the
 * environment variable DCOS_NODE_CREDENTIAL_FILE.
 */
import * as grpc from "@grpc/grpc-js";
import { readFile } from "node:fs/promises";
import { Code, DcosError } from "../../runtime/error.js";
import { parseCredentials, type Credential } from "./credentials.js";

export type ClientCredential = Credential;

export const CREDENTIAL_FILE_ENV = "DCOS_NODE_CREDENTIAL_FILE";

/** `Basic base64(principal:secret)`. */
export function authorizationHeader(c: ClientCredential): string {
  return `Basic ${Buffer.from(`${c.principal}:${c.secret}`).toString("base64")}`;
}

/** A grpc-js client interceptor setting `authorization` on every call. */
function authorizationInterceptor(header: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set("authorization", header);
        next(metadata, listener);
      },
    });
}

/** A grpc-js client interceptor adding the credential to every call. */
export function credentialInterceptor(c: ClientCredential): grpc.Interceptor {
  return authorizationInterceptor(authorizationHeader(c));
}

/** Client channel options sending `authorization: Bearer <token>` on every call (none: nothing added). */
export function bearerChannelOptions(token: string | undefined): grpc.ClientOptions {
  return token ? { interceptors: [authorizationInterceptor(`Bearer ${token}`)] } : {};
}

/** Client channel options carrying the credential (none: nothing added). */
export function credentialChannelOptions(c: ClientCredential | undefined): grpc.ClientOptions {
  return c ? { interceptors: [credentialInterceptor(c)] } : {};
}

export function parseClientCredential(text: string, source: string): ClientCredential {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const o = json as Record<string, unknown> | undefined;
  if (o && typeof o.principal === "string" && typeof o.secret === "string") return parseCredentials(`${o.principal} ${o.secret}`, source)[0]!;
  const list = parseCredentials(text, source);
  if (list.length !== 1) throw new DcosError(Code.INVALID_ARGUMENT, `${source}: a client credential file holds one credential, not ${list.length}`);
  return list[0]!;
}

export async function loadClientCredential(path: string): Promise<ClientCredential> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read credential file ${path}: ${(err as Error).message}`);
  }
  return parseClientCredential(text, path);
}

export interface ClientCredentialFlags {
  principal?: string;
  secret?: string;
  credentialFile?: string;
}

/** The credential the flags (or DCOS_NODE_CREDENTIAL_FILE) name, if any. */
export async function resolveClientCredential(flags: ClientCredentialFlags, env: NodeJS.ProcessEnv = process.env): Promise<ClientCredential | undefined> {
  if (flags.principal !== undefined || flags.secret !== undefined) {
    if (!flags.principal || !flags.secret) throw new DcosError(Code.INVALID_ARGUMENT, "--principal and --secret go together");
    if (flags.credentialFile) throw new DcosError(Code.INVALID_ARGUMENT, "Give either --principal/--secret or --credential-file, not both");
    return parseCredentials(`${flags.principal} ${flags.secret}`, "--principal/--secret")[0];
  }
  const file = flags.credentialFile ?? env[CREDENTIAL_FILE_ENV];
  return file ? loadClientCredential(file) : undefined;
}
