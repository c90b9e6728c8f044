import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../clock.js";
import { SessionStoreService } from "../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "../session/rules.js";
import type { Store } from "../store/store.js";
import { tenantOf } from "./auth.js";
import { toServiceError } from "./error-status.js";
import { grpcServiceDefinition } from "../client/grpc-service.js";
import { sessionStoreHandlers } from "./handlers.js";
import { addReflection } from "./reflection.js";

export interface ServerOptions {
  /** host:port (port 0 picks a free one), [v6]:port, or unix:/path. */
  listen: string;
  store: Store;
  rules: SessionRules;
  logger: Logger;
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /** Bearer token → tenant; empty turns auth off. */
  authTokens: ReadonlyMap<string, string>;
  cleanupBatchSize: number;
  clock?: Clock;
}

export interface RunningServer {
  /** The address actually bound: host:port with the real port, or the unix path. */
  address: string;
  /** What the health service reports, for the whole server and for SessionStoreService. */
  setServing(serving: boolean): void;
  /**
   * Stops accepting calls, lets in-flight ones finish for up to graceMs, then
   * cancels what is left.
   */
  shutdown(graceMs: number): Promise<void>;
}

type UnaryHandler = (request: never, tenant: string) => Promise<MessageInitShape<DescMessage>>;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.logger.child({ module: "server" });
  const server = new grpc.Server({ "grpc.max_receive_message_length": options.maxMessageBytes });
  const handlers = sessionStoreHandlers({
    store: options.store,
    rules: options.rules,
    clock: options.clock ?? systemClock,
    cleanupBatchSize: options.cleanupBatchSize,
  }) as unknown as Record<string, UnaryHandler>;

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of SessionStoreService.methods) {
    if (method.methodKind !== "unary") continue;
    const handler = handlers[method.localName];
    if (!handler) throw new Error(`no handler for ${method.name}`);
    implementation[method.localName] = ((call: grpc.ServerUnaryCall<never, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      Promise.resolve()
        .then(() => handler(call.request, tenantOf(call.metadata, options.authTokens)))
        .then(
          (response) => callback(null, create(method.output, response)),
          (err: unknown) => {
            const error = toServiceError(err, log);
            log.debug({ rpc: method.name, code: error.code, message: error.details }, "call failed");
            callback(error);
          },
        );
    }) as grpc.UntypedHandleCall;
  }
  server.addService(grpcServiceDefinition(SessionStoreService), implementation);

  const health = new HealthImplementation({ "": "SERVING", [SessionStoreService.typeName]: "SERVING" });
  health.addToServer(server);
  addReflection(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  return {
    address: boundAddress(options.listen, port),
    setServing(serving) {
      const status = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", status);
      health.setStatus(SessionStoreService.typeName, status);
    },
    async shutdown(graceMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, "calls still running after the shutdown grace period; cancelling them");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

function boundAddress(listen: string, port: number): string {
  if (listen.startsWith("unix:")) return listen;
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return `${host}:${port}`;
}
