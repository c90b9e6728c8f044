import { type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { file_sessionstore_v1_session_store } from "../gen/sessionstore/v1/session_store_pb.js";

/**
 * Server reflection, so grpcurl and buf curl work against a live sidecar with
 * no proto files. @grpc/reflection reads proto-loader's package shape, of
 * which it only needs each entry's serialized file descriptors; we feed it the
 * descriptors protoc-gen-es embedded in src/gen, the health service's
 * included, and the google.rpc error details so clients can describe them.
 */
const described: DescFile[] = [
  file_sessionstore_v1_session_store,
  file_grpc_health_v1_health,
  file_google_rpc_status,
  file_google_rpc_error_details,
];

function withDependencies(files: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return [...seen.values()];
}

export function addReflection(server: Server): void {
  const fileDescriptorProtos = withDependencies(described).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  const pkg = Object.fromEntries(described.map((file) => [file.name, { fileDescriptorProtos }]));
  new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
