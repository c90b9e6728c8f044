import { toBinary } from "@bufbuild/protobuf";
import { Metadata, type ServiceError, status as GrpcCode, type StatusObject } from "@grpc/grpc-js";
import { type Status, StatusSchema } from "../gen/google/rpc/status_pb.js";
import type { UpdateAck } from "../gen/sessionstore/v1/session_store_pb.js";
import { errorReasonOf } from "./error-details.js";

/** Why the client, rather than the sidecar, gave up on an update. */
export type LocalFailure =
  /** An earlier update of the session was refused as fenced or ended; this one was not (re)sent. */
  | "SESSION_STOPPED"
  /** close() timed out before the sidecar acknowledged it. */
  | "CLOSED"
  /** The stream failed with a status that a reconnect would not cure (e.g. UNAUTHENTICATED, a message too large). */
  | "STREAM_FAILED";

/**
 * Why a write of BridgeUpdateStream failed. It is shaped like the
 * ServiceError a unary call fails with — `code`, `details`, and a
 * `metadata` holding the grpc-status-details-bin trailer — so that
 * errorReasonOf and errorDetailsOf read both the same way.
 */
export class UpdateError extends Error implements ServiceError {
  readonly code: GrpcCode;
  readonly details: string;
  readonly metadata: Metadata;
  /** ErrorInfo.reason from the sidecar ("SESSION_FENCED", "ETAG_MISMATCH", …); undefined when it sent none. */
  readonly reason: string | undefined;
  /** Set when the client gave up without the sidecar refusing this very update. */
  readonly local: LocalFailure | undefined;

  private constructor(
    readonly conversationId: string,
    readonly seq: bigint,
    code: GrpcCode,
    message: string,
    metadata: Metadata,
    local: LocalFailure | undefined,
  ) {
    super(`${GrpcCode[code] ?? code}: ${message}`);
    this.name = "UpdateError";
    this.code = code;
    this.details = message;
    this.metadata = metadata;
    this.local = local;
    this.reason = errorReasonOf(this);
  }

  /** The sidecar refused the update: the ack's error, as UpdateSession would have failed. */
  static fromAck(ack: UpdateAck & { error: Status }): UpdateError {
    return new UpdateError(ack.conversationId, ack.seq, ack.error.code, ack.error.message, metadataOf(ack.error), undefined);
  }

  /**
   * The session stopped (fenced or ended) before this update was written or
   * acknowledged; carries the refusal's code and details. seq is 0 for a
   * write refused before it was given one.
   */
  static stopped(conversationId: string, seq: bigint, cause: UpdateError): UpdateError {
    const message = `not written: an earlier update of this session was refused (${cause.reason ?? GrpcCode[cause.code]}): ${cause.details}`;
    return new UpdateError(conversationId, seq, cause.code, message, cause.metadata, "SESSION_STOPPED");
  }

  /** The client gave up on the update; `status` says why (the stream's final status, or a close timeout). */
  static abandoned(conversationId: string, seq: bigint, status: Omit<StatusObject, "metadata"> & { metadata?: Metadata }, local: LocalFailure): UpdateError {
    return new UpdateError(conversationId, seq, status.code, status.details, status.metadata ?? new Metadata(), local);
  }
}

function metadataOf(status: Status): Metadata {
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  return metadata;
}
