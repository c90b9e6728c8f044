import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckRequestSchema } from "../../src/gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../../src/grpc/grpc-service.js";

const HealthClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");

/**
 * grpc.health.v1 Health/Check on a sidecar: the empty call, what grpc-js
 * costs per call with no storage work, that the benchmarks set the store's
 * calls beside.
 */
export function healthChecks(address: string): { check(): Promise<void>; close(): void } {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  const request = create(HealthCheckRequestSchema, {});
  const method = (client as unknown as Record<string, Function>).check!;
  return {
    check: () => new Promise((resolve, reject) => method.call(client, request, (err: Error | null) => (err ? reject(err) : resolve()))),
    close: () => client.close(),
  };
}
