import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../src/grpc/grpc-service.js";
import {
  Health,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/**
 * A grpc.health.v1 Health/Watch stream on a sidecar, as a Kubernetes probe or
 * a load balancer sees its status. Tests wait for a status to be reported
 * rather than polling on a timer: the server pushes every change.
 */
export interface HealthWatch {
  /** Every status the server has sent, oldest first. */
  readonly seen: ServingStatus[];
  /** Resolves once the latest status sent is `status` (at once if it already is). */
  until(status: ServingStatus): Promise<void>;
  close(): void;
}

const HealthClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");

/** Watches one service's status: the whole server's (readiness) when none is named. */
export function watchHealth(address: string, service = ""): HealthWatch {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  const call = (client as unknown as { watch(request: object): grpc.ClientReadableStream<HealthCheckResponse> }).watch(create(HealthCheckRequestSchema, { service }));
  const seen: ServingStatus[] = [];
  let waiters: Array<() => void> = [];
  let ended: Error | undefined;
  const wake = (): void => {
    const current = waiters;
    waiters = [];
    current.forEach((w) => w());
  };
  call.on("data", (response: HealthCheckResponse) => {
    seen.push(response.status);
    wake();
  });
  call.on("error", (err: Error) => {
    ended = err;
    wake();
  });
  return {
    seen,
    until(status) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (seen.at(-1) === status) resolve();
          else if (ended) reject(new Error(`the health watch ended before ${ServingStatus[status]}: ${ended.message}`));
          else waiters.push(check);
        };
        check();
      });
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
