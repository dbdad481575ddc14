/**
 * A small client of the master's gRPC OperatorService for the operator subcommands
 * (`quota`, `agent`): one call as the principal of --principal/--secret or
 * --credential-file (credential-options.ts), then the channel is closed. Failures become errors whose
 * message is the master's (e.g. "Total quota guarantees of cpus … set force").
 */
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { OperatorService } from "../gen/dcos/v1/operator_pb.js";
import { clientConstructor } from "../runtime/grpc/service.js";
import { credentialChannelOptions, resolveClientCredential, type ClientCredentialFlags } from "../security/auth/client-credential.js";

type Methods = typeof OperatorService.method;
type UnaryName = Exclude<keyof Methods, "subscribe">;

const DEADLINE_MS = 15_000;

/** Where to call and as whom: the flags of every operator subcommand. */
export interface OperatorTarget extends ClientCredentialFlags {
  master: string;
}

export async function operatorCall<N extends UnaryName>(
  target: OperatorTarget,
  name: N,
  request: MessageInitShape<Methods[N]["input"] & DescMessage>,
): Promise<MessageShape<Methods[N]["output"] & DescMessage>> {
  const master = target.master;
  const credential = await resolveClientCredential(target);
  const Client = clientConstructor(OperatorService);
  const client = new Client(master, grpc.credentials.createInsecure(), credentialChannelOptions(credential));
  const method = OperatorService.method[name];
  try {
    return await new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void>)[name]!.bind(client);
      fn(create(method.input, request as never), { deadline: Date.now() + DEADLINE_MS }, (err, res) =>
        err ? reject(new Error(`${method.name} on ${master} failed: ${err.details || err.message}`)) : resolve(res as never),
      );
    });
  } finally {
    client.close();
  }
}
