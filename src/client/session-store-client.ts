import { create, type DescMessage, type DescMethodUnary, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  SessionStoreService,
  type SessionUpdate,
  type StreamUpdateBatchesResponse,
  StreamUpdateBatchesResponseSchema,
  type UpdateAck,
  type WatchSessionsRequest,
  WatchSessionsRequestSchema,
  type WatchSessionsResponse,
  WatchSessionsResponseSchema,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { grpcServiceDefinition } from "../grpc/grpc-service.js";
import { resolveRetryPolicy, type RetryOptions, type RetryPolicy, retryableCodes, runWithRetries } from "./retry.js";

export interface SessionStoreClientOptions {
  /** Sent as `authorization: Bearer <token>` when the sidecar has auth on. */
  token?: string;
  /** Default deadline of each attempt of a call. Default 10 s. */
  timeoutMs?: number;
  /**
   * Retries of the calls that are safe to retry (see retry.ts for which and
   * when); `false` turns them off. Default: 5 attempts, 50 ms doubling to 2 s.
   */
  retry?: RetryOptions | false;
  /**
   * TLS to a sidecar's --tls-listen address: the CA that signed its
   * certificate, and for mTLS this client's certificate and key (PEM). Without
   * it (and without `credentials`) the client speaks plaintext, as a sidecar on
   * loopback or a unix socket is reached.
   */
  tls?: ClientTlsOptions;
  /** Any other channel credentials; wins over `tls`. */
  credentials?: grpc.ChannelCredentials;
  /** Largest response accepted; FULL sessions with long histories can exceed gRPC's 4 MiB default. */
  maxReceiveMessageBytes?: number;
  /** Extra grpc-js channel options; they win over the ones this client sets. */
  channelOptions?: grpc.ChannelOptions;
}

export interface ClientTlsOptions {
  /** PEM CA certificates the sidecar's certificate must chain to; the system roots when absent. */
  ca?: Buffer | string;
  /** PEM client certificate (chain) and its private key, for a sidecar that requires client certificates. */
  cert?: Buffer | string;
  key?: Buffer | string;
}

export interface CallOptions {
  /** This call's deadline, per attempt. */
  timeoutMs?: number;
  /** This call's retries, replacing the client's; `false` for none. Unsafe calls are never retried. */
  retry?: RetryOptions | false;
}

/**
 * A WatchSessions call: a Readable of WatchSessionsResponse events, also an
 * async iterable (`for await (const event of watch)`, which throws the
 * ServiceError the stream ends with: RESOURCE_EXHAUSTED WATCH_TOO_SLOW or
 * UNAVAILABLE SHUTTING_DOWN mean list again, then watch again). `cancel()`
 * stops it.
 */
export type WatchSessionsCall = grpc.ClientReadableStream<WatchSessionsResponse>;

/** The raw StreamUpdates call: write SessionUpdates, read UpdateAcks. */
export type UpdateStreamCall = grpc.ClientDuplexStream<SessionUpdate, UpdateAck>;

/**
 * The raw StreamUpdateBatches call: write encoded StreamUpdateBatchesRequest
 * messages (so updates encoded once can be sent again without re-encoding),
 * read StreamUpdateBatchesResponses.
 */
export type UpdateBatchStreamCall = grpc.ClientDuplexStream<Uint8Array, StreamUpdateBatchesResponse>;

type Service = typeof SessionStoreService.method;
type UnaryMethodName = { [K in keyof Service]: Service[K] extends DescMethodUnary ? K : never }[keyof Service];
type Request<K extends UnaryMethodName> = MessageInitShape<Service[K]["input"]>;
type Response<K extends UnaryMethodName> = MessageShape<Service[K]["output"]>;

function channelCredentials(tls: ClientTlsOptions | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error("tls.cert and tls.key go together: a client certificate needs its key");
  const pem = (value: Buffer | string | undefined) => (value === undefined ? null : Buffer.from(value));
  return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}

const GenericClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(SessionStoreService), "SessionStoreService");

/**
 * A promise-based client for every unary RPC of sessionstore.v1, plus the raw
 * StreamUpdates call (most bridges want BridgeUpdateStream on top of it).
 * Errors are grpc-js ServiceErrors; read their reason with errorReasonOf /
 * errorDetailsOf. Each attempt of a call has its own deadline, so a call that
 * is retried can take up to maxAttempts × timeoutMs plus the backoff delays.
 */
export class SessionStoreClient {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  constructor(address: string, options: SessionStoreClientOptions = {}) {
    this.client = new GenericClient(address, options.credentials ?? channelCredentials(options.tls), {
      "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
      // grpc-js waits up to 2 minutes between reconnects by default, and calls
      // fail at once while it waits; a sidecar on loopback that restarts is
      // back within a second, and probing it costs nothing.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1_000,
      ...options.channelOptions,
    });
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set("authorization", `Bearer ${options.token}`);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retry = resolveRetryPolicy(options.retry);
  }

