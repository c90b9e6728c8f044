import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../runtime/clock.js";
import { SessionStoreService } from "../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "../session/rules.js";
import type { Store } from "../store/store.js";
import { refusalOf } from "./access.js";
import { AddressInUse, isAddressInUse } from "./address-in-use.js";
import type { Authenticator } from "./auth.js";
import { asSessionError, toServiceError } from "./error-status.js";
import type { SessionActivity } from "./session-activity.js";
import type { SessionEvents } from "./session-events.js";
import { WatchSessionsRpc } from "./watch-sessions-rpc.js";
import { transportStatusInterceptor } from "./transport-statuses.js";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import { EncodedMessage } from "../grpc/encoded-message.js";
import { grpcServiceDefinition } from "../grpc/grpc-service.js";
import { raiseReceiveWindows } from "../grpc/receive-window.js";
import { UndecodableRequest } from "../grpc/request-decoding.js";
import { malformedRequest } from "../session/errors.js";
import { defaultGroupCommitLimits, GroupCommitter, type GroupCommitLimits } from "./group-commit.js";
import { sessionStoreHandlers } from "./handlers.js";
import { addReflection } from "./reflection.js";
import { measuredUpdates, StreamUpdatesRpc } from "./stream-updates-rpc.js";
import { defaultStreamUpdatesLimits, type StreamUpdatesLimits } from "./stream-updates-call.js";

export interface ServerOptions {
  /** host:port (port 0 picks a free one), [v6]:port, or unix:/path. */
  listen: string;
  /**
   * A second address served with TLS: the pod's address, say, while `listen`
   * stays plaintext on loopback for the bridge. Both serve the same services,
   * health and reflection included.
   */
  tls?: { listen: string; credentials: grpc.ServerCredentials };
  store: Store;
  rules: SessionRules;
  logger: Logger;
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE). */
  maxMessageBytes: number;
  /** HTTP/2 streams (calls) a client connection may have open at once; unlimited when absent. */
  maxConcurrentStreams?: number;
  /** HTTP/2 receive window of each stream (a connection's is twice it); Node's default (64 KiB) when absent. */
  receiveWindowBytes?: number;
  /** Who each call is: its tenant and role (everyone tenant "default" with every right when no tokens are configured). */
  auth: Authenticator;
  cleanupBatchSize: number;
  clock?: Clock;
  /** How long an update may wait for its commit before it is refused as OVERLOADED; 0 for no limit. */
  updateQueueTimeoutMs?: number;
  /** StreamUpdates group commit; defaultGroupCommitLimits (with the store's groups in flight and the timeout above) when absent. */
  groupCommit?: GroupCommitLimits;
  /** StreamUpdates backpressure per stream; defaultStreamUpdatesLimits when absent. */
  streamUpdates?: StreamUpdatesLimits;
  /** Where the server's metrics go; none are taken when absent. */
  metrics?: SidecarMetrics | undefined;
  /** Where WatchSessions subscribes. */
  events: SessionEvents;
  /** Where committed writes and failed calls are reported (activity publishes to `events`). */
  activity: SessionActivity;
}

/**
 * The grpc.health.v1 names the sidecar answers for. Readiness ("can this
 * sidecar take calls": storage answers, not overloaded, not draining) is
 * the whole server's status "" and SessionStoreService's, because "" is what
 * load balancers and gRPC clients' own health checking ask when they decide
 * where calls go. Liveness ("is the process alive, should the kubelet
 * restart it") is a name of its own, asked only by a livenessProbe that
 * names it: a Redis outage makes every sidecar unready, and restarting them
 * all would fix nothing.
 */
export const READINESS_SERVICES = ["", SessionStoreService.typeName] as const;
export const LIVENESS_SERVICE = "liveness";

