import * as grpc from "@grpc/grpc-js";
import { errorDetailsOf, type ErrorDetails } from "../../src/client/error-details.js";
import { SessionStoreService } from "../../src/gen/sessionstore/v1/session_store_pb.js";

/**
 * Calls of sessionstore.v1 that send bytes exactly as given, so a test can
 * send what no generated client would: truncated messages, wrong wire types,
 * invalid UTF-8. Responses come back as bytes too.
 */
export interface RawResult {
  code: grpc.status;
  details: string;
  errorDetails: ErrorDetails;
  /** Whether the status carried a grpc-status-details-bin trailer at all. */
  hasStatusDetails: boolean;
  /** The response of a successful unary call. */
  response?: Buffer;
}

export interface RawStreamResult extends RawResult {
  /** Every response message, in order. */
  responses: Buffer[];
}

const identity = (bytes: Buffer): Buffer => bytes;

export interface RawCallOptions {
  /** Sent as "authorization: Bearer <token>". */
  token?: string;
  timeoutMs?: number;
}

export class RawClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    // The client's own limit must not be what refuses a large request.
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
  }

  /** A unary call of `method` (its name, e.g. "CreateSession") with the request's bytes. */
  unary(method: string, request: Uint8Array, options: RawCallOptions = {}): Promise<RawResult> {
    return new Promise((resolve) => {
      let response: Buffer | undefined;
      const call = this.client.makeUnaryRequest<Buffer, Buffer>(
        pathOf(method),
        identity,
        identity,
        Buffer.from(request),
        metadataOf(options),
        { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
        (_err, value) => (response = value),
      );
      call.on("status", (status: grpc.StatusObject) => resolve({ ...resultOf(status), response }));
    });
  }

  /**
   * A streaming call of `method` that writes each message in turn, then
   * half-closes and collects what comes back until the status.
   */
  stream(method: "StreamUpdates" | "StreamUpdateBatches", messages: readonly Uint8Array[], options: RawCallOptions = {}): Promise<RawStreamResult> {
    return new Promise((resolve) => {
      const call = this.client.makeBidiStreamRequest<Buffer, Buffer>(pathOf(method), identity, identity, metadataOf(options), {
        deadline: Date.now() + (options.timeoutMs ?? 10_000),
      });
      const responses: Buffer[] = [];
      call.on("data", (data: Buffer) => responses.push(data));
      call.on("error", () => undefined); // the status event has it
      call.on("status", (status: grpc.StatusObject) => resolve({ ...resultOf(status), responses }));
      for (const message of messages) call.write(Buffer.from(message));
      call.end();
    });
  }

  /** A server-streaming call of `method` with the request's bytes, collected until the status (its deadline, for a watch that is accepted). */
  serverStream(method: "WatchSessions", request: Uint8Array, options: RawCallOptions = {}): Promise<RawStreamResult> {
    return new Promise((resolve) => {
      const call = this.client.makeServerStreamRequest<Buffer, Buffer>(pathOf(method), identity, identity, Buffer.from(request), metadataOf(options), {
        deadline: Date.now() + (options.timeoutMs ?? 10_000),
      });
      const responses: Buffer[] = [];
      call.on("data", (data: Buffer) => responses.push(data));
      call.on("error", () => undefined); // the status event has it
      call.on("status", (status: grpc.StatusObject) => resolve({ ...resultOf(status), responses }));
    });
  }

  close(): void {
    this.client.close();
  }
}

function metadataOf(options: RawCallOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
  return metadata;
}

function pathOf(method: string): string {
  return `/${SessionStoreService.typeName}/${method}`;
}

function resultOf(status: grpc.StatusObject): RawResult {
  return {
    code: status.code,
    details: status.details,
    errorDetails: errorDetailsOf({ metadata: status.metadata }),
    hasStatusDetails: status.metadata.get("grpc-status-details-bin").length > 0,
  };
}