  createSession(req: Request<"createSession">, opts?: CallOptions): Promise<Response<"createSession">> {
    return this.unary("createSession", req, opts);
  }

  getSession(req: Request<"getSession">, opts?: CallOptions): Promise<Response<"getSession">> {
    return this.unary("getSession", req, opts);
  }

  resumeSession(req: Request<"resumeSession">, opts?: CallOptions): Promise<Response<"resumeSession">> {
    return this.unary("resumeSession", req, opts);
  }

  validateResume(req: Request<"validateResume">, opts?: CallOptions): Promise<Response<"validateResume">> {
    return this.unary("validateResume", req, opts);
  }

  updateSession(req: Request<"updateSession">, opts?: CallOptions): Promise<Response<"updateSession">> {
    return this.unary("updateSession", req, opts);
  }

  endSession(req: Request<"endSession">, opts?: CallOptions): Promise<Response<"endSession">> {
    return this.unary("endSession", req, opts);
  }

  deleteSession(req: Request<"deleteSession">, opts?: CallOptions): Promise<Response<"deleteSession">> {
    return this.unary("deleteSession", req, opts);
  }

  listSessions(req: Request<"listSessions">, opts?: CallOptions): Promise<Response<"listSessions">> {
    return this.unary("listSessions", req, opts);
  }

  cleanupSessions(req: Request<"cleanupSessions">, opts?: CallOptions): Promise<Response<"cleanupSessions">> {
    return this.unary("cleanupSessions", req, opts);
  }

  getStats(req: Request<"getStats"> = {}, opts?: CallOptions): Promise<Response<"getStats">> {
    return this.unary("getStats", req, opts);
  }

  /**
   * Opens a StreamUpdates call with this client's credentials and no
   * deadline (the stream lives as long as the bridge). The caller owns it:
   * it must handle "error", and it sees acks in the order the sidecar sends
   * them. BridgeUpdateStream does all of that, with replay and fencing.
   */
  openUpdateStream(): UpdateStreamCall {
    const open = (this.client as unknown as Record<string, Function>).streamUpdates!;
    return open.call(this.client, this.metadata, {}) as UpdateStreamCall;
  }

  /** Opens a StreamUpdateBatches call, as openUpdateStream does a StreamUpdates one; BridgeUpdateStream uses it by default. */
  openUpdateBatchStream(): UpdateBatchStreamCall {
    return this.client.makeBidiStreamRequest(
      `/${SessionStoreService.typeName}/${SessionStoreService.method.streamUpdateBatches.name}`,
      (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      (bytes: Buffer) => fromBinary(StreamUpdateBatchesResponseSchema, bytes),
      this.metadata,
      {},
    );
  }

  /**
   * Opens a WatchSessions call: the tenant's session events from now on,
   * filtered by conversation id and statuses, with no deadline. Never
   * retried: a watcher that reconnects has missed what happened meanwhile,
   * so it should ListSessions first.
   */
  watchSessions(req: MessageInitShape<typeof WatchSessionsRequestSchema> = {}): WatchSessionsCall {
    return this.client.makeServerStreamRequest(
      `/${SessionStoreService.typeName}/${SessionStoreService.method.watchSessions.name}`,
      (request: WatchSessionsRequest) => Buffer.from(toBinary(WatchSessionsRequestSchema, request)),
      (bytes: Buffer) => fromBinary(WatchSessionsResponseSchema, bytes),
      create(WatchSessionsRequestSchema, req),
      this.metadata,
      {},
    );
  }

  /** Resolves once the channel is connected, or rejects after timeoutMs. */
  waitForReady(timeoutMs = this.timeoutMs): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.client.close();
  }

  private unary<K extends UnaryMethodName>(name: K, req: Request<K>, opts: CallOptions = {}): Promise<Response<K>> {
    const method = SessionStoreService.method[name] as DescMethodUnary<DescMessage, DescMessage>;
    const message = create(method.input, req as MessageInitShape<DescMessage>);
    const policy = opts.retry === undefined ? this.retry : resolveRetryPolicy(opts.retry);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return runWithRetries(name, retryableCodes(name, message), policy, () => this.attempt<K>(name, message, timeoutMs));
  }

  private attempt<K extends UnaryMethodName>(name: K, message: MessageShape<DescMessage>, timeoutMs: number): Promise<Response<K>> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, Function>)[name]!;
      fn.call(this.client, message, this.metadata, { deadline }, (err: grpc.ServiceError | null, res: Response<K>) =>
        err ? reject(err) : resolve(res),
      );
    });
  }
}
