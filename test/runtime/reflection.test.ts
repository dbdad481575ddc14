/**
 * Server reflection as a client in another language sees it: each .proto file under its own
 * name with its imports, so tools (grpcurl, grpcio-reflection) rebuild the real files.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { file_dcos_v1_operator } from "../../src/gen/dcos/v1/operator_pb.js";
import { file_dcos_v1_scheduler } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { addReflectionService } from "../../src/runtime/grpc/reflection.js";

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

let server: grpc.Server;
let client: grpc.Client;

/** One request on a fresh reflection stream, its one answer. */
function ask(request: Record<string, string>): Promise<ReflectionResponse> {
  const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, ReflectionResponse>>).ServerReflectionInfo!();
  return new Promise((resolve, reject) => {
    call.on("data", (r: ReflectionResponse) => {
      resolve(r);
      call.end();
    });
    call.on("error", reject);
    call.write(request);
  });
}

function files(r: ReflectionResponse): FileDescriptorProto[] {
  assert.ok(r.fileDescriptorResponse, `a file descriptor answer, not ${JSON.stringify(r.errorResponse)}`);
  return r.fileDescriptorResponse.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

before(async () => {
  server = new grpc.Server();
  addReflectionService(server, [file_dcos_v1_scheduler, file_dcos_v1_operator]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const protoFile = createRequire(import.meta.url).resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile)) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

after(() => {
  client.close();
  server.forceShutdown();
});

describe("gRPC server reflection", () => {
  it("lists the services of the files it was given", async () => {
    const names = (await ask({ listServices: "*" })).listServicesResponse?.service.map((s) => s.name) ?? [];
    assert.deepEqual(names.sort(), ["dcos.v1.OperatorService", "dcos.v1.SchedulerService"]);
  });

  it("answers a symbol with the real file that declares it, its imports named as in the source", async () => {
    const [scheduler] = files(await ask({ fileContainingSymbol: "dcos.v1.SchedulerService" }));
    assert.equal(scheduler!.name, "dcos/v1/scheduler.proto");
    assert.deepEqual(scheduler!.dependency, ["dcos/v1/cluster.proto", "dcos/v1/common.proto", "dcos/v1/offers.proto", "dcos/v1/tasks.proto"]);
    assert.ok(scheduler!.service.some((s) => s.name === "SchedulerService"));
    const [tasks] = files(await ask({ fileContainingSymbol: "dcos.v1.TaskStatus" }));
    assert.equal(tasks!.name, "dcos/v1/tasks.proto", "a message is found in its own file, not in a merged one");
  });

  it("serves an imported file by its name, and says NOT_FOUND for an unknown one", async () => {
    const [offers] = files(await ask({ fileByFilename: "dcos/v1/offers.proto" }));
    assert.equal(offers!.name, "dcos/v1/offers.proto");
    assert.ok(offers!.messageType.some((m) => m.name === "Offer"));
    const missing = await ask({ fileByFilename: "dcos/v1/nope.proto" });
    assert.equal(missing.errorResponse?.errorCode, grpc.status.NOT_FOUND);
  });
});