export interface RunningServer {
  /** The address actually bound: host:port with the real port, or the unix path. */
  address: string;
  /** The TLS listener's bound address, when there is one. */
  tlsAddress?: string;
  /** Readiness, as the health service reports it for READINESS_SERVICES. */
  setReady(ready: boolean): void;
  /** Liveness, as the health service reports it for LIVENESS_SERVICE. */
  setLive(live: boolean): void;
  /** True while update streams have been held back for a full commit queue, or updates refused as OVERLOADED, for a while without a pause (readiness turns NOT_SERVING). */
  readonly overloaded: boolean;
  /**
   * Stops accepting calls; lets in-flight unary calls finish and every open
   * update stream commit and ack what it has read, then ends those streams
   * with UNAVAILABLE (SHUTTING_DOWN). Whatever is still running after graceMs
   * is cancelled; an update is acked only once committed, so nothing acked
   * is lost either way. Resolves when no commit is pending, so the store may
   * then be closed.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** How long shutdown lets the last responses flush once no work is open. */
const FLUSH_MS = 250;

type UnaryHandler = (request: never, tenant: string) => Promise<MessageInitShape<DescMessage>>;

/**
 * grpc-js writes its own messages to stderr as text unless given a logger;
 * a port in use, say, added "E No address added out of total 1 resolved"
 * beside the one line that bind's failure already gives. What it logs on a
 * server is also reported through its API (a bind's callback, a call's
 * status), which the sidecar logs with context; so its own lines go into
 * the JSON log at debug, as module grpc-js, for whoever digs.
 */
function routeGrpcJsLog(logger: Logger): void {
  const log = logger.child({ module: "grpc-js" });
  const write = (...args: unknown[]) => log.debug(args.map(String).join(" "));
  grpc.setLogger({ error: write, warn: write, info: write, debug: write });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.logger.child({ module: "server" });
  routeGrpcJsLog(options.logger);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    interceptors: [transportStatusInterceptor(options.maxMessageBytes, options.logger, options.metrics?.grpc)],
    ...(options.maxConcurrentStreams === undefined ? {} : { "grpc.max_concurrent_streams": options.maxConcurrentStreams }),
  });
  const handlers = sessionStoreHandlers({
    store: options.store,
    rules: options.rules,
    clock: options.clock ?? systemClock,
    cleanupBatchSize: options.cleanupBatchSize,
    metrics: options.metrics,
    activity: options.activity,
  }) as unknown as Record<string, UnaryHandler>;

  const committer = new GroupCommitter(
    options.store,
    options.groupCommit ?? {
      ...defaultGroupCommitLimits,
      maxGroupsInFlight: options.store.groupsInFlight ?? 1,
      queueTimeoutMs: options.updateQueueTimeoutMs ?? defaultGroupCommitLimits.queueTimeoutMs,
    },
    options.metrics,
    (group, results) => options.activity.updatesCommitted(group, results),
  );
  options.metrics?.watchQueue(() => committer.queueDepth);
  const streamUpdates = new StreamUpdatesRpc({
    committer,
    auth: options.auth,
    limits: options.streamUpdates ?? defaultStreamUpdatesLimits,
    logger: options.logger,
    metrics: options.metrics,
    activity: options.activity,
  });
  const watchSessions = new WatchSessionsRpc({ events: options.events, activity: options.activity, auth: options.auth, logger: options.logger });

  const implementation: grpc.UntypedServiceImplementation = {
    [SessionStoreService.method.streamUpdates.localName]: streamUpdates.handlers.streamUpdates as grpc.UntypedHandleCall,
    [SessionStoreService.method.streamUpdateBatches.localName]: streamUpdates.handlers.streamUpdateBatches as grpc.UntypedHandleCall,
    [SessionStoreService.method.watchSessions.localName]: watchSessions.handler as grpc.UntypedHandleCall,
  };
  // Unary calls in flight, so shutdown can tell when the last one has answered.
  const unary = { inFlight: 0, onIdle: undefined as (() => void) | undefined };
  for (const method of SessionStoreService.methods) {
    if (method.methodKind !== "unary") continue;
    const handler = handlers[method.localName];
    if (!handler) throw new Error(`no handler for ${method.name}`);
    implementation[method.localName] = ((call: grpc.ServerUnaryCall<never, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      unary.inFlight += 1;
      const started = performance.now();
      let tenant: string | undefined;
      const request: unknown = call.request;
      Promise.resolve()
        .then(() => {
          const caller = options.auth.callerOf(call.metadata);
          tenant = caller.tenant;
          if (request instanceof UndecodableRequest) throw malformedRequest(request.typeName, request.problem);
          const refusal = refusalOf(method.name, request, caller);
          if (refusal) throw refusal;
          return handler(request as never, caller.tenant);
        })
        .then(
          (response) => callback(null, response instanceof EncodedMessage ? response : create(method.output, response)),
          (err: unknown) => {
            const error = asSessionError(err, log);
            options.metrics?.callFailed(method.name, error);
            options.activity.callFailed(method.name, tenant, conversationIdOf(request), error, performance.now() - started);
            callback(toServiceError(error, log));
          },
        )
        .finally(() => {
          unary.inFlight -= 1;
          if (unary.inFlight === 0) unary.onIdle?.();
        });
    }) as grpc.UntypedHandleCall;
  }
  // A streaming method added to the proto must get its handler above, not fail at call time.
  for (const method of SessionStoreService.methods) {
    if (!implementation[method.localName]) throw new Error(`no handler for ${method.name}`);
  }
  server.addService(measuredUpdates(grpcServiceDefinition(SessionStoreService)), implementation);

  const health = new HealthImplementation({
    ...Object.fromEntries(READINESS_SERVICES.map((name) => [name, "SERVING"])),
    [LIVENESS_SERVICE]: "SERVING",
  });
  health.addToServer(server);
  addReflection(server);

  // Rejects saying which address failed, there being two.
  const bind = (address: string, credentials: grpc.ServerCredentials, name: string) =>
    new Promise<string>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, port) =>
        err
          ? reject(isAddressInUse(err) ? new AddressInUse(address, name) : new Error(`cannot listen on ${address} (${name}): ${err.message}`))
          : resolve(boundAddress(address, port)),
      );
    }).then((bound) => {
      if (options.receiveWindowBytes !== undefined) raiseReceiveWindows(server, options.receiveWindowBytes, log);
      return bound;
    });
  const address = await bind(options.listen, grpc.ServerCredentials.createInsecure(), "--listen");
  let tlsAddress: string | undefined;
  try {
    tlsAddress = options.tls === undefined ? undefined : await bind(options.tls.listen, options.tls.credentials, "--tls-listen");
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  return {
    address,
    ...(tlsAddress === undefined ? {} : { tlsAddress }),
    get overloaded() {
      return committer.overloaded;
    },
    setReady(ready) {
      for (const name of READINESS_SERVICES) health.setStatus(name, ready ? "SERVING" : "NOT_SERVING");
    },
    setLive(live) {
      health.setStatus(LIVENESS_SERVICE, live ? "SERVING" : "NOT_SERVING");
    },
    async shutdown(graceMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, "calls still running after the shutdown grace period; cancelling them");
          server.forceShutdown();
          resolve();
        }, graceMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        // tryShutdown closes the listeners and refuses new calls at once, but
        // waits for open calls, and update streams end only when drained.
        server.tryShutdown(done);
        // tryShutdown's callback can fail to come for a connection the client
        // was closing just then, so our own count of open work decides too:
        // once every call has answered and every stream is drained, the last
        // responses get a moment to flush, then what is left is closed.
        const unaryIdle = new Promise<void>((idle) => (unary.inFlight === 0 ? idle() : (unary.onIdle = idle)));
        void Promise.all([unaryIdle, streamUpdates.drain()]).then(() => {
          // Last, so that watchers see the events of the writes that finished during the drain.
          watchSessions.closeAll();
          setTimeout(() => {
            server.forceShutdown();
            done();
          }, FLUSH_MS).unref();
        });
      });
      // Updates of streams cancelled meanwhile may still be committing.
      await committer.idle();
    },
  };
}

/** The session a unary request is about, for its failure's log line: every such request names it in one of these places. */
function conversationIdOf(request: unknown): string | undefined {
  if (request === null || typeof request !== "object" || request instanceof UndecodableRequest) return undefined;
  const r = request as { conversationId?: unknown; update?: { conversationId?: unknown }; session?: { conversationId?: unknown } };
  const id = r.conversationId ?? r.update?.conversationId ?? r.session?.conversationId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

function boundAddress(listen: string, port: number): string {
  if (listen.startsWith("unix:")) return listen;
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return `${host}:${port}`;
}
