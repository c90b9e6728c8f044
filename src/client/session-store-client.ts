import { create, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { SessionStoreService } from "../gen/sessionstore/v1/session_store_pb.js";
import { grpcServiceDefinition } from "./grpc-service.js";

export interface SessionStoreClientOptions {
  /** Sent as `authorization: Bearer <token>` when the sidecar has auth on. */
  token?: string;
  /** Default per-call deadline. */
  timeoutMs?: number;
  /** Defaults to plaintext, as a sidecar on loopback or a unix socket is reached. */
  credentials?: grpc.ChannelCredentials;
  /** Largest response accepted; FULL sessions with long histories can exceed gRPC's 4 MiB default. */
  maxReceiveMessageBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

type Service = typeof SessionStoreService.method;
type UnaryMethodName = { [K in keyof Service]: Service[K] extends DescMethodUnary ? K : never }[keyof Service];
type Request<K extends UnaryMethodName> = MessageInitShape<Service[K]["input"]>;
type Response<K extends UnaryMethodName> = MessageShape<Service[K]["output"]>;

const GenericClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(SessionStoreService), "SessionStoreService");

/**
 * A promise-based client for every unary RPC of sessionstore.v1. Errors are
 * grpc-js ServiceErrors; read their reason with errorReasonOf / errorDetailsOf.
 */
export class SessionStoreClient {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly timeoutMs: number;

  constructor(address: string, options: SessionStoreClientOptions = {}) {
    this.client = new GenericClient(address, options.credentials ?? grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
    });
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set("authorization", `Bearer ${options.token}`);
    this.timeoutMs = options.timeoutMs ?? 10_000;
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
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, Function>)[name]!;
      fn.call(this.client, message, this.metadata, { deadline }, (err: grpc.ServiceError | null, res: Response<K>) =>
        err ? reject(err) : resolve(res),
      );
    });
  }
}
