/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for the services a node hosts, so
 * that generic clients (grpcurl, Postman, …) can discover them. The descriptors come from
 * the protobuf-es generated files at run time (no descriptor file to ship): a
 * FileDescriptorSet of the given files and their imports, loaded by proto-loader.
 */
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import * as protoLoader from "@grpc/proto-loader";
import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** The files and everything they import, dependencies first, each once. */
function closure(files: readonly DescFile[]): FileDescriptorProto[] {
  const seen = new Set<string>();
  const out: FileDescriptorProto[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependencies) visit(d);
    out.push(f.proto);
  };
  for (const f of files) visit(f);
  return out;
}

/** A proto-loader package definition of the files (what @grpc/reflection reads). */
export function packageDefinitionOf(files: readonly DescFile[]): protoLoader.PackageDefinition {
  const set = create(FileDescriptorSetSchema, { file: closure(files) });
  return protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
}

/** Adds the reflection service describing the services of `files` to the server. */
export function addReflectionService(server: grpc.Server, files: readonly DescFile[]): void {
  new ReflectionService(packageDefinitionOf(files)).addToServer(server);
}
