/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for the services a node hosts, so
 * that generic clients (grpcurl, Postman, a Python framework's tooling) can discover them.
 * The descriptors come from the protobuf-es generated files at run time (no descriptor file
 * to ship): each file of `files` and of their imports is served under its own name
 * (dcos/v1/scheduler.proto, dcos/v1/tasks.proto, …) with its real dependencies.
 *
 * @grpc/reflection reads, from the package definition it is given, only the
 * `fileDescriptorProtos` of each entry. proto-loader's own loader would rebuild the files
 * per package (one merged file named after one of them), so the definition is built here,
 * one entry per file, holding that file's FileDescriptorProto exactly as compiled.
 */
import type * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import type * as protoLoader from "@grpc/proto-loader";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** The files and everything they import, dependencies first, each once. */
export function fileClosure(files: readonly DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependencies) visit(d);
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

/** What @grpc/reflection reads: per file, its encoded FileDescriptorProto (`<name>.proto`). */
export function packageDefinitionOf(files: readonly DescFile[]): protoLoader.PackageDefinition {
  const definition: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const f of fileClosure(files)) {
    definition[`${f.name}.proto`] = { fileDescriptorProtos: [Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto))] };
  }
  return definition as unknown as protoLoader.PackageDefinition;
}

/** Adds the reflection service describing the services of `files` to the server. */
export function addReflectionService(server: grpc.Server, files: readonly DescFile[]): void {
  new ReflectionService(packageDefinitionOf(files)).addToServer(server);
}
